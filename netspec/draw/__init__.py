"""Pictures of a checked net: SVG laid out by netspec itself, DOT for Graphviz, and the pages
(`netspec report`, `netspec view`) built around them.

scene.py decides what is shown (boxes, folded in-place layers, shapes on arrows, diagnostics,
collapsed blocks), layout.py where, svg.py and dot.py how it is written.
"""

from __future__ import annotations

from netspec.draw.dot import to_dot
from netspec.draw.scene import Scene, build
from netspec.draw.svg import to_svg

__all__ = ["Scene", "build", "to_dot", "to_svg"]
