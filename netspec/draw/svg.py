"""A scene as SVG, laid out by netspec itself: needs nothing but Python.

The picture is standalone (colours as attributes, no stylesheet needed) and also the live page's
picture: every box is a `<g class="node" data-layer=...>`, every folded layer a
`<g class="tag" data-layer=...>`, so a page can find and highlight them.
"""

from __future__ import annotations

from collections import Counter
from html import escape

from netspec.diagnostics import Severity
from netspec.draw.layout import Layout, Point, layout
from netspec.draw.scene import Node, Scene

FONT = "DejaVu Sans, Verdana, Helvetica, Arial, sans-serif"
COLOURS = {  # by family: what a layer does
    "data": "#ffffff",
    "convolution": "#cfe2f3",
    "pooling": "#d9ead3",
    "activation": "#fce5cd",
    "normalization": "#fff2cc",
    "dense": "#d9d2e9",
    "recurrent": "#ead1dc",
    "resize": "#d0e0e3",
    "layout": "#eeeeee",
    "structure": "#e8e8e8",
    "detection": "#f9cb9c",
    "decoding": "#e6d5c3",
    "loss": "#f4cccc",
    "metric": "#f4cccc",
    "sink": "#ffffff",
    "block": "#e3ecf7",  # a collapsed run of blocks
}
OTHER = "#f3f3f3"
MARKS = {Severity.ERROR: "#cc0000", Severity.WARNING: "#b45f06"}
LINE, PAD, TAG_HEIGHT, MARGIN = 15, 8, 17, 16


def text_width(text: str, size: float, bold: bool = False) -> float:
    """A generous estimate of a line's width in a sans-serif font (DejaVu Sans is wide)."""
    narrow = sum(c in "ijl.,:;|!' ()[]/-" for c in text)
    return size * ((0.74 if bold else 0.64) * (len(text) - narrow) + 0.36 * narrow)


def _lines(node: Node) -> list[tuple[str, float, bool]]:
    """The box's lines: (text, font size, bold)."""
    second = f"{node.type}  {node.detail}".strip()
    third = " · ".join(t for t in (node.shapes, node.cost) if t)
    return [(node.title, 12, True), (second, 11, False), (third, 11, False)]


def _tag_widths(node: Node) -> list[float]:
    return [text_width(t.type, 10) + 10 for t in node.tags]


def box_size(node: Node) -> tuple[float, float]:
    tags = _tag_widths(node)
    width = max([text_width(t, s, b) for t, s, b in _lines(node)] + [sum(tags) + 4 * len(tags)])
    return max(width + 2 * PAD, 110.0), 3 * LINE + 2 * PAD - 2 + (TAG_HEIGHT + 3 if tags else 0)


def _box(node: Node, cx: float, cy: float, w: float, h: float) -> list[str]:
    x, y = cx - w / 2, cy - h / 2
    stroke = MARKS.get(node.severity, "#666666")
    dash = ' stroke-dasharray="5 3"' if node.unknown else ""
    fill = "#ffffff" if node.unknown else COLOURS.get(node.family, OTHER)
    classes = f"node family-{node.family.replace(' ', '-')}"
    if node.severity is not None:
        classes += f" {node.severity}"
    block = f' data-block="{node.key}"' if node.blocks else ""
    out = [
        f'<g class="{classes}" id="{node.key}" data-layer="{escape(node.layers[0])}"{block}>',
        f"<title>{escape(node.title)} ({escape(node.type)})</title>",
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" fill="{fill}" '
        f'stroke="{stroke}" stroke-width="{2 if node.severity else 1}"{dash}/>',
    ]
    if node.blocks:  # a stack of cards: the run it stands for
        out.insert(
            2,
            f'<rect x="{x + 4:.1f}" y="{y + 4:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" '
            f'fill="{fill}" stroke="{stroke}"/>',
        )
    ty = y + PAD + 10
    for text, size, bold in _lines(node):
        weight = ' font-weight="bold"' if bold else ""
        out.append(f'<text x="{x + PAD:.1f}" y="{ty:.1f}" font-size="{size}"{weight}>{escape(text)}</text>')
        ty += LINE
    tx = x + PAD
    for tag, tw in zip(node.tags, _tag_widths(node)):
        tag_stroke = MARKS.get(tag.severity, "#888888")
        out.append(
            f'<g class="tag" data-layer="{escape(tag.layer)}">'
            f"<title>{escape(tag.layer)} ({escape(tag.type)}, in place)</title>"
            f'<rect x="{tx:.1f}" y="{ty - 9:.1f}" width="{tw:.1f}" height="{TAG_HEIGHT - 3}" '
            f'rx="7" fill="{COLOURS.get(tag.family, OTHER)}" stroke="{tag_stroke}"/>'
            f'<text x="{tx + 5:.1f}" y="{ty + 2:.1f}" font-size="10">{escape(tag.type)}</text></g>'
        )
        tx += tw + 4
    if node.severity is not None:
        colour, said = MARKS[node.severity], escape("\n".join(node.notes))
        out.append(
            f'<g class="mark"><title>{said}</title>'
            f'<circle cx="{x + w:.1f}" cy="{y:.1f}" r="8" fill="{colour}"/>'
            f'<text x="{x + w:.1f}" y="{y + 4:.1f}" font-size="12" font-weight="bold" fill="#ffffff" '
            f'text-anchor="middle">!</text></g>'
        )
    out.append("</g>")
    return out


def _path(points: list[Point], flip) -> str:
    """Straight where it can be, smooth where it bends: cubic pieces with tangents along the ranks'
    direction."""
    (x0, y0), parts = points[0], []
    for x1, y1 in points[1:]:
        mid = (y0 + y1) / 2
        pieces = [flip(x0, mid), flip(x1, mid), flip(x1, y1)]
        parts.append("C" + " ".join(f"{a:.1f},{b:.1f}" for a, b in pieces))
        x0, y0 = x1, y1
    start = flip(*points[0])
    return f"M{start[0]:.1f},{start[1]:.1f}" + "".join(parts)


def _labels(scene: Scene, routes: list[list[Point]], flip, rank_gap: float, across: bool) -> list[str]:
    """Each blob's shape once, where it leaves its box.  Top to bottom: the box's leftmost blob left of
    its leftmost arrow when the box has more to say (several blobs, or one read by several layers),
    the others right of theirs, stacked, so that no two labels meet; left to right: above the arrow."""
    leftmost: dict[tuple[str, str], Point] = {}
    for edge, route in zip(scene.edges, routes):
        key = edge.source, edge.blob
        if key not in leftmost or route[0][0] < leftmost[key][0]:
            leftmost[key] = route[0]
    readers = Counter((e.source, e.blob) for e in scene.edges)
    said = {(e.source, e.blob): e.label for e in scene.edges}
    by_box: dict[str, list[tuple[Point, str]]] = {}
    for (source, blob), start in leftmost.items():
        by_box.setdefault(source, []).append((start, blob))
    out = []
    for source, starts in by_box.items():
        starts.sort()
        right = 0
        for i, ((x0, y0), blob) in enumerate(starts):
            x, y = flip(x0, y0 + (rank_gap / 2 if across else 12))
            if across:
                anchor, x, y = "middle", x, y - 4
            elif i == 0 and (len(starts) > 1 or readers[source, blob] > 1):
                anchor, x, y = "end", x - 6, y + 4
            else:
                anchor, x, y = "start", x + 5, y + 4 + 11 * right
                right += 1
            out.append(
                f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">'
                f"<title>{escape(blob)}</title>{escape(said[source, blob])}</text>"
            )
    return out


def to_svg(scene: Scene, *, direction: str = "TB") -> str:
    """The SVG text of a scene; `direction` TB (top to bottom) or LR (left to right)."""
    across = direction == "LR"
    sizes = [box_size(n) for n in scene.nodes]
    index = {n.key: i for i, n in enumerate(scene.nodes)}
    links = [(index[e.source], index[e.target]) for e in scene.edges]
    label_room = max((text_width(e.label, 10) for e in scene.edges), default=0.0)
    rank_gap = label_room + 24 if across else 38
    placed: Layout = layout(
        [(h, w) for w, h in sizes] if across else sizes, links, rank_gap=rank_gap, gap=24 if across else 28
    )

    def flip(x: float, y: float) -> Point:
        return (y + MARGIN, x + MARGIN) if across else (x + MARGIN, y + MARGIN)

    width, height = (placed.height, placed.width) if across else (placed.width, placed.height)
    full_width, full_height = width + 2 * MARGIN, height + 2 * MARGIN
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="netspec-net" width="{full_width:.0f}" '
        f'height="{full_height:.0f}" viewBox="0 0 {full_width:.0f} {full_height:.0f}" font-family="{FONT}">',
        f"<title>{escape(scene.name)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#555555"/></marker></defs>',
        '<rect width="100%" height="100%" fill="#ffffff"/>',
        '<g class="edges" fill="none" stroke="#555555" stroke-width="1.2">',
    ]
    for edge, route in zip(scene.edges, placed.routes):
        out.append(
            f'<path d="{_path(route, flip)}" marker-end="url(#arrow)" data-from="{edge.source}" '
            f'data-to="{edge.target}"/>'
        )
    out.append("</g>")
    out.append(
        '<g class="labels" font-size="10" fill="#333333" stroke="#ffffff" stroke-width="3" '
        'paint-order="stroke">'
    )
    out += _labels(scene, placed.routes, flip, rank_gap, across)
    out.append("</g>")
    out.append('<g class="nodes" fill="#111111">')
    for node, (w, h), centre in zip(scene.nodes, sizes, placed.centres):
        out += _box(node, *flip(*centre), w, h)
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
