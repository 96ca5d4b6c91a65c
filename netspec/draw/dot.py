"""A scene as Graphviz DOT, for `--engine dot` and for people who lay nets out with Graphviz."""

from __future__ import annotations

from netspec.draw.scene import Node, Scene
from netspec.draw.svg import COLOURS, MARKS, OTHER


def _quote(text: str) -> str:
    """A DOT string: quotes and backslashes escaped, lines joined by DOT's centred newline."""
    return '"' + "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in text.split("\n")) + '"'


def _attributes(node: Node) -> str:
    lines = [
        node.title,
        f"{node.type}  {node.detail}".strip(),
        " · ".join(t for t in (node.shapes, node.cost) if t),
    ]
    if node.tags:
        lines.append(" + ".join(t.type for t in node.tags))
    style = "rounded,filled,dashed" if node.unknown else "rounded,filled"
    fill = "#ffffff" if node.unknown else COLOURS.get(node.family, OTHER)
    colour = MARKS.get(node.severity, "#666666")
    return f'label={_quote(chr(10).join(lines))}, style="{style}", fillcolor="{fill}", color="{colour}"'


def to_dot(scene: Scene, *, direction: str = "TB") -> str:
    """The DOT text of a scene; `direction` TB (top to bottom) or LR (left to right)."""
    out = [
        f"digraph {_quote(scene.name)} {{",
        f"  rankdir={direction};",
        '  node [shape=box, fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
    ]
    out += [f"  {node.key} [{_attributes(node)}];" for node in scene.nodes]
    out += [f"  {e.source} -> {e.target} [label={_quote(e.label)}];" for e in scene.edges]
    out.append("}")
    return "\n".join(out) + "\n"
