"""The `netspec` command: check, summary, upgrade, compile, run, init-weights, zoo, layers.

Exit status: 0 no errors, 1 the spec has errors, 2 the command could not run
(usage, a missing or unreadable file).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from netspec.diagnostics import Diagnostics, Severity, render_all
from netspec.diagnostics import to_json as diagnostics_json
from netspec.frontend.load import LoadError
from netspec.frontend.select import TEST, TRAIN

OK, SPEC_ERRORS, CANNOT_RUN = 0, 1, 2


class UsageError(Exception):
    """A command-line value that cannot be used; exit status 2."""


def parse_dims(text: str) -> tuple[str, tuple[int, ...]]:
    """NAME=1x3x224x224 (also 1,3,224,224) -> ("NAME", (1, 3, 224, 224))."""
    name, sep, dims = text.partition("=")
    try:
        shape = tuple(int(d) for d in dims.replace(",", "x").split("x"))
    except ValueError:
        shape = ()
    if not sep or not name or not shape or min(shape) < 1:
        raise UsageError(f"--input {text}: expected NAME=DIMS with positive dims, e.g. data=1x3x224x224")
    return name, shape


def _add_net_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a .prototxt (V0, V1 or V2), a solver that embeds a net, or zoo:NAME")
    p.add_argument("--phase", choices=["test", "train"], default="test",
                   help="which phase's layers to keep (default: test, the deploy net)")
    p.add_argument("--stage", action="append", default=None, help="a NetState stage (repeatable)")
    p.add_argument("--level", type=int, default=None, help="the NetState level")
    p.add_argument("--input", action="append", default=[], metavar="NAME=DIMS",
                   help="give or override an input's shape, e.g. data=1x3x224x224 (repeatable)")
    p.add_argument("--batch", type=int, default=None, help="set the batch dimension of every input")


def _add_compile_options(p: argparse.ArgumentParser) -> None:
    from netspec.lower import DEFAULT_OPSET

    p.add_argument("--weights", metavar="FILE.caffemodel", help="trained weights, bound to layers by name "
                   "(default: the spec's fillers, seeded)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    p.add_argument("--dynamic-batch", action="store_true", help="make the batch dimension symbolic")
    p.add_argument("--no-fold", action="store_true", help="keep BatchNorm and Scale apart from the convolution")
    p.add_argument("--seed", type=int, default=0, help="seed for filler-initialised weights")


def _check(args):
    from netspec.pipeline import check

    if args.batch is not None and args.batch < 1:
        raise UsageError(f"--batch {args.batch}: must be at least 1")
    inputs = dict(parse_dims(s) for s in args.input)
    return check(args.file, phase=TRAIN if args.phase == "train" else TEST, level=args.level,
                 stages=args.stage, inputs=inputs, batch=args.batch)


def _finish(diagnostics: Diagnostics, sources, *, werror: bool = False, quiet_info: bool = True) -> int:
    shown = [d for d in diagnostics if not (quiet_info and d.severity is Severity.INFO)]
    if shown:
        print(render_all(shown, sources), file=sys.stderr)
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = sum(d.severity is Severity.WARNING for d in diagnostics)
    if errors or warnings:
        print(f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}", file=sys.stderr)
    return SPEC_ERRORS if errors or (werror and warnings) else OK


def cmd_check(args) -> int:
    from netspec import summary

    checked = _check(args)
    diagnostics = checked.diagnostics
    if args.werror:
        for d in diagnostics:
            if d.severity is Severity.WARNING:
                d.severity = Severity.ERROR
    if args.format == "json":
        if checked.analysis is not None:
            print(summary.to_json(checked.analysis, diagnostics, file=args.file))
        else:
            print(diagnostics_json(diagnostics))
        return SPEC_ERRORS if diagnostics.has_errors else OK
    status = _finish(diagnostics, checked.spec.sources, quiet_info=not args.verbose)
    if status == OK and checked.analysis is not None:
        t = checked.analysis.totals
        outputs = ", ".join(f"{b.name} {summary._shape(checked.analysis.shape(b))}"
                            for b in checked.net.outputs)
        print(f"{args.file}: ok: {len(checked.net.layers)} layers, {t['params']:,} parameters, "
              f"{summary.human(t['macs'])} multiply-adds; outputs {outputs}")
    return status


def cmd_summary(args) -> int:
    from netspec import summary

    checked = _check(args)
    if checked.analysis is None:
        return _finish(checked.diagnostics, checked.spec.sources)
    if args.format == "json":
        print(summary.to_json(checked.analysis, checked.diagnostics, file=args.file))
    elif args.format == "csv":
        print(summary.to_csv(checked.analysis), end="")
    else:
        print(summary.table(checked.analysis))
    return _finish(checked.diagnostics, checked.spec.sources) if args.format == "table" else (
        SPEC_ERRORS if checked.diagnostics.has_errors else OK)


def cmd_upgrade(args) -> int:
    from google.protobuf import text_format

    from netspec.pipeline import load

    spec = load(args.file)
    status = _finish(spec.diagnostics, spec.sources)
    if status != OK:
        return status
    text = text_format.MessageToString(spec.param)
    if args.output:
        write_atomic(args.output, text.encode())
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return OK


def write_atomic(path: str, data: bytes) -> None:
    """Write a whole file or nothing: a temporary file beside it, fsync, rename."""
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".netspec-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _compile(args, checked):
    """The ONNX model of a checked spec, or None with its diagnostics reported."""
    from netspec import lower, weights
    from netspec.frontend import binary

    analysis = checked.analysis
    diagnostics = checked.diagnostics
    if not lower.MIN_OPSET <= args.opset <= lower.max_opset():
        raise UsageError(f"--opset {args.opset}: netspec writes opsets {lower.MIN_OPSET} to {lower.max_opset()} "
                         "(the newest the installed onnxruntime runs)")
    given = binary.read_weights(args.weights) if args.weights else None
    blobs = weights.bind(analysis, given, diagnostics, seed=args.seed)
    if diagnostics.has_errors:
        return None
    options = lower.Options(opset=args.opset, dynamic_batch=args.dynamic_batch, fold=not args.no_fold,
                            source=os.path.basename(checked.spec.source_map.source.path))
    return lower.lower(analysis, blobs, diagnostics, options)


def cmd_compile(args) -> int:
    import onnx

    checked = _check(args)
    model = _compile(args, checked) if not checked.diagnostics.has_errors and checked.analysis else None
    status = _finish(checked.diagnostics, checked.spec.sources, quiet_info=not args.verbose)
    if model is None:
        return status or SPEC_ERRORS
    onnx.checker.check_model(model, full_check=True)
    output = args.output or os.path.splitext(os.path.basename(checked.spec.source_map.source.path))[0] + ".onnx"
    write_atomic(output, model.SerializeToString())
    params = sum(int(__import__("numpy").prod(t.dims)) for t in model.graph.initializer)
    print(f"wrote {output}: opset {args.opset}, {len(model.graph.node)} nodes, {params:,} weights"
          f"{', dynamic batch' if args.dynamic_batch else ''}")
    return status


def cmd_layers(args) -> int:
    from netspec.layers import REGISTRY

    for name, kind in sorted(REGISTRY.items()):
        role = "data" if kind.source else "deploy" if kind.deploy else "training only"
        print(f"{name:28} {role}")
    return OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netspec", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"netspec {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check", help="check a spec: syntax, schema, graph and every blob's shape")
    _add_net_options(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--werror", action="store_true", help="treat warnings as errors")
    p.add_argument("-v", "--verbose", action="store_true", help="also show info diagnostics")
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("summary", help="per-layer shapes, parameters, multiply-adds, memory, receptive field")
    _add_net_options(p)
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.set_defaults(run=cmd_summary)

    p = sub.add_parser("upgrade", help="print or write the V2 text of a V0/V1/V2 net")
    p.add_argument("file")
    p.add_argument("-o", "--output", help="write here instead of standard output")
    p.set_defaults(run=cmd_upgrade)

    p = sub.add_parser("compile", help="compile a spec to an ONNX model")
    _add_net_options(p)
    _add_compile_options(p)
    p.add_argument("-o", "--output", help="the .onnx file to write (default: the spec's name)")
    p.add_argument("-v", "--verbose", action="store_true", help="also show info diagnostics")
    p.set_defaults(run=cmd_compile)

    p = sub.add_parser("layers", help="list the layer types netspec knows")
    p.set_defaults(run=cmd_layers)
    return parser


def _version() -> str:
    from netspec import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (LoadError, UsageError) as problem:
        print(f"netspec: error: {problem}", file=sys.stderr)
        return CANNOT_RUN
    except BrokenPipeError:
        return OK


if __name__ == "__main__":
    sys.exit(main())
