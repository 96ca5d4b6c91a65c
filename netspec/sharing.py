"""Parameters shared by name (ParamSpec.name), as Caffe's Net::AppendParam shares them.

The first layer to name a parameter owns its blob; every later layer that names it
uses the owner's memory (ShareData), after Caffe has checked the shapes agree: all dims
(share_mode STRICT, the default) or only the count (PERMISSIVE).  Siamese and
multi-branch nets share weights this way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netspec.layers.base import count, shape_text
from netspec.proto import caffe_pb2

if TYPE_CHECKING:
    from netspec.diagnostics import Diagnostics
    from netspec.infer import Analysis

Key = tuple[int, int]  # (index of the layer in analysis.layers, index of its blob)


def owners(analysis: Analysis) -> dict[Key, Key]:
    """Every shared blob's owner: the first blob of the net that names the same parameter."""
    first: dict[str, Key] = {}
    shared: dict[Key, Key] = {}
    for i, info in enumerate(analysis.layers):
        specs = info.layer.param.param
        for k in range(min(len(info.weights), len(specs))):
            name = specs[k].name
            if not name:
                continue
            if name in first:
                shared[(i, k)] = first[name]
            else:
                first[name] = (i, k)
    return shared


def check(analysis: Analysis, diagnostics: Diagnostics) -> None:
    """Caffe's CHECKs on a shared blob's shape against its owner's (NS0204)."""
    net = analysis.net
    for (i, k), (o, j) in owners(analysis).items():
        info, owner = analysis.layers[i], analysis.layers[o]
        if info.provisional or owner.provisional:
            continue  # shaped with a default while a field is typed: its own error says what is wrong
        mine, theirs = info.weights[k].shape, owner.weights[j].shape
        spec = info.layer.param.param[k]
        permissive = spec.share_mode == caffe_pb2.ParamSpec.PERMISSIVE
        if (count(mine) == count(theirs)) if permissive else (mine == theirs):
            continue
        diagnostics.error(
            "NS0204",
            f"layer '{info.layer.name}' shares parameter '{spec.name}' with layer '{owner.layer.name}', "
            f"but its {info.weights[k].name} is {shape_text(mine)} and the owner's is {shape_text(theirs)}"
            + ("" if permissive else " (share_mode STRICT compares every dim)"),
            net.source_map.span(info.layer.path + ("param", k, "name"), value=True),
            help="give the layers matching shapes, or another parameter name to stop sharing"
            + (
                ""
                if permissive or count(mine) != count(theirs)
                else "; share_mode: PERMISSIVE compares counts"
            ),
            layer=info.layer.name,
        )
