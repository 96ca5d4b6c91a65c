"""Compiling part of a net: the blobs a user names as the model's outputs (`--outputs`), and the
layers needed to compute them.

A name means the blob's latest value, as Caffe keeps it: after `conv1` and an in-place ReLU on
it, `conv1` is the ReLU's output.  Everything else the net computes is left out, so a net can be
compiled up to a layer that does not compile (SSD's DetectionOutput with `share_location: false`)
or stopped at any intermediate value to look at it.
"""

from __future__ import annotations

import difflib

from netspec.diagnostics import Diagnostics
from netspec.ir import Blob, Layer, Net
from netspec.layers import REGISTRY


def resolve(net: Net, names: list[str], diagnostics: Diagnostics) -> list[Blob] | None:
    """The latest value of each named blob, in order; None when a name cannot be an output
    (each such name is an NS0404 with its reason).  An input may be an output: it passes through."""
    latest: dict[str, Blob] = {}
    for blob in net.blobs.values():
        latest[blob.name] = blob
    chosen: list[Blob] = []
    for name in names:
        blob = latest.get(name)
        problem, hint = None, None
        if blob is None:
            problem = f"--outputs {name}: the net has no blob '{name}'"
            near = difflib.get_close_matches(name, list(latest), n=3, cutoff=0.5)
            hint = (
                "did you mean " + " or ".join(f"'{n}'" for n in near) + "?"
                if near
                else "name tops of the net's layers (netspec summary lists them)"
            )
        elif blob in chosen:
            problem, hint = f"--outputs names '{name}' twice", "name each blob once"
        else:
            kind = REGISTRY.get(blob.producer.type) if blob.producer else None
            if kind is not None and not kind.source and not kind.deploy:
                problem = (
                    f"--outputs {name}: '{name}' is computed only by the training layer "
                    f"'{blob.producer.name}' ({blob.producer.type}), which the inference graph leaves out"
                )
                hint = "name a blob that a deploy layer computes"
        if problem:
            diagnostics.error("NS0404", problem, help=hint)
        else:
            chosen.append(blob)
    return chosen if len(chosen) == len(names) else None


def needed(blobs: list[Blob]) -> set[Layer]:
    """The layers whose outputs `blobs` depend on, their producers included."""
    layers: set[Layer] = set()
    stack = [b.producer for b in blobs if b.producer is not None]
    while stack:
        layer = stack.pop()
        if layer in layers:
            continue
        layers.add(layer)
        stack.extend(b.producer for b in layer.bottoms if b.producer is not None)
    return layers
