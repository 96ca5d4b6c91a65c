"""What a designer reads after a check: per-layer shapes and costs, and the totals.

One record per layer (`layer_records`) and one totals object feed every
format: the aligned table a person reads, JSON and CSV for tools.
"""

from __future__ import annotations

from netspec.infer import Analysis, LayerInfo
from netspec.layers.base import shape_text

APPROXIMATE = (
    "~: after a resize (Interp, Upsample, a deconvolution) a receptive field is not a whole number of "
    "input pixels; shown rounded"
)


def _pixels(x: float) -> str:
    """A whole number of pixels as it is; a fraction (after a resize) rounded, marked ~."""
    return f"{x:g}" if float(x).is_integer() else f"~{x:.3g}"


def receptive_field_text(info: LayerInfo) -> str:
    """ "11 /4": size and stride in input pixels, one number where every spatial axis agrees;
    "~975 /~8.14" after a resize, where they are fractions (APPROXIMATE)."""
    if not info.receptive:
        return ""
    sizes = [_pixels(s) for s, _ in info.receptive]
    strides = [_pixels(j) for _, j in info.receptive]
    size = sizes[0] if len(set(sizes)) == 1 else "x".join(sizes)
    stride = strides[0] if len(set(strides)) == 1 else "x".join(strides)
    return f"{size} /{stride}"


def layer_records(analysis: Analysis) -> list[dict]:
    records = []
    for info in analysis.layers:
        records.append(
            {
                "name": info.layer.name,
                "type": info.layer.type,
                "bottoms": [b.name for b in info.layer.bottoms],
                "tops": [t.name for t in info.layer.tops],
                "shapes": [list(s) if s is not None else None for s in info.tops],
                "params": info.params,
                "buffers": info.buffers,
                "macs": info.macs,
                "memory_bytes": info.memory,
                "receptive_field": [{"size": s, "stride": j} for s, j in info.receptive]
                if info.receptive
                else None,
            }
        )
    return records


def human(n: float, unit: str = "") -> str:
    """1234567 -> '1.23 M'; bytes get binary prefixes."""
    if unit == "B":
        for prefix in ("B", "KiB", "MiB", "GiB", "TiB"):
            if abs(n) < 1024 or prefix == "TiB":
                return f"{n:.0f} {prefix}" if prefix == "B" else f"{n:.1f} {prefix}"
            n /= 1024
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {prefix}{unit}"
    return f"{n:.0f}{(' ' + unit) if unit else ''}"


def table(analysis: Analysis) -> str:
    headers = ["layer", "type", "output", "params", "MACs", "memory", "receptive field"]
    rows = []
    for info in analysis.layers:
        rows.append(
            [
                info.layer.name,
                info.layer.type,
                ", ".join(shape_text(s) for s in info.tops) or "-",
                f"{info.params:,}" + (f" (+{info.buffers:,})" if info.buffers else "")
                if info.weights
                else "",
                f"{info.macs:,}" if info.macs else "",
                human(info.memory, "B") if info.memory else "",
                receptive_field_text(info),
            ]
        )
    right = {3, 4, 5}
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        )

    out = [line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]
    if any("~" in r[-1] for r in rows):
        out.append(APPROXIMATE)
    out.append("")
    out.extend(totals_lines(analysis))
    return "\n".join(s.rstrip() for s in out)


def totals_lines(analysis: Analysis) -> list[str]:
    t = analysis.totals
    batch = next(
        (s[0] for i in analysis.layers if i.kind is not None and i.kind.source for s in i.tops if s), 1
    )
    lines = [
        f"parameters      {t['params']:,} ({human(t['param_bytes'], 'B')} as float32)"
        + (f"; buffers {t['buffers']:,} (BatchNorm statistics, not learned)" if t["buffers"] else ""),
        f"multiply-adds   {t['macs']:,} ({human(t['macs'])}) at batch {batch}",
        f"activations     {human(t['activation_bytes'], 'B')} in all, "
        f"peak {human(t['peak_activation_bytes'], 'B')} alive at once",
    ]
    if t["params"]:
        lines.append(
            f"parameter share fully connected {t['fc_share']:.1%}, convolution {t['conv_share']:.1%}"
        )
    return lines


def to_json(analysis: Analysis, diagnostics=None, *, file: str | None = None) -> str:
    doc = {"file": file, "layers": layer_records(analysis), "totals": analysis.totals}
    if diagnostics is not None:
        doc["diagnostics"] = [d.to_json() for d in diagnostics]
    import json

    return json.dumps(doc, indent=2)


def to_csv(analysis: Analysis) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["name", "type", "output", "params", "buffers", "macs", "memory_bytes", "receptive_field"]
    )
    for record, info in zip(layer_records(analysis), analysis.layers):
        writer.writerow(
            [
                record["name"],
                record["type"],
                ";".join(shape_text(s) for s in info.tops),
                record["params"],
                record["buffers"],
                record["macs"],
                record["memory_bytes"],
                receptive_field_text(info),
            ]
        )
    return buffer.getvalue()
