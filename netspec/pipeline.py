"""The public flow, one call per stage: load -> check -> compile -> run."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netspec.diagnostics import Diagnostics
from netspec.frontend.load import Spec, load_text, resolve
from netspec.frontend.select import TEST, layer_included, net_state
from netspec.infer import Analysis, infer
from netspec.ir import Net, build
from netspec.layers.base import Shape
from netspec.opsets import DEFAULT_OPSET

if TYPE_CHECKING:
    import numpy as np
    import onnx

    from netspec.lower import Lowered
    from netspec.stubs import StubRule


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
    stubs: dict[str, StubRule] | None = None,
) -> Checked:
    """Load, select and shape-check a spec; every problem found is in `.diagnostics`.  `stubs`
    (netspec.stubs) says how to treat layers by name or type: as identities, or of given shapes."""
    spec = load(path, content)
    if any(d.stops_check for d in spec.diagnostics.errors):
        return Checked(spec, None, None)
    net = select(spec, phase=phase, level=level, stages=stages)
    analysis = infer(net, spec.diagnostics, inputs=inputs, batch=batch, phase=phase, stubs=stubs)
    return Checked(spec, net, analysis)


def compile(checked: Checked, **options) -> onnx.ModelProto | None:
    """The ONNX model of a checked spec, which has passed ONNX's full check, or None with the
    reasons in `checked.diagnostics`.

    Options (compile_apart's): `weights`, a .caffemodel bound by layer name (else the spec's
    fillers seeded with `seed`); `opset`; `dynamic_batch`; `fold`; `outputs`, the blobs the model
    outputs, in order (a blob rewritten in place means its latest value; the layers they do not
    need are left out).  Raises ValueError for an opset netspec cannot write.
    """
    done = compile_apart(checked, **options)
    return done.inline() if done is not None else None


def compile_apart(
    checked: Checked,
    *,
    weights: str | None = None,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    fold: bool = True,
    seed: int = 0,
    outputs: list[str] | None = None,
    stage: Callable[[str], AbstractContextManager] = lambda what: nullcontext(),
) -> Lowered | None:
    """compile(), with the weights kept apart from the model until it is written (lower.Lowered):
    a model's file is then written straight from them, the weights in memory once.  `stage` is
    entered around each step that may take a while (netspec.progress)."""
    from netspec import lower, runtime
    from netspec import weights as binding
    from netspec.frontend import binary

    problem = runtime.opset_problem(opset)
    if problem:
        raise ValueError(f"opset {opset}: {problem}")
    diagnostics = checked.diagnostics
    if checked.analysis is None or diagnostics.has_errors:
        return None
    with stage("reading weights"):
        given = binary.read_weights(weights) if weights else None
    if given is not None:
        diagnostics.extend(given.diagnostics)
    with stage("binding weights" if weights else "drawing weights from the spec's fillers"):
        blobs = binding.bind(checked.analysis, given, diagnostics, seed=seed)
    del given  # the arrays bound are the ones read: let go of everything else the file held
    if diagnostics.has_errors:
        return None
    options = lower.Options(
        opset=opset,
        dynamic_batch=dynamic_batch,
        fold=fold,
        source=os.path.basename(checked.spec.source_map.source.path),
        outputs=tuple(outputs or ()),
        weights=f"from {os.path.basename(weights)}"
        if weights
        else f"random, from the spec's fillers (seed {seed}); pass --weights W.caffemodel for trained ones",
    )
    with stage("lowering"):
        done = lower.lower_apart(checked.analysis, blobs, diagnostics, options)
    del blobs  # the lowered model holds the arrays it needs (folded ones in place of the originals)
    if done is None and not diagnostics.has_errors:  # never a failure without a reason
        diagnostics.error(
            "NS0499",
            "netspec could not compile this net and found no error to report; this is a bug in "
            "netspec, please report it with this spec",
        )
    if done is not None:
        with stage("checking the model"):
            if not _passes_onnx_checker(done, diagnostics):
                return None
    if done is not None and dynamic_batch:
        with stage("proving the batch symbolic"):
            if not _runs_at_another_batch(done.inline(), checked):
                return None
    return done


def _passes_onnx_checker(done: Lowered, diagnostics: Diagnostics) -> bool:
    """ONNX's full check (onnx.checker, full_check=True), run once, where the model is made: every
    model netspec writes or returns passes it.  It runs on the model's probe (lower.Lowered.probe),
    which holds the weights' shapes but not their values.  A model it refuses is a bug of
    netspec's, said as NS0499 rather than written."""
    import onnx

    try:
        onnx.checker.check_model(done.probe(), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as problem:
        diagnostics.error(
            "NS0499",
            f"netspec built a model that ONNX's checker refuses ({str(problem).strip()}); nothing was "
            "written; this is a bug in netspec, please report it with this spec",
        )
        return False
    return True


def _runs_at_another_batch(model: onnx.ModelProto, checked: Checked) -> bool:
    """--dynamic-batch promises any batch; the checker has proved the sizes follow it, and this
    proves the graph does: one run at a batch it was not built at.  A failure is a layer whose
    lowering fixes the batch, a bug of netspec's (NS0499), said rather than written."""
    from netspec import runtime

    batch = checked.analysis.batch
    problem = runtime.batch_problem(model, batch + 1) if batch is not None else None
    if problem is None:
        return True
    reason, node = problem
    net = checked.analysis.net
    # Node names are the layer's name, or it and "/Op_k": the longest layer name that fits is the one
    # (a layer may be named "fc" and another "fc/head").
    layer = max(
        (la for la in net.layers if node is not None and (node == la.name or node.startswith(la.name + "/"))),
        key=lambda la: len(la.name),
        default=None,
    )
    where = f"layer '{layer.name}' ({layer.type})" if layer else "the graph"
    checked.diagnostics.error(
        "NS0499",
        f"--dynamic-batch: netspec's graph for {where} does not compute at batch {batch + 1}: {reason}; "
        "this is a bug in netspec, please report it",
        net.source_map.span(layer.path + ("type",), value=True) if layer else None,
        help=f"compile with --batch N for the batch you will run (this one checked at {batch})",
        layer=layer.name if layer else None,
    )
    return False


def run(
    model: onnx.ModelProto | str | bytes,
    feeds: dict[str, np.ndarray] | None = None,
    *,
    provider: str = "auto",
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Every output of one onnxruntime run, by name; inputs not in `feeds` get seeded random
    values.  Raises netspec.runtime.RunError (with a code and a help line) when it cannot run."""
    from netspec import runtime

    providers, note = runtime.choose_providers(provider)
    session, _ = runtime.session(model, providers, note=note)
    given = dict(feeds or {})
    given.update({k: v for k, v in runtime.random_feeds(session, seed=seed).items() if k not in given})
    return runtime.run(session, given)
