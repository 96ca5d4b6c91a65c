"""Running ONNX models with onnxruntime: provider choice, sessions, inputs, timing.

onnxruntime-gpu lists CUDAExecutionProvider as available whether or not a GPU
and the CUDA libraries are there; asking for it then prints a loud error on
the process's stderr and silently falls back to the CPU.  So the choice here
is made by trying: a tiny session on the CUDA provider, with onnxruntime's
native output caught at the file-descriptor level and read for the reason.
The answer is cached for the process.  Sessions are created the same quiet
way, and onnxruntime's default log level is raised to errors for the process.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import io
import json
import math
import os
import re
import statistics
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from netspec.diagnostics import Diagnostic, Severity, shape_text
from netspec.files import npy_problem
from netspec.opsets import DEFAULT_OPSET, INDEX_COLUMNS, INDEX_INPUTS, MIN_OPSET, WEIGHTS

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
KINDS = ("auto", "cuda", "cpu")
INSTALL_HELP = (
    "install onnxruntime-gpu with CUDA 12 or 13 and cuDNN 9, e.g. "
    "`pip install 'onnxruntime-gpu[cuda,cudnn]'`, on a machine where `nvidia-smi` sees a GPU"
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class RunError(Exception):
    """A model that cannot be run as asked; carries a stable code (NS05xx) and a help line."""

    def __init__(
        self, code: str, message: str, help: str | None = None, *, node: str | None = None, reason: str = ""
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.help = code, message, help
        self.node, self.reason = node, reason or message  # for a failed run: onnxruntime's node and words

    def diagnostic(self) -> Diagnostic:
        return Diagnostic(Severity.ERROR, self.code, self.message, help=self.help)


class RuntimeUnavailable(RunError):
    """The execution provider asked for cannot run on this machine."""


@contextlib.contextmanager
def _quiet() -> Iterator[io.StringIO]:
    """Catch everything onnxruntime writes (native fds 1 and 2, Python prints and warnings);
    the text is in the yielded buffer once the block ends."""
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    caught = io.StringIO()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    with (
        tempfile.TemporaryFile(mode="w+b") as sink,
        warnings.catch_warnings(),
        contextlib.redirect_stdout(caught),
        contextlib.redirect_stderr(caught),
    ):
        warnings.simplefilter("ignore")
        saved = []
        for fd in (1, 2):
            saved.append((fd, os.dup(fd)))
            os.dup2(sink.fileno(), fd)
        try:
            yield caught
        finally:
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            caught.write(sink.read().decode("utf-8", "replace"))


def _probe_model() -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    return model.SerializeToString()


def _reason(text: str) -> str:
    """The one line of onnxruntime's output that says why CUDA did not load."""
    text = ANSI.sub("", text)
    found = (
        re.search(r"with error: (.+)", text)
        or re.search(r"\[E:onnxruntime[^\]]*\] (.+)", text)
        or re.search(r"Failed to load (.+)", text)
    )
    return found.group(1).strip() if found else "the CUDA execution provider did not load"


@functools.lru_cache(maxsize=1)
def probe_cuda() -> tuple[bool, str]:
    """(whether CUDA really runs here, why not); tried once per process."""
    import onnxruntime as ort

    if CUDA not in ort.get_available_providers():
        return False, f"this onnxruntime ({ort.__version__}) is built without CUDA"
    with _quiet() as caught:
        # Finds CUDA and cuDNN installed as pip packages (onnxruntime-gpu[cuda,cudnn]).
        if hasattr(ort, "preload_dlls"):
            ort.preload_dlls()
        try:
            probe = ort.InferenceSession(_probe_model(), providers=[CUDA, CPU])
            ok = probe.get_providers()[0] == CUDA
        except Exception as problem:  # onnxruntime raises its own Fail/RuntimeException types
            caught.write(f"with error: {problem}\n")
            ok = False
    return (True, "a CUDA device is available") if ok else (False, _reason(caught.getvalue()))


def cuda_really_available() -> bool:
    return probe_cuda()[0]


def choose_providers(kind: str = "auto") -> tuple[list[str], str]:
    """(providers in order of preference, why): auto takes CUDA only where it really loads."""
    if kind not in KINDS:
        near = difflib.get_close_matches(kind, KINDS, n=1)
        raise RunError(
            "NS0501",
            f"unknown provider '{kind}'",
            help=f"did you mean '{near[0]}'?" if near else "choose auto, cuda or cpu",
        )
    if kind == "cpu":
        return [CPU], "as asked"
    ok, why = probe_cuda()
    if ok:
        return [CUDA, CPU], "as asked" if kind == "cuda" else why
    if kind == "cuda":
        raise RuntimeUnavailable(
            "NS0500", f"CUDA was asked for but cannot be used here: {why}", help=INSTALL_HELP
        )
    return [CPU], "no usable CUDA device; `--provider cuda` says why"


def physical_cores() -> int:
    """Physical cores this process may use: its CPU affinity, one per core (not per hyperthread),
    capped by a cgroup CPU quota."""
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    cores = set()
    with contextlib.suppress(OSError, ValueError):
        for block in Path("/proc/cpuinfo").read_text().split("\n\n"):
            fields = {
                k.strip(): v.strip() for k, _, v in (line.partition(":") for line in block.splitlines())
            }
            if "processor" in fields and int(fields["processor"]) in allowed:
                cores.add((fields.get("physical id"), fields.get("core id", fields["processor"])))
    n = len(cores) or len(allowed)
    with contextlib.suppress(OSError, ValueError):
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    return max(n, 1)


@dataclass
class SessionInfo:
    """Which provider ran and with which options; str() is the sentence users read."""

    provider: str
    optimisation: str
    threads: int
    spinning: bool
    note: str | None = None
    tf32: bool = False

    def __str__(self) -> str:
        where = f"ran on {self.provider}" + (f" ({self.note})" if self.note else "")
        spin = "" if self.spinning else "; thread spinning: off"
        tf32 = f"; TF32: {'on' if self.tf32 else 'off'}" if self.provider == CUDA else ""
        return f"{where}; graph optimisation: {self.optimisation}; threads: {self.threads}{spin}{tf32}"


def provider_options(providers: list[str], *, tf32: bool = False) -> list:
    """The providers as onnxruntime takes them, CUDA with its options.

    onnxruntime's CUDA provider lets cuDNN and cuBLAS use TF32 tensor cores by
    default (10-bit mantissas: about 1e-3 relative error on a deep net), which
    breaks netspec's promise of Caffe's float32 numbers; so TF32 is off unless
    asked for.
    """
    return [(p, {"use_tf32": "1" if tf32 else "0"}) if p == CUDA else p for p in providers]


def _model_bytes(model_or_path: Any) -> bytes:
    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path.SerializeToString()
    if isinstance(model_or_path, bytes):
        return model_or_path
    path = Path(model_or_path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise RunError("NS0509", f"{path}: no such file") from None
    except OSError as problem:
        raise RunError("NS0509", f"{path}: cannot read: {problem.strerror}") from None


def session(
    model_or_path: Any,
    providers: list[str],
    *,
    note: str | None = None,
    threads: int | None = None,
    fast: bool = True,
    spinning: bool = True,
    tf32: bool = False,
):
    """(InferenceSession, SessionInfo) for a model (ModelProto, bytes or path).

    fast: all graph optimisations (else none, for debugging numerics); threads:
    intra-op threads, physical cores by default; spinning=False stops idle
    worker threads from spinning (for benchmarks beside other work); tf32: let
    CUDA use TF32 (see provider_options).  `note` is the reason from
    choose_providers, carried into the description.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL if fast else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 4  # fatal only: a failing run is reported once, as NS0511, not also logged
    options.intra_op_num_threads = threads or physical_cores()
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    data = _model_bytes(model_or_path)
    with _quiet():
        try:
            created = ort.InferenceSession(
                data, sess_options=options, providers=provider_options(providers, tf32=tf32)
            )
        except Exception as problem:  # onnxruntime's InvalidGraph, InvalidProtobuf, Fail, ...
            message = str(problem).strip().splitlines()[0] if str(problem).strip() else type(problem).__name__
            raise RunError("NS0509", f"onnxruntime cannot load the model: {message}") from None
    ran = created.get_providers()[0]
    if ran != providers[0]:
        note = f"{providers[0]} did not load" + (f"; {note}" if note and note != "as asked" else "")
    info = SessionInfo(ran, "all" if fast else "none", options.intra_op_num_threads, spinning, note, tf32)
    return created, info


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple  # ints, or None / a name for a dynamic dim
    dtype: np.dtype


def inputs_of(model: Any) -> list[InputSpec]:
    """The graph inputs (not initializers) of a session or an onnx.ModelProto."""
    if isinstance(model, onnx.ModelProto):
        constants = {t.name for t in model.graph.initializer}
        return [
            InputSpec(
                vi.name,
                tuple(
                    d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                    for d in vi.type.tensor_type.shape.dim
                ),
                np.dtype(helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)),
            )
            for vi in model.graph.input
            if vi.name not in constants
        ]
    return [
        InputSpec(
            arg.name,
            tuple(d if isinstance(d, int) else None if d is None else str(d) for d in arg.shape),
            np.dtype(helper.tensor_dtype_to_np_dtype(TensorProto.DataType.Value(arg.type[7:-1].upper()))),
        )
        for arg in model.get_inputs()
    ]


def _unknown_input(name: str, specs: list[InputSpec], what: str) -> RunError:
    names = [s.name for s in specs]
    near = difflib.get_close_matches(name, names, n=1)
    return RunError(
        "NS0503",
        f"{what}: the model has no input '{name}'",
        help=(f"did you mean '{near[0]}'? " if near else "") + "its inputs: " + ", ".join(names),
    )


def _props(model: Any) -> dict[str, str]:
    if isinstance(model, onnx.ModelProto):
        return {p.key: p.value for p in model.metadata_props}
    return model.get_modelmeta().custom_metadata_map


def _index_bounds(model: Any, key: str = INDEX_INPUTS) -> dict[str, int]:
    """The model's inputs that are indices (INDEX_INPUTS metadata), each with its bound; with
    INDEX_COLUMNS, those that hold them at one position of their last axis, with that position."""
    try:
        return {str(k): int(v) for k, v in json.loads(_props(model).get(key, "{}")).items()}
    except (ValueError, TypeError, AttributeError):
        return {}


def _check_indices(array: np.ndarray, name: str, bound: int, column: int | None, what: str) -> None:
    """NS0513 for a given index input with a value its layer cannot read (a ROI's batch index not
    an image of the batch, an Embed input past its table), said with its place and value, before
    onnxruntime fails on it in its own words (or, for a negative index, reads from the end)."""
    values = array if column is None else array[..., column]
    bad = ~np.isfinite(values) | (np.trunc(values) < 0) | (np.trunc(values) >= bound)
    if not bad.any():
        return
    place = tuple(int(i) for i in np.argwhere(bad)[0])
    where = place if column is None else (*place, column)
    raise RunError(
        "NS0513",
        f"{what}: {name}[{', '.join(map(str, where))}] = {values[place]:g} is not an index from 0 to "
        f"{bound - 1}",
        help=f"a layer reads {'every value' if column is None else f'position {column} of the last axis'} "
        f"of '{name}' as an index below {bound} (an image of the batch, a row of a table)",
    )


def asked_shapes(model: Any, shapes: dict[str, tuple[int, ...]], batch: int | None) -> dict[str, tuple]:
    """The shapes a compiled model's inputs take for `--input NAME=DIMS` and `--batch N`: a symbolic
    dim takes the size asked for; a size fixed at compile time must be the one asked for, else the
    model cannot give what was asked (NS0504, a usage error), and the help says how to compile it."""
    specs = inputs_of(model)
    for name in shapes:
        if name not in {s.name for s in specs}:
            raise _unknown_input(name, specs, f"--input {name}=...")
    out = {}
    for spec in specs:
        want = list(spec.shape)
        if batch is not None and want:
            if isinstance(want[0], int) and want[0] >= 0 and want[0] != batch:
                raise RunError(
                    "NS0504",
                    f"--batch {batch}: the model's input '{spec.name}' is {shape_text(spec.shape)}, compiled "
                    f"for batch {want[0]}",
                    help=f"compile the spec with --batch {batch}, or with --dynamic-batch for any batch",
                )
            want[0] = batch
        given = shapes.get(spec.name)
        if given is not None:
            fixed = [d if isinstance(d, int) and d >= 0 else None for d in want]
            if len(given) != len(want) or any(d is not None and d != g for d, g in zip(fixed, given)):
                raise RunError(
                    "NS0504",
                    f"--input {spec.name}={shape_text(given)}: the model's input '{spec.name}' is "
                    f"{shape_text(spec.shape)}; its fixed sizes are set when it is compiled",
                    help="compile the spec with this --input (or --batch / --dynamic-batch for the batch)",
                )
            want = list(given)
        out[spec.name] = tuple(want)
    return out


def random_feeds(
    model: Any, seed: int = 0, *, batch: int = 1, shapes: dict[str, tuple] | None = None
) -> dict[str, np.ndarray]:
    """Random values for every graph input: standard normal, or whole numbers below the bound for
    inputs that layers read as indices (Embed's words); an input in `shapes` takes that shape
    (asked_shapes), else a dynamic first dim gets `batch`, others 1."""
    rng = np.random.default_rng(seed)
    bounds = _index_bounds(model)
    feeds = {}
    for spec in inputs_of(model):
        shape = tuple(
            d if isinstance(d, int) and d >= 0 else (batch if i == 0 else 1)
            for i, d in enumerate((shapes or {}).get(spec.name, spec.shape))
        )
        try:
            if spec.name in bounds:
                feeds[spec.name] = rng.integers(0, bounds[spec.name], shape).astype(spec.dtype)
            elif spec.dtype.kind == "f":
                feeds[spec.name] = rng.standard_normal(shape).astype(spec.dtype)
            else:
                feeds[spec.name] = rng.integers(0, 2, shape).astype(spec.dtype)
        except (MemoryError, ValueError):  # numpy: cannot allocate, or more bytes than an address holds
            size = math.prod(shape) * spec.dtype.itemsize
            raise RunError(
                "NS0512",
                f"input '{spec.name}' {shape_text(shape)} takes {size / 2**30:,.1f} GiB, more than this "
                "machine can allocate",
                help="run a smaller batch (--batch N) or input size (--input NAME=DIMS)",
            ) from None
    return feeds


def batch_problem(model: onnx.ModelProto, batch: int) -> tuple[str, str | None] | None:
    """Why `model`, compiled with a symbolic batch, does not compute at `batch`: (what went wrong,
    the name of the node it happened in, if onnxruntime said), or None when it does.  Run once
    on the CPU without graph optimisations, so that node names stay netspec's."""
    created, _ = session(model, [CPU], fast=False)
    try:
        outputs = run(created, random_feeds(created, batch=batch))
    except RunError as problem:
        return problem.reason, problem.node
    for declared, value in zip(model.graph.output, outputs.values()):
        dims = [d.dim_value if d.HasField("dim_value") else None for d in declared.type.tensor_type.shape.dim]
        if any(d is not None and d != v for d, v in zip(dims, value.shape)):
            shown = shape_text(tuple(dims))
            return (
                f"output '{declared.name}' is declared {shown} but comes out {shape_text(value.shape)}",
                None,
            )
    return None


def load_inputs(
    specs: list[str], model: Any, shapes: dict[str, tuple] | None = None
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Feeds from NAME=FILE.npy strings, checked against the model's inputs (with the sizes
    asked_shapes settled, as `--batch` does); (feeds, notes)."""
    wanted = {s.name: s for s in inputs_of(model)}
    for name, shape in (shapes or {}).items():
        wanted[name] = InputSpec(name, shape, wanted[name].dtype)
    feeds: dict[str, np.ndarray] = {}
    notes: list[str] = []
    bounds, columns = _index_bounds(model), _index_bounds(model, INDEX_COLUMNS)
    for text in specs:
        name, sep, file = text.partition("=")
        what = f"--input {text}"
        if not sep or not name or not file:
            raise RunError("NS0507", f"{what}: expected NAME=FILE.npy", help="e.g. --input data=image.npy")
        if name in feeds:
            raise RunError("NS0507", f"{what}: input '{name}' is given twice")
        if name not in wanted:
            raise _unknown_input(name, list(wanted.values()), what)
        array = _read_npy(file, what)
        feeds[name] = _conform(array, wanted[name], what, notes)
        if name in bounds:
            _check_indices(feeds[name], name, bounds[name], columns.get(name), what)
    return feeds, notes


def _read_npy(file: str, what: str) -> np.ndarray:
    try:
        array = np.load(file, allow_pickle=False)
    except FileNotFoundError:
        raise RunError("NS0502", f"{what}: no such file") from None
    except (OSError, ValueError, EOFError) as problem:  # EOFError: an empty file
        raise RunError(
            "NS0502",
            f"{what}: cannot read it as a .npy array ({npy_problem(problem)})",
            help="write the array with numpy.save(FILE, array)",
        ) from None
    if not isinstance(array, np.ndarray):  # an .npz archive
        array.close()
        raise RunError(
            "NS0502",
            f"{what}: is an .npz archive, not one array",
            help="save each input with numpy.save(FILE, array)",
        )
    return array


def _conform(array: np.ndarray, spec: InputSpec, what: str, notes: list[str]) -> np.ndarray:
    """The array as the model's input wants it: float64 is cast to float32 (noted), else the dtype
    and the static dims must match."""
    if array.dtype != spec.dtype:
        if array.dtype == np.float64 and spec.dtype == np.float32:
            notes.append(f"{what}: float64 values cast to float32, the model's input type")
            array = array.astype(np.float32)
        else:
            raise RunError(
                "NS0505",
                f"{what}: the array is {array.dtype}, the model's input '{spec.name}' is {spec.dtype}",
                help=f"save it with array.astype(numpy.{spec.dtype})",
            )
    fits = array.ndim == len(spec.shape) and all(
        not isinstance(want, int) or want < 0 or want == got for want, got in zip(spec.shape, array.shape)
    )
    if not fits:
        raise RunError(
            "NS0504",
            f"{what}: shape {shape_text(array.shape)}, but the model's input '{spec.name}' is "
            f"{shape_text(spec.shape)}",
            help="a dimension shown as ? or a name may be any size",
        )
    return np.ascontiguousarray(array)


def _check_feeds(session: Any, feeds: dict[str, np.ndarray]) -> None:
    specs = inputs_of(session)
    for name in feeds:
        if name not in {s.name for s in specs}:
            raise _unknown_input(name, specs, "feeds")
    missing = [s.name for s in specs if s.name not in feeds]
    if missing:
        raise RunError(
            "NS0508",
            f"no value given for the model input{'s' * (len(missing) != 1)} "
            + ", ".join(f"'{n}'" for n in missing),
            help="give each as --input NAME=FILE.npy",
        )


def run(session: Any, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every output of one run, by name, in the model's output order."""
    _check_feeds(session, feeds)
    names = [o.name for o in session.get_outputs()]
    try:
        return dict(zip(names, session.run(names, feeds)))
    except Exception as problem:  # onnxruntime's RuntimeException and friends
        raise run_failure(str(problem)) from None


def run_timed(session: Any, feeds: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], float]:
    """run(), and the seconds it took."""
    start = perf_counter()
    outputs = run(session, feeds)
    return outputs, perf_counter() - start


NODE = re.compile(r"running (\w+) node\. Name:'([^']*)'")
STATUS = re.compile(r"Status Message: (?:\S+:\d+ (?:[\w:~<>]+\(.*?\) |\S+ ))?(.*)", re.S)
CHECK = re.compile(r"^.*? was false\. ")  # onnxruntime's failed ORT_ENFORCE condition, before its words


def layer_of(node: str) -> str:
    """The Caffe layer an ONNX node of netspec's comes from: node names are the layer's name, or
    it and `/Op_k` for a layer's further nodes (lower.LowerContext.node)."""
    return re.sub(r"/[A-Za-z]+_\d+$", "", node)


def run_failure(text: str) -> RunError:
    """NS0511 in the user's words: the Caffe layer whose node failed (node names carry it), and
    onnxruntime's reason in one line; an out-of-range index is an input value the layer refuses."""
    text = text.strip()
    node = NODE.search(text)
    status = STATUS.search(text)
    reason = CHECK.sub("", (status.group(1) if status else text).strip()).splitlines()[0] if text else ""
    reason = reason or "no reason given"
    if node is None:
        return RunError("NS0511", f"onnxruntime failed to run the model: {reason}", reason=reason)
    op, name = node.groups()
    layer = layer_of(name)
    bad_index = re.search(r"invalid index|out of (?:data )?(?:range|bounds)|index .*outside", reason, re.I)
    return RunError(
        "NS0511",
        f"layer '{layer}' failed at run time ({op} node '{name}'): {reason}",
        help="an input value is outside what the layer accepts (an index past its table: "
        "e.g. a ROI whose batch index is not below the batch, which Caffe's layer CHECK-fails on too)"
        if bad_index
        else "the values given to the model are the likely cause; `--outputs` up to this layer "
        "shows what reaches it",
        node=name,
        reason=reason,
    )


def weights_origin(model: Any) -> str | None:
    """What the model's weights are, as lower stamped it (netspec.weights): random fillers or a
    .caffemodel; None for a model netspec did not write."""
    return _props(model).get(WEIGHTS)


def time(session: Any, feeds: dict[str, np.ndarray], repeat: int = 10, *, warmup: int = 1) -> dict:
    """Latency over `repeat` runs after `warmup`: median_ms, min_ms, mean_ms, and
    throughput_per_s (items per second at the median, the batch being the first input's first dim)."""
    if repeat < 1:
        raise RunError("NS0510", f"repeat {repeat}: must be at least 1")
    _check_feeds(session, feeds)
    for _ in range(warmup):
        session.run(None, feeds)
    samples = []
    for _ in range(repeat):
        start = perf_counter()
        session.run(None, feeds)
        samples.append((perf_counter() - start) * 1000.0)
    first = next(iter(feeds.values()), None)
    batch = int(first.shape[0]) if first is not None and first.ndim else 1
    median = statistics.median(samples)
    return {
        "median_ms": median,
        "min_ms": min(samples),
        "mean_ms": statistics.fmean(samples),
        "repeat": repeat,
        "batch": batch,
        "throughput_per_s": batch * 1000.0 / median if median > 0 else math.inf,
    }


@functools.cache
def max_opset() -> int:
    """The newest opset both onnx and the installed onnxruntime handle: found by loading a
    one-node model at each opset above the default, since onnxruntime does not say."""
    import onnxruntime as ort

    newest = DEFAULT_OPSET
    for opset in range(DEFAULT_OPSET + 1, onnx.defs.onnx_opset_version() + 1):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
        model = helper.make_model(
            helper.make_graph(
                [helper.make_node("Relu", ["x"], ["y"])],
                "probe",
                [x],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
            ),
            opset_imports=[helper.make_opsetid("", opset)],
        )
        model.ir_version = helper.find_min_ir_version_for(list(model.opset_import))
        try:
            ort.InferenceSession(model.SerializeToString(), providers=[CPU])
        except Exception:
            break
        newest = opset
    return newest


def opset_problem(opset: int) -> str | None:
    """Why netspec cannot write `opset`, or None.  Opsets up to the default need no probe of
    onnxruntime (max_opset() is never below it)."""
    if opset < MIN_OPSET or (opset > DEFAULT_OPSET and opset > max_opset()):
        newest = max_opset()
        return f"netspec writes opsets {MIN_OPSET} to {newest} (the newest the installed onnxruntime runs)"
    return None
