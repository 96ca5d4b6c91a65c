"""NS0109: a `*_param` block that the layer's type never reads.

Caffe builds every layer from the whole LayerParameter and each type reads only its own blocks,
so `pooling_param` on a Convolution, or `normalize_bbox_param` on a Normalize, is parsed and then
silently ignored: the layer runs with its defaults.  Which blocks a type reads is the registry's
word (LayerType.reads); a type netspec does not know, or a layer stubbed by --stub, is not judged.
A lint (`blocks`), since a design may carry such a block on purpose (a fork's reader)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netspec.layers import REGISTRY

if TYPE_CHECKING:
    from netspec.diagnostics import Diagnostics
    from netspec.infer import Analysis


def report_unread_blocks(analysis: Analysis, diagnostics: Diagnostics) -> None:
    source_map = analysis.net.source_map
    refused = {(d.span.file, d.span.line, d.span.column) for d in diagnostics.errors if d.span}
    for info in analysis.layers:
        layer = info.layer
        kind = REGISTRY.get(layer.type)
        if kind is None or info.kind is not kind or layer.path in source_map.faulty:
            continue
        written = [f.name for f, _ in layer.param.ListFields() if f.name.endswith("_param")]
        spans = {block: source_map.span(layer.path + (block,)) for block in written}
        for block in sorted(written, key=lambda b: (spans[b].line, spans[b].column) if spans[b] else (0, 0)):
            if block in kind.reads:
                continue
            span = spans[block]
            if span is not None and (span.file, span.line, span.column) in refused:
                continue  # an error already says what is wrong with it (HDF5Data's transform_param)
            diagnostics.warning(
                "NS0109",
                f"{layer.name}: {layer.type} does not read {block}; Caffe ignores the block",
                span,
                help=_help(kind.type, kind.reads, block, written),
                notes=_owners(block),
                layer=layer.name,
                lint="blocks",
            )


def _owners(block: str) -> list[str]:
    """A note naming the types whose own block it is (pooling_param: Pooling's), where a few are:
    the layer may have the wrong type rather than the wrong block."""
    owners = sorted(name for name in REGISTRY if REGISTRY[name].param == block)
    if not 1 <= len(owners) <= 4:
        return []
    return [f"{block} is read by {_listed(owners)} layers"]


def _help(type_name: str, reads: tuple[str, ...], block: str, written: list[str]) -> str:
    """The block(s) the type reads, and the one the user likely meant where it is not written."""
    if not reads:
        return f"remove it: {type_name} reads no *_param block"
    listed = _listed(reads)
    missing = [r for r in reads if r not in written]
    if not missing:
        return f"remove it: {type_name} reads {listed}, given beside it"
    if len(reads) == 1:
        return f"{type_name} reads {listed}; did you mean it?"
    import difflib  # here, not at the top: a file without such a block never asks

    guess = max(
        missing, key=lambda r: (_shared_fields(block, r), difflib.SequenceMatcher(None, block, r).ratio())
    )
    return f"{type_name} reads {listed}; did you mean {guess}?"


def _shared_fields(block: str, other: str) -> int:
    """How many field names the two blocks' messages share: normalize_bbox_param on a Normalize is
    norm_param's fields under the SSD port's first name, not the fork's normalize_param."""
    from netspec.proto import caffe_pb2

    fields = caffe_pb2.LayerParameter.DESCRIPTOR.fields_by_name
    names = [
        {f.name for f in fields[b].message_type.fields} if b in fields else set() for b in (block, other)
    ]
    return len(names[0] & names[1])


def _listed(names: list[str] | tuple[str, ...]) -> str:
    """a, b and c."""
    return " and ".join(names) if len(names) <= 2 else ", ".join(names[:-1]) + f" and {names[-1]}"
