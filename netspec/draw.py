"""A checked net as a Graphviz DOT picture: one box per layer, one arrow per blob read.

Each box names the layer, its type, its output shape(s) and its learnable parameters, filled by
layer family; a layer whose outputs the checker could not know (an error above it, or in it) is
drawn dashed in red.  An arrow is labelled with its blob's name where that is not the name of the
layer it comes from.  `dot -Tsvg net.dot` renders
it; `netspec draw -o net.svg` does so itself where Graphviz is installed.
"""

from __future__ import annotations

from netspec.infer import Analysis, LayerInfo
from netspec.layers.base import shape_text
from netspec.summary import human

FAMILY_COLOURS = {
    "conv": "#cfe2f3",
    "pool": "#d9ead3",
    "norm": "#fff2cc",
    "activation": "#fce5cd",
    "dense": "#d9d2e9",
    "data": "#ffffff",
    "loss": "#f4cccc",
}
OTHER_COLOUR = "#eeeeee"


def _quote(text: str) -> str:
    """A DOT string: quotes and backslashes escaped, lines joined by DOT's centred newline."""
    return '"' + "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in text.split("\n")) + '"'


def _box(info: LayerInfo) -> str:
    lines = [info.layer.name, info.layer.type]
    lines += [shape_text(s) if s is not None else "?" for s in info.tops]
    if info.params:
        lines.append(f"{human(info.params)} params")
    family = info.kind.__module__.rsplit(".", 1)[-1] if info.kind else ""
    style = f'style="rounded,filled", fillcolor="{FAMILY_COLOURS.get(family, OTHER_COLOUR)}"'
    if info.kind is None or any(s is None for s in info.tops):
        style = 'style="rounded,filled,dashed", fillcolor="#ffffff", color="#cc0000"'
    return f"label={_quote(chr(10).join(lines))}, {style}"


def to_dot(analysis: Analysis, *, direction: str = "TB") -> str:
    """The DOT text of the net; `direction` TB (top to bottom) or LR (left to right)."""
    net = analysis.net
    ids = {id(info.layer): f"L{i}" for i, info in enumerate(analysis.layers)}
    out = [
        f"digraph {_quote(net.name or 'net')} {{",
        f"  rankdir={direction};",
        '  node [shape=box, fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
    ]
    out += [f"  {ids[id(info.layer)]} [{_box(info)}];" for info in analysis.layers]
    for info in analysis.layers:
        for blob in info.layer.bottoms:
            if blob.producer is None or id(blob.producer) not in ids:
                continue
            edge = f"  {ids[id(blob.producer)]} -> {ids[id(info.layer)]}"
            named = blob.name != blob.producer.name  # the box above already says the layer's name
            out.append(f"{edge} [label={_quote(blob.name)}];" if named else f"{edge};")
    out.append("}")
    return "\n".join(out) + "\n"
