"""The public flow, one call per stage: load -> check -> compile -> run."""

from __future__ import annotations

from dataclasses import dataclass

from netspec.diagnostics import Diagnostics
from netspec.frontend.load import Spec, load_text, resolve
from netspec.frontend.select import TEST, layer_included, net_state
from netspec.infer import Analysis, infer
from netspec.ir import Net, build
from netspec.layers.base import Shape


@dataclass
class Checked:
    spec: Spec
    net: Net | None
    analysis: Analysis | None

    @property
    def diagnostics(self) -> Diagnostics:
        return self.spec.diagnostics


def load(path: str, content: str | None = None) -> Spec:
    """Read a .prototxt (or `zoo:NAME`) into its V2 NetParameter, with diagnostics."""
    return load_text(resolve(path), content)


def select(
    spec: Spec, *, phase: int = TEST, level: int | None = None, stages: list[str] | None = None
) -> Net:
    """The IR of the layers the NetState selects (TEST, the deploy phase, by default)."""
    if spec.test_state is not None and phase == TEST and stages is None and level is None:
        stages, level = list(spec.test_state.stage), spec.test_state.level
        spec.diagnostics.info(
            "NS0004",
            "testing in the solver's first test_state" + (f" (stage {', '.join(stages)})" if stages else ""),
        )
    state = net_state(spec.param, phase, level, stages)
    keep = [i for i, layer in enumerate(spec.param.layer) if layer_included(layer, state)]
    return build(spec.param, keep, spec.source_map, spec.diagnostics)


def check(
    path: str,
    *,
    content: str | None = None,
    phase: int = TEST,
    level: int | None = None,
    stages: list[str] | None = None,
    inputs: dict[str, Shape] | None = None,
    batch: int | None = None,
) -> Checked:
    """Load, select and shape-check a spec; every problem found is in `.diagnostics`."""
    spec = load(path, content)
    if any(d.code in ("NS0101", "NS0102", "NS0001") for d in spec.diagnostics.errors):
        return Checked(spec, None, None)
    net = select(spec, phase=phase, level=level, stages=stages)
    analysis = infer(net, spec.diagnostics, inputs=inputs, batch=batch, phase=phase)
    return Checked(spec, net, analysis)
