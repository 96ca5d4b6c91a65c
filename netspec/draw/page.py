"""One self-contained HTML page of a checked net: `netspec report`, `netspec draw -o net.html` and
the page `netspec view` serves.

Everything is inline (style, script, picture, images as data URIs), so the page opens offline and
fetches nothing.  The page is made of sections (picture, diagnostics, charts, table, weights);
`netspec view` sends the same sections again, as JSON, whenever the file changes.
"""

from __future__ import annotations

import json
from html import escape
from importlib import resources

from netspec.diagnostics import Severity, render
from netspec.draw import scene as scenes
from netspec.draw.source import layer_lines
from netspec.draw.svg import COLOURS, OTHER, to_svg
from netspec.layers.base import shape_text
from netspec.pipeline import Checked
from netspec.summary import human, receptive_field_text

SAID = {"dense": "fully connected"}  # a family as a chart's legend says it


def _asset(name: str) -> str:
    return resources.files("netspec.draw").joinpath(name).read_text(encoding="utf-8")


def _number(n: int) -> str:
    return f"{n:,}" if n else ""


def layer_data(checked: Checked, scene: scenes.Scene) -> dict:
    """What the page shows when a layer or a diagnostic is clicked, as JSON-ready values."""
    analysis = checked.analysis
    source = analysis.net.source_map.source
    lines = layer_lines(analysis.net)
    box = {name: node.key for node in scene.nodes for name in node.layers}
    layers = {}
    for info in analysis.layers:
        layer = info.layer
        first, last = lines.get(layer.name, (0, 0))
        layers[layer.name] = {
            "name": layer.name,
            "type": layer.type,
            "node": box.get(layer.name),
            "parameters": scenes.key_parameters(info),
            "bottoms": [[b.name, shape_text(analysis.shape(b))] for b in layer.bottoms],
            "tops": [[t.name, shape_text(s)] for t, s in zip(layer.tops, info.tops)],
            "params": info.params,
            "buffers": info.buffers,
            "macs": info.macs,
            "memory": human(info.memory, "B") if info.memory else "",
            "receptive_field": receptive_field_text(info),
            "first_line": first,
            "source": [source.line_text(n) for n in range(first, last + 1)] if source and first else [],
        }
    infos = {info.layer.name: info for info in analysis.layers}
    blocks = {
        node.key: {
            "name": node.title,
            "count": node.blocks,
            "reads": node.detail.removeprefix("in "),
            "writes": node.shapes,
            "params": sum(infos[name].params for name in node.layers),
            "macs": sum(infos[name].macs for name in node.layers),
            "layers": node.layers,
        }
        for node in scene.nodes
        if node.blocks
    }
    found = scenes.layer_diagnostics(analysis)
    about = {id(d): name for name, ds in found.items() for d in ds}
    diagnostics = [
        {
            "severity": str(d.severity),
            "code": d.code,
            "layer": about.get(id(d)),
            "text": render(d, checked.spec.sources),
        }
        for d in _shown(checked)
    ]
    return {"layers": layers, "blocks": blocks, "diagnostics": diagnostics}


def _shown(checked: Checked) -> list:
    shown = [d for d in checked.diagnostics if d.severity is not Severity.INFO]
    return sorted(shown, key=lambda d: (d.span.line if d.span else 0, -int(d.severity)))


def _totals(checked: Checked) -> str:
    if checked.analysis is None:
        return ""
    t = checked.analysis.totals
    errors = sum(d.severity is Severity.ERROR for d in checked.diagnostics)
    warnings = sum(d.severity is Severity.WARNING for d in checked.diagnostics)
    layers = checked.analysis.layers
    unshaped = sum(any(shape is None for shape in info.tops) for info in layers)
    costs = (
        f"{unshaped:,} not shaped, so the parameters and multiply-adds are not known"
        if unshaped  # their sums would leave those layers out: not 0, unknown
        else f"{t['params']:,} parameters · {t['macs']:,} multiply-adds · "
        f"peak activations {human(t['peak_activation_bytes'], 'B')}"
    )
    return (
        f"{len(layers):,} layers · {costs} · "
        f"{errors:,} error{'s' * (errors != 1)}, {warnings:,} warning{'s' * (warnings != 1)}"
    )


def _legend(scene: scenes.Scene) -> str:
    """The colours the picture uses, and what each says the layer does."""
    present = dict.fromkeys(f for n in scene.nodes for f in (n.family, *(t.family for t in n.tags)))
    items = [
        f'<li><i style="background:{COLOURS.get(f, OTHER)}"></i>{escape(SAID.get(f, f))}</li>'
        for f in present
    ]
    if any(n.unknown for n in scene.nodes):
        items.append('<li><i class="unknown"></i>dashed: the checker could not shape it</li>')
    return f'<ul class="legend">{"".join(items)}</ul>'


def _diagnostics(checked: Checked, data: dict) -> str:
    if not data["diagnostics"]:
        return '<p class="none">No errors or warnings.</p>'
    items = [
        f'<li class="diagnostic {d["severity"]}" data-index="{i}"'
        + (f' data-layer="{escape(d["layer"])}"' if d["layer"] else "")
        + f"><pre>{escape(d['text'])}</pre></li>"
        for i, d in enumerate(data["diagnostics"])
    ]
    return '<ol class="diagnostics">' + "".join(items) + "</ol>"


def _share_bar(title: str, by_family: dict[str, int]) -> str:
    total = sum(by_family.values())
    if not total:
        return ""
    parts, legend = [], []
    for fam, value in sorted(by_family.items(), key=lambda kv: -kv[1]):
        share = value / total
        colour = COLOURS.get(fam, OTHER)
        parts.append(
            f'<span style="width:{share * 100:.2f}%;background:{colour}" '
            f'title="{escape(fam)}: {value:,}"></span>'
        )
        if share >= 0.005:
            legend.append(
                f'<li><i style="background:{colour}"></i>{escape(SAID.get(fam, fam))} {share:.1%}</li>'
            )
    return (
        f'<div class="share"><h3>{escape(title)}: {total:,}</h3><div class="bar">{"".join(parts)}</div>'
        f'<ul class="legend">{"".join(legend)}</ul></div>'
    )


def _charts(checked: Checked) -> str:
    """Where the parameters and the multiply-adds sit: by family at a glance, then layer by layer."""
    infos = [i for i in checked.analysis.layers if i.params or i.macs]
    if not infos:
        return ""
    params: dict[str, int] = {}
    macs: dict[str, int] = {}
    for info in infos:
        fam = scenes.family(info.kind)
        params[fam] = params.get(fam, 0) + info.params
        macs[fam] = macs.get(fam, 0) + info.macs
    top_params = max(i.params for i in infos) or 1
    top_macs = max(i.macs for i in infos) or 1
    rows = []
    for info in infos:
        colour = COLOURS.get(scenes.family(info.kind), OTHER)
        rows.append(
            f'<tr data-layer="{escape(info.layer.name)}"><th>{escape(info.layer.name)}</th>'
            f'<td class="num">{_number(info.params)}</td><td class="bar"><span style="width:'
            f'{info.params / top_params * 100:.2f}%;background:{colour}"></span></td>'
            f'<td class="num">{_number(info.macs)}</td><td class="bar"><span style="width:'
            f'{info.macs / top_macs * 100:.2f}%;background:{colour}"></span></td></tr>'
        )
    return (
        '<section id="charts"><h2>Where the parameters and the multiply-adds are</h2>'
        + _share_bar("parameters", params)
        + _share_bar("multiply-adds", macs)
        + '<table class="chart"><thead><tr><th>layer</th><th colspan="2">parameters</th>'
        '<th colspan="2">multiply-adds</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table></section>"
    )


def _table(checked: Checked) -> str:
    rows = []
    for info in checked.analysis.layers:
        params = _number(info.params) + (f" (+{info.buffers:,})" if info.buffers else "")
        rows.append(
            f'<tr data-layer="{escape(info.layer.name)}"><td>{escape(info.layer.name)}</td>'
            f"<td>{escape(info.layer.type)}</td>"
            f"<td>{escape(', '.join(shape_text(s) for s in info.tops))}</td>"
            f'<td class="num">{params}</td><td class="num">{_number(info.macs)}</td>'
            f'<td class="num">{human(info.memory, "B") if info.memory else ""}</td>'
            f"<td>{escape(receptive_field_text(info))}</td></tr>"
        )
    return (
        '<section id="summary"><h2>Layers</h2><table class="summary"><thead><tr><th>layer</th><th>type</th>'
        "<th>output</th><th>parameters</th><th>multiply-adds</th><th>memory</th><th>receptive field</th>"
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></section>"
    )


def sections(checked: Checked, *, direction: str = "TB", collapse: bool = False, report: bool = True) -> dict:
    """The page's parts as HTML (and the click data as JSON-ready values)."""
    if checked.analysis is None:  # the text did not parse: only the diagnostics can be shown
        data = {"layers": {}, "blocks": {}, "diagnostics": []}
        data["diagnostics"] = [
            {
                "severity": str(d.severity),
                "code": d.code,
                "layer": None,
                "text": render(d, checked.spec.sources),
            }
            for d in _shown(checked)
        ]
        return {
            "totals": "",
            "picture": "",
            "diagnostics": _diagnostics(checked, data),
            "report": "",
            "data": data,
        }
    scene = scenes.build(checked.analysis, collapse=collapse)
    data = layer_data(checked, scene)
    return {
        "totals": f"<p>{escape(_totals(checked))}</p>{_legend(scene)}",
        "picture": to_svg(scene, direction=direction),
        "diagnostics": _diagnostics(checked, data),
        "report": _charts(checked) + _table(checked) if report else "",
        "data": data,
    }


def render_page(title: str, parts: dict, *, extra: str = "", live: bool = False) -> str:
    """The whole page around its sections; `live` pages poll the server that sent them."""
    data = json.dumps(parts["data"]).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · netspec</title>
<link rel="icon" href="data:,">
<style>{_asset("page.css")}</style>
</head><body data-live="{"1" if live else ""}">
<header><h1>{escape(title)}</h1><div id="totals">{parts["totals"]}</div></header>
<main>
<div id="picture">{parts["picture"]}</div>
<aside><section id="details"><p class="hint">Click a layer or a diagnostic.</p></section>
<section><h2>Diagnostics</h2><div id="diagnostics">{parts["diagnostics"]}</div></section></aside>
</main>
<div id="report">{parts["report"]}{extra}</div>
<script type="application/json" id="netspec-data">{data}</script>
<script>{_asset("page.js")}</script>
</body></html>
"""
