"""The `netspec` command: check, summary, draw, report, view, upgrade, compile, run, init-weights, zoo,
fmt, lsp, layers.

Exit status: 0 no errors, 1 the spec has errors, 2 the command could not run
(usage, a missing or unreadable file), 3 an internal error (a bug in netspec).
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import stat
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from netspec.diagnostics import Diagnostics, Severity, apply_lints, group, render_all
from netspec.diagnostics import to_json as diagnostics_json
from netspec.files import CannotWrite, LoadError
from netspec.options import UsageError, parse_dims, refuse_unknown_inputs, refuse_unknown_stubs, stub_rules

OK, SPEC_ERRORS, CANNOT_RUN, INTERNAL_ERROR = 0, 1, 2, 3


def _is_file_input(spec: str) -> bool:
    """`--input NAME=FILE.npy` gives values (netspec run); `--input NAME=DIMS` gives a shape."""
    return spec.partition("=")[2].lower().endswith((".npy", ".npz"))


SPEC_HELP = "a .prototxt (V0, V1 or V2), a solver that embeds a net, or zoo:NAME"


def _add_net_options(p: argparse.ArgumentParser, file_help: str = SPEC_HELP) -> None:
    p.add_argument("file", help=file_help)
    p.add_argument(
        "--phase",
        choices=["test", "train"],
        type=str.lower,
        default="test",
        help="which phase's layers to keep (default: test, the deploy net)",
    )
    p.add_argument("--stage", action="append", default=None, help="a NetState stage (repeatable)")
    p.add_argument("--level", type=int, default=None, help="the NetState level")
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME=DIMS|NAME=FILE.npy",
        help="give or override an input's shape, e.g. data=1x3x224x224; for `run`, also an "
        "input's values from a .npy file (random values otherwise); repeatable",
    )
    p.add_argument("--batch", type=int, default=None, help="set the batch dimension of every input")
    p.add_argument(
        "--stub",
        action="append",
        default=[],
        metavar="TYPE_OR_LAYER=identity|TYPE_OR_LAYER=shape:DIMS",
        help="treat every layer of a type (Python, an unknown fork type), or one layer by name, as an "
        "identity (shapes pass through; compiles as no node) or as writing tops of these shapes "
        "(shape:1x3x8x8, one per top separated by commas; check only); repeatable",
    )
    from netspec.diagnostics import LINTS

    lints = ", ".join(f"{name}: {what}" for name, what in LINTS.items())
    p.add_argument(
        "--warn",
        action="append",
        default=[],
        choices=sorted(LINTS),
        metavar="LINT",
        help=f"report every diagnostic of a lint as a warning (repeatable); lints: {lints}",
    )
    p.add_argument(
        "--allow", action="append", default=[], choices=sorted(LINTS), metavar="LINT", help="turn a lint off"
    )


def _add_compile_options(p: argparse.ArgumentParser) -> None:
    from netspec.opsets import DEFAULT_OPSET

    p.add_argument(
        "--weights",
        metavar="FILE.caffemodel",
        help="trained weights, bound to layers by name (default: the spec's fillers, seeded)",
    )
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    p.add_argument("--dynamic-batch", action="store_true", help="make the batch dimension symbolic")
    p.add_argument(
        "--no-fold", action="store_true", help="keep BatchNorm and Scale apart from the convolution"
    )
    p.add_argument("--seed", type=int, default=0, help="seed for filler-initialised weights")
    p.add_argument(
        "--outputs",
        metavar="BLOB[,BLOB...]",
        help="the model's outputs are these blobs, in this order, and the layers they do not need are "
        "left out (compile up to a layer that does not compile, or look at an intermediate value); a "
        "blob rewritten in place (conv1 after an in-place ReLU) means its latest value",
    )


def npy_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """NAME=FILE.npy -> ("NAME", the array's shape), read from the file's header alone."""
    import numpy as np

    name, _, file = text.partition("=")
    try:
        array = np.load(file, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise UsageError(f"--input {text}: no such file") from None
    except (OSError, ValueError, EOFError) as problem:
        from netspec.files import npy_problem

        raise UsageError(f"--input {text}: cannot read it as a .npy array ({npy_problem(problem)})") from None
    if not isinstance(array, np.ndarray):  # an .npz archive
        array.close()
        raise UsageError(f"--input {text}: is an .npz archive, not one array; save it with numpy.save")
    if not name or not array.shape or min(array.shape) < 1:
        raise UsageError(f"--input {text}: expected NAME=FILE.npy holding an array with positive dims")
    return name, tuple(int(d) for d in array.shape)


def input_shapes(specs: list[str]) -> dict[str, tuple[int, ...]]:
    """The shapes `--input` gives: NAME=DIMS, or NAME=FILE.npy (the array's shape), each name once."""
    shapes: dict[str, tuple[int, ...]] = {}
    for text in specs:
        name, shape = npy_shape(text) if _is_file_input(text) else parse_dims(text)
        if name in shapes:
            raise UsageError(f"--input {text}: input '{name}' is given twice")
        shapes[name] = shape
    return shapes


def _check(args):
    from netspec.frontend.select import TEST, TRAIN
    from netspec.pipeline import check

    if args.batch is not None and args.batch < 1:
        raise UsageError(f"--batch {args.batch}: must be at least 1")
    inputs = input_shapes(args.input)
    stubs = stub_rules(args.stub)
    checked = check(
        args.file,
        content=getattr(args, "text", None),
        phase=TRAIN if args.phase == "train" else TEST,
        level=args.level,
        stages=args.stage,
        inputs=inputs,
        batch=args.batch,
        stubs=stubs,
    )
    refuse_unknown_inputs(checked, inputs)
    refuse_unknown_stubs(checked, stubs)
    apply_lints(checked.diagnostics, warn=args.warn, allow=args.allow)
    return checked


def _finish(diagnostics: Diagnostics, sources, *, werror: bool = False, quiet_info: bool = True) -> int:
    shown = [d for d in diagnostics if not (quiet_info and d.severity is Severity.INFO)]
    # In source order, line by line; within a line, in the order the stages found them (causes first).
    shown.sort(key=lambda d: (1, d.span.file, d.span.line) if d.span else (0, "", 0))
    grouped = group(shown)
    if grouped:
        print(render_all(grouped, sources), file=sys.stderr)
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = sum(d.severity is Severity.WARNING for d in diagnostics)
    if errors or warnings:
        print(
            f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
            + ("; repeats grouped (--format json lists each)" if len(grouped) < len(shown) else ""),
            file=sys.stderr,
        )
    return SPEC_ERRORS if errors or (werror and warnings) else OK


def cmd_check(args) -> int:
    from netspec import summary
    from netspec.layers.base import shape_text

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
        layers = checked.analysis.layers  # two of the totals, not all (peak memory: 2 ms on ResNet-152)
        params, macs = sum(i.params for i in layers), sum(i.macs for i in layers)
        outputs = ", ".join(f"{b.name} {shape_text(checked.analysis.shape(b))}" for b in checked.net.outputs)
        outputs = outputs or "none"
        print(
            f"{args.file}: ok: {len(checked.net.layers)} layers, {params:,} parameters, "
            f"{summary.human(macs)} multiply-adds; outputs {outputs}"
        )
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
    return (
        _finish(checked.diagnostics, checked.spec.sources)
        if args.format == "table"
        else (SPEC_ERRORS if checked.diagnostics.has_errors else OK)
    )


def cmd_upgrade(args) -> int:
    from google.protobuf import text_format

    from netspec.pipeline import load

    spec = load(args.file, getattr(args, "text", None))
    status = _finish(spec.diagnostics, spec.sources)
    if status != OK:
        return status
    text = text_format.MessageToString(spec.param)
    if args.output and args.output != "-":
        write_atomic(args.output, text.encode())
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return OK


def cmd_draw(args) -> int:
    from netspec import draw

    checked = _check(args)
    if checked.analysis is None:
        return _finish(checked.diagnostics, checked.spec.sources)
    output = args.output if args.output and args.output != "-" else None
    fmt = os.path.splitext(output)[1][1:].lower() if output else "svg"
    if fmt not in DRAWN:
        raise UsageError(
            f"cannot write {output}: netspec draws .{', .'.join(DRAWN)} files; name one of those"
        )
    if args.engine == "dot" and fmt == "html":
        raise UsageError(
            "--engine dot: the .html page is laid out by netspec itself; write .svg, .png or .pdf"
        )
    scene = draw.build(checked.analysis, collapse=args.collapse)
    if fmt == "html":
        from netspec.draw import page

        parts = page.sections(checked, direction=args.direction, collapse=args.collapse, report=False)
        data = page.render_page(args.file, parts).encode()
    elif fmt == "dot" or args.engine == "dot":
        text = draw.to_dot(scene, direction=args.direction)
        # --engine dot with a .dot file: Graphviz's layout, every node and edge with its position
        laid_out = fmt != "dot" or args.engine == "dot"
        data = _render("dot", [f"-T{fmt}"], text, output, NO_GRAPHVIZ) if laid_out else text.encode()
    else:
        text = draw.to_svg(scene, direction=args.direction)
        if fmt == "png":
            _fits_a_png(text, output)
        missing = NO_RSVG.format(fmt=fmt.upper())
        data = text.encode() if fmt == "svg" else _render("rsvg-convert", ["-f", fmt], text, output, missing)
    if output is None:
        sys.stdout.write(data.decode())
    else:
        write_atomic(output, data)
        print(f"wrote {output}", file=sys.stderr)
    return _finish(checked.diagnostics, checked.spec.sources)


DRAWN = ("svg", "html", "png", "pdf", "dot")
NO_GRAPHVIZ = (
    "--engine dot needs Graphviz's `dot`, which is not installed; netspec's own engine (the default) "
    "needs nothing"
)
NO_RSVG = (
    "netspec turns its SVG into {fmt} with librsvg's `rsvg-convert`, which is not installed (Debian and "
    "Ubuntu: apt install librsvg2-bin; macOS: brew install librsvg); write .svg or .html, which need "
    "nothing, or use --engine dot where Graphviz is installed"
)


PNG_SIDE = 32767  # the largest image librsvg renders, on either side


def _fits_a_png(svg: str, output: str | None) -> None:
    """A usage error, with what to draw instead, for a picture larger than rsvg-convert renders (it
    would say to specify a smaller size, which netspec has no option for)."""
    import re

    width, height = (int(v) for v in re.search(r'width="(\d+)" height="(\d+)"', svg).groups())
    if max(width, height) > PNG_SIDE:
        raise UsageError(
            f"cannot write {output}: the picture is {width:,} x {height:,} pixels, and rsvg-convert "
            f"renders PNGs of at most {PNG_SIDE:,} on a side; write .svg or .pdf (no such limit), or "
            "draw fewer boxes with --collapse"
        )


def _render(tool: str, options: list[str], text: str, output: str | None, missing: str) -> bytes:
    """What an external renderer (Graphviz's dot, librsvg's rsvg-convert) writes for `text`; a usage
    error saying `missing` where it is not installed, or its complaint where it fails."""
    import shutil
    import subprocess

    path = shutil.which(tool)
    if path is None:
        raise UsageError(f"cannot write {output or 'the picture'}: {missing}")
    done = subprocess.run([path, *options], input=text.encode(), capture_output=True)
    if done.returncode != 0:
        raise UsageError(f"cannot write {output}: {tool} failed: {done.stderr.decode().strip()}")
    return done.stdout


def cmd_report(args) -> int:
    from netspec.draw import page

    checked = _check(args)
    extra = ""
    if args.weights:
        from netspec.draw import weights
        from netspec.frontend.binary import read_weights
        from netspec.weights import bind

        given = read_weights(args.weights)
        checked.diagnostics.extend(given.diagnostics)
        if checked.analysis is not None:
            bind(checked.analysis, given, checked.diagnostics)  # wrong weights said as compile says them
            extra = weights.section(checked.analysis, given, args.weights)
    parts = page.sections(checked, direction=args.direction, collapse=args.collapse)
    write_atomic(args.output, page.render_page(args.file, parts, extra=extra).encode())
    print(f"wrote {args.output}", file=sys.stderr)
    return _finish(checked.diagnostics, checked.spec.sources)


def cmd_view(args) -> int:
    import threading
    import webbrowser

    from netspec.draw import live
    from netspec.frontend.load import resolve

    if args.port is not None and not 0 <= args.port < 65536:
        raise UsageError(f"--port {args.port}: must be 0 (any free port) to 65535")
    _check(args)  # a missing file or a bad option is said now, not on the page
    follower = live.Follower(
        resolve(args.file), lambda: _check(args), direction=args.direction, collapse=args.collapse
    )
    try:
        httpd = live.server(follower, args.file, args.port)
    except OSError as problem:
        raise UsageError(f"--port {args.port}: cannot listen on 127.0.0.1: {problem.strerror}") from None
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    print(url, flush=True)
    print(f"netspec view: following {args.file}; Ctrl-C stops", file=sys.stderr, flush=True)
    if not args.no_browser:
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("netspec view: stopped", file=sys.stderr)
    finally:
        httpd.server_close()
    return OK


def _add_picture_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--direction", choices=["TB", "LR"], default="TB", help="top to bottom, or left to right")
    p.add_argument(
        "--collapse",
        action="store_true",
        help="draw each run of repeated blocks (ResNet bottlenecks, inception modules, dense layers) as "
        "one box with its count and shapes",
    )


def _check_outputs(args) -> None:
    """Before anything runs: an output that cannot be written (its folder missing, ...) is a usage
    error, and so is one that names a file the command reads (the spec, --weights, an --input
    .npy): netspec never overwrites what it was given."""
    given = []
    if getattr(args, "file", None) and getattr(args, "text", None) is None:
        from netspec.frontend.load import resolve  # here: fmt and lsp need none of the front end's imports

        given.append(("the spec", resolve(args.file)))
    if getattr(args, "weights", None):
        given.append(("the --weights file", args.weights))
    given += [("an --input file", spec.partition("=")[2]) for spec in getattr(args, "input", []) or []]
    from netspec.files import writable_problem

    for flag, output in (("-o", getattr(args, "output", None)), ("--out", getattr(args, "out", None))):
        if output == "":
            raise UsageError(f"{flag} '': names no file")
        if output == "-" and args.run not in (cmd_draw, cmd_upgrade):
            raise UsageError(f"{flag} -: this command writes a file, and standard output is not one")
        if output is None or output == "-":
            continue
        problem = writable_problem(output)
        if problem:
            raise UsageError(f"{flag} {output}: cannot write it: {problem}")
        if not os.path.exists(output):
            continue
        for what, path in given:
            if os.path.exists(path) and os.path.samefile(output, path):
                raise UsageError(
                    f"{flag} {output}: is {what} this command reads; netspec never overwrites its "
                    "inputs: name another file"
                )


def write_atomic(path: str, data: bytes, mode: int | None = None) -> None:
    """Write a whole file or nothing (netspec.files.atomic_output); a place that cannot be
    written is a usage error, exit status 2 (main catches CannotWrite)."""
    from netspec.files import atomic_output

    with atomic_output(path, mode=mode) as out:
        out.write(data)


def _compile(args, checked, progress):
    """The lowered model of a checked spec (its weights apart: lower.Lowered), or None with its
    diagnostics reported."""
    from netspec import pipeline, runtime

    problem = runtime.opset_problem(args.opset)  # here, so that no other ValueError is blamed on --opset
    if problem:
        raise UsageError(f"--opset {args.opset}: {problem}")
    return pipeline.compile_apart(
        checked,
        weights=args.weights,
        opset=args.opset,
        dynamic_batch=args.dynamic_batch,
        fold=not args.no_fold,
        seed=args.seed,
        outputs=_output_names(args.outputs),
        stage=progress.stage,
    )


def _output_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise UsageError(f"--outputs {text}: expected blob names separated by commas, e.g. conv5,prob")
    return names


def cmd_compile(args) -> int:
    import math

    from netspec.files import atomic_output
    from netspec.progress import Progress
    from netspec.proto import wire

    if args.weights and args.seed:  # run's --seed also seeds its random inputs; compile has none
        raise UsageError(f"--seed {args.seed}: seeds the spec's fillers, and --weights leaves none to draw")
    progress = Progress()
    checked = _check(args)
    done = (
        _compile(args, checked, progress) if not checked.diagnostics.has_errors and checked.analysis else None
    )
    status = _finish(checked.diagnostics, checked.spec.sources, quiet_info=not args.verbose)
    if done is None:
        return status or SPEC_ERRORS
    model = done.model
    params = sum(math.prod(t.dims) for t in model.graph.initializer)
    output = (
        args.output or os.path.splitext(os.path.basename(checked.spec.source_map.source.path))[0] + ".onnx"
    )

    with progress.stage("writing"), atomic_output(output) as out:  # ONNX's checker passed it (pipeline)
        wire.write(out, model, done.values)  # straight from the weights' memory
    done.values.clear()
    print(
        f"wrote {output}: opset {args.opset}, {len(model.graph.node)} nodes, {params:,} weights"
        f"{', dynamic batch' if args.dynamic_batch else ''}"
    )
    return status


def cmd_zoo(args) -> int:
    from netspec import summary, zoo
    from netspec.pipeline import check

    if args.action == "path":
        print(zoo.path(_zoo_name(args)))
        return OK
    if args.action == "show":
        name = _zoo_name(args)
        entry = zoo.ENTRIES[name]
        checked = check(zoo.path(name))
        print(f"{name}: {entry['title']}\n{entry['paper']}\n")
        print(summary.table(checked.analysis))
        return _finish(checked.diagnostics, checked.spec.sources)
    rows = [("name", "paper", "year", "parameters", "multiply-adds", "input")]
    for name in zoo.names():
        entry = zoo.ENTRIES[name]
        totals = check(zoo.path(name)).analysis.totals
        # "K. He, X. Zhang, ..." -> He; "A. van den Oord, ..." -> van den Oord
        author = re.match(r"(?:[A-Z]\.\s*)+([^,.]+)", entry["paper"])
        cited = f"{author.group(1)} et al." if author else entry["paper"].split(",")[0][:30]
        rows.append(
            (
                name,
                cited,
                str(entry["year"]),
                f"{totals['params']:,}",
                summary.human(totals["macs"]),
                "x".join(str(d) for d in entry["input"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(
                c.rjust(w) if i in (3, 4) else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))
            ).rstrip()
        )
    return OK


def _zoo_name(args) -> str:
    from netspec import zoo

    if not args.name:
        raise UsageError(f"netspec zoo {args.action} NAME: which one? ({', '.join(zoo.names())})")
    try:
        zoo.path(args.name)
    except KeyError as problem:
        raise UsageError(str(problem.args[0]) if problem.args else str(problem)) from None
    return args.name


def cmd_init_weights(args) -> int:
    from netspec import weights

    checked = _check(args)
    if checked.analysis is not None and not checked.diagnostics.has_errors:
        weights.init_weights(checked.analysis, args.output, seed=args.seed, diagnostics=checked.diagnostics)
    status = _finish(checked.diagnostics, checked.spec.sources, quiet_info=not args.verbose)
    if status == OK:
        print(f"wrote {args.output}")
    return status


def cmd_run(args) -> int:
    import numpy as np

    from netspec import runtime, values

    for flag, count in (("--repeat", args.repeat), ("--threads", args.threads)):
        if count is not None and count < 1:
            raise UsageError(f"{flag} {count}: must be at least 1")
    named: set[str] = set()
    for text in args.input:  # NAME=DIMS and NAME=FILE.npy of one name: which would it run?
        name = text.partition("=")[0]
        if name in named:
            raise UsageError(f"--input {text}: input '{name}' is given twice")
        named.add(name)
    try:
        if args.file.endswith(".onnx"):
            _refuse_compile_options(args)
            model = args.file
            asked = dict(parse_dims(s) for s in args.input if not _is_file_input(s))
        else:
            from netspec.progress import Progress

            checked = _check(args)
            done = (
                _compile(args, checked, Progress())
                if checked.analysis and not checked.diagnostics.has_errors
                else None
            )
            status = _finish(checked.diagnostics, checked.spec.sources, quiet_info=not args.verbose)
            if done is None:
                return status or SPEC_ERRORS
            model = done.inline()
            asked = {}
        providers, note = runtime.choose_providers(args.provider)
        session, info = runtime.session(model, providers, note=note, threads=args.threads, tf32=args.tf32)
        shapes = runtime.asked_shapes(session, asked, args.batch)
        files = [spec for spec in args.input if _is_file_input(spec)]
        feeds, notes = runtime.load_inputs(files, session, shapes) if files else ({}, [])
        given = set(feeds)
        feeds.update(
            {
                k: v
                for k, v in runtime.random_feeds(session, seed=args.seed, shapes=shapes).items()
                if k not in given
            }
        )
        weights = runtime.weights_origin(session)
        if weights:
            notes.append(f"weights: {weights}")
        for line in notes:
            print(f"note: {line}", file=sys.stderr)
        print(info, file=sys.stderr)
        outputs, seconds = runtime.run_timed(session, feeds)
        for name, value in outputs.items():
            print(values.describe(name, value))
        first = f"first run: {seconds * 1000:.1f} ms"
        print(
            first + (" (warm-up, not counted below)" if args.repeat else "; --repeat N for steady latency"),
            file=sys.stderr,
        )
        if args.out:
            import io

            buffer = io.BytesIO()
            np.savez(
                buffer,
                **{f"in:{k}": v for k, v in feeds.items()},
                **{f"out:{k}": v for k, v in outputs.items()},
            )
            write_atomic(args.out, buffer.getvalue())
            print(f"wrote {args.out}", file=sys.stderr)
        if args.repeat:
            t = runtime.time(session, feeds, args.repeat)
            print(
                f"latency: median {t['median_ms']:.3f} ms, min {t['min_ms']:.3f} ms over {t['repeat']} runs; "
                f"throughput {t['throughput_per_s']:.1f}/s at batch {t['batch']}"
            )
    except runtime.RunError as problem:
        diagnostic = problem.diagnostic()
        print(render_all([diagnostic]), file=sys.stderr)
        return SPEC_ERRORS if diagnostic.blames_spec else CANNOT_RUN  # else: what was asked cannot run
    return OK


def cmd_fmt(args) -> int:
    from netspec import fmt
    from netspec.files import STDIN, read_file, read_stdin
    from netspec.source import SourceFile

    if len(args.files) > 1 and not (args.in_place or args.check or args.diff):
        raise UsageError("several files: give -i to rewrite them, or --check or --diff")
    if args.in_place and "-" in args.files:
        raise UsageError("-i rewrites files; standard input (-) has none to rewrite")
    zoo = [path for path in args.files if path.startswith("zoo:")]
    if args.in_place and zoo:
        raise UsageError(
            f"{zoo[0]} is part of netspec: -i cannot rewrite it; `netspec fmt {zoo[0]} > FILE` copies it"
        )
    status = OK
    for path in args.files:
        if path == "-":
            name, content = STDIN, read_stdin(errors="surrogateescape")
        else:
            name, content = path, read_file(_zoo_file(path), errors="surrogateescape")
        source = SourceFile(name, content)
        result, diagnostics = fmt.format_source(source)
        if result is None:  # the file does not parse: said, and left as it is
            _finish(diagnostics, {name: source})
            status = SPEC_ERRORS
            continue
        out = sys.stdout.buffer
        if args.diff and result != content:
            import difflib

            lines = difflib.unified_diff(
                content.splitlines(True), result.splitlines(True), f"{name}", f"{name} (formatted)"
            )
            out.write("".join(lines).encode("utf-8", "surrogateescape"))
        if args.check and result != content:
            out.write(f"{name}\n".encode("utf-8", "surrogateescape"))
            status = status or SPEC_ERRORS
        if args.in_place and result != content:  # the file itself, through a link, as it was kept
            real = os.path.realpath(path)
            write_atomic(real, result.encode("utf-8", "surrogateescape"), stat.S_IMODE(os.stat(real).st_mode))
        if not (args.in_place or args.check or args.diff):
            out.write(result.encode("utf-8", "surrogateescape"))
        out.flush()
    return status


def _zoo_file(path: str) -> str:
    """The file of a `zoo:NAME` path, else the path: the front end is imported for a zoo net only
    (fmt needs none of it)."""
    if not path.startswith("zoo:"):
        return path
    from netspec.frontend.load import resolve

    return resolve(path)


COMPILE_ONLY = (  # options that choose how a spec is read or compiled: a compiled .onnx cannot honour them
    ("stub", "--stub"),
    ("warn", "--warn"),
    ("allow", "--allow"),
    ("weights", "--weights"),
    ("opset", "--opset"),
    ("dynamic_batch", "--dynamic-batch"),
    ("no_fold", "--no-fold"),
    ("outputs", "--outputs"),
    ("phase", "--phase"),
    ("stage", "--stage"),
    ("level", "--level"),
)


def _refuse_compile_options(args) -> None:
    """`run model.onnx` with an option that only compiling a spec honours is a usage error, not an
    option silently ignored."""
    for dest, flag in COMPILE_ONLY:
        if getattr(args, dest) != args.parser.get_default(dest):
            raise UsageError(
                f"{flag} chooses how a spec is read or compiled; {args.file} is compiled already: run its "
                f".prototxt with {flag}, or compile it again with {flag}"
            )


def cmd_lsp(args) -> int:
    try:
        from netspec.lsp.server import serve
    except ImportError as problem:
        raise UsageError(
            f"the language server needs pygls and lsprotocol ({problem}): pip install 'netspec-compiler[lsp]'"
        ) from None
    serve()
    return OK


def cmd_layers(args) -> int:
    from netspec.dialects import listing

    sys.stdout.write(listing())
    return OK


def cmd_explain(args) -> int:
    from netspec import codes

    text = codes.explain(args.code)
    if text is None:
        raise UsageError(
            f"no diagnostic code {args.code!r}: netspec's codes are listed in docs/diagnostics.md"
        )
    print(text, end="")
    return OK


def _check_options(p: argparse.ArgumentParser) -> None:
    _add_net_options(p)
    p.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="text: diagnostics as a compiler prints them (default); json: diagnostics, layers and totals",
    )
    p.add_argument("--werror", action="store_true", help="treat warnings as errors")
    p.add_argument("-v", "--verbose", action="store_true", help="also show info diagnostics")
    p.set_defaults(run=cmd_check)


def _summary_options(p: argparse.ArgumentParser) -> None:
    _add_net_options(p)
    p.add_argument(
        "--format", choices=["table", "json", "csv"], default="table", help="how to print it (default: table)"
    )
    p.set_defaults(run=cmd_summary)


def _draw_options(p: argparse.ArgumentParser) -> None:
    _add_net_options(p)
    p.add_argument(
        "-o",
        "--output",
        help="a .svg, .html or .dot file (need nothing), or .png/.pdf (need rsvg-convert, or Graphviz "
        "with --engine dot); default: SVG on stdout",
    )
    _add_picture_options(p)
    p.add_argument(
        "--engine",
        choices=["netspec", "dot"],
        default="netspec",
        help="who lays the net out: netspec itself (default, needs nothing) or Graphviz's dot",
    )
    p.set_defaults(run=cmd_draw)


def _report_options(p: argparse.ArgumentParser) -> None:
    _add_net_options(p)
    _add_picture_options(p)
    p.add_argument("-o", "--output", required=True, metavar="NET.html")
    p.add_argument(
        "--weights",
        metavar="FILE.caffemodel",
        help="also draw the first convolution's filters and give every layer's weight statistics",
    )
    p.set_defaults(run=cmd_report)


def _view_options(p: argparse.ArgumentParser) -> None:
    _add_net_options(p)
    _add_picture_options(p)
    p.add_argument(
        "--port",
        type=int,
        default=None,
        help="the port on 127.0.0.1 (default: the first free one from 8765; 0: any free port)",
    )
    p.add_argument("--no-browser", action="store_true", help="print the URL only; do not open a browser")
    p.set_defaults(run=cmd_view)


def _upgrade_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help=SPEC_HELP)
    p.add_argument("-o", "--output", help="write here instead of standard output")
    p.set_defaults(run=cmd_upgrade)


def _compile_options(p: argparse.ArgumentParser) -> None:
    _add_net_options(p)
    _add_compile_options(p)
    p.add_argument("-o", "--output", help="the .onnx file to write (default: the spec's name)")
    p.add_argument("-v", "--verbose", action="store_true", help="also show info diagnostics")
    p.set_defaults(run=cmd_compile)


def _run_options(p: argparse.ArgumentParser) -> None:
    _add_net_options(p, "an .onnx model (compiled already), or a spec to compile first: " + SPEC_HELP)
    _add_compile_options(p)
    p.add_argument(
        "--provider",
        choices=["auto", "cuda", "cpu"],
        default="auto",
        help="auto: CUDA when it really loads, else CPU (default)",
    )
    p.add_argument(
        "--tf32",
        action="store_true",
        help="on CUDA, let convolutions and matrix products use TF32 tensor cores: faster, about 1e-3 "
        "relative error (default: off, float32 as Caffe computes)",
    )
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: physical cores)")
    p.add_argument("--out", metavar="OUT.npz", help="save inputs and outputs")
    p.add_argument("--repeat", type=int, metavar="N", help="time N runs: median, min, throughput")
    p.add_argument("-v", "--verbose", action="store_true", help="also show info diagnostics")
    p.set_defaults(run=cmd_run, parser=p)


def _init_weights_options(p: argparse.ArgumentParser) -> None:
    _add_net_options(p)
    p.add_argument("-o", "--output", required=True, metavar="W.caffemodel")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-v", "--verbose", action="store_true", help="also show info diagnostics")
    p.set_defaults(run=cmd_init_weights)


def _zoo_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "show", "path"])
    p.add_argument("name", nargs="?")
    p.set_defaults(run=cmd_zoo)


def _fmt_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="a .prototxt, or - for standard input")
    p.add_argument("-i", "--in-place", action="store_true", help="rewrite the files (atomically)")
    p.add_argument("--check", action="store_true", help="list the files that would change; exit 1 if any")
    p.add_argument("--diff", action="store_true", help="print a unified diff instead of the text")
    p.set_defaults(run=cmd_fmt)


def _lsp_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stdio", action="store_true", help="talk over standard input and output (the default)")
    p.set_defaults(run=cmd_lsp)


def _layers_options(p: argparse.ArgumentParser) -> None:
    p.set_defaults(run=cmd_layers)


def _explain_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("code", metavar="CODE", help="a code as netspec prints it, e.g. NS0320")
    p.set_defaults(run=cmd_explain)


class HelpFormatter(argparse.HelpFormatter):
    """argparse's, told the terminal's width by os rather than by shutil (COLUMNS, else the
    terminal's, else 80, as shutil says it): argparse makes one for every option it is given, and
    importing shutil (bz2, lzma and zlib with it) took 2 ms of every command's start."""

    def __init__(self, prog: str, **options) -> None:
        if options.get("width") is None:
            try:
                columns = (
                    int(os.environ.get("COLUMNS", 0)) or os.get_terminal_size(sys.__stdout__.fileno()).columns
                )
            except (AttributeError, ValueError, OSError):
                columns = 80
            options["width"] = (columns or 80) - 2
        super().__init__(prog, **options)


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "check": ("check a spec: syntax, schema, graph and every blob's shape", _check_options),
    "summary": ("per-layer shapes, parameters, multiply-adds, memory, receptive field", _summary_options),
    "draw": ("a picture of the net: layers, blob shapes, costs, diagnostics", _draw_options),
    "report": ("one self-contained HTML page: picture, table, diagnostics, cost charts", _report_options),
    "view": ("the net as a live local page that redraws when the file is saved", _view_options),
    "upgrade": ("print or write the V2 text of a V0/V1/V2 net", _upgrade_options),
    "compile": ("compile a spec to an ONNX model", _compile_options),
    "run": ("run an .onnx model, or a spec compiled on the fly, with onnxruntime", _run_options),
    "init-weights": ("write a .caffemodel of the spec's fillers (seeded)", _init_weights_options),
    "zoo": ("the networks that ship with netspec: list, show NAME, path NAME", _zoo_options),
    "fmt": ("print or rewrite specs in one canonical layout, comments kept", _fmt_options),
    "lsp": ("the language server, for editors (LSP over standard input and output)", _lsp_options),
    "layers": ("list the layer types netspec knows", _layers_options),
    "explain": ("what a diagnostic code means, and what to do about it", _explain_options),
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line's parser.  Given the arguments, and when the first of them names a command,
    only that command's options are built: argparse makes a help formatter for every option and
    looks up translations for every parser, 5-8 ms for all the commands, against under 1 ms for
    one (a whole `netspec check` of ResNet-152 takes about 150 ms)."""
    parser = argparse.ArgumentParser(
        prog="netspec", description=__doc__.splitlines()[0], formatter_class=HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"netspec {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in [argv[0]] if argv and argv[0] in COMMANDS else COMMANDS:
        help, options = COMMANDS[name]
        options(sub.add_parser(name, help=help, formatter_class=HelpFormatter))
    return parser


def _version() -> str:
    from netspec import __version__

    return __version__


def _spec_from_stdin(args) -> None:
    """`-` as the spec: standard input, read once (args.text), named <stdin> in what is said of it."""
    from netspec.files import STDIN, read_stdin

    if args.run is cmd_view:
        raise UsageError(
            "view follows a file as it changes; standard input (-) is read once: save it to a file"
        )
    args.file, args.text = STDIN, read_stdin()


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    try:
        _check_outputs(args)
        if getattr(args, "file", None) == "-":
            _spec_from_stdin(args)
        return args.run(args)
    except (LoadError, UsageError, CannotWrite) as problem:
        print(f"netspec: error: {problem}", file=sys.stderr)
        return CANNOT_RUN
    except BrokenPipeError:
        return OK
    except Exception as problem:  # a bug of ours: said like rustc's internal compiler error
        if os.environ.get("NETSPEC_BACKTRACE"):
            raise
        print(
            f"netspec: internal error: {type(problem).__name__}: {problem}\n"
            "note: this is a bug in netspec, not in your files; please report it with the command "
            "and the files it read\n"
            "note: run with NETSPEC_BACKTRACE=1 for the Python traceback",
            file=sys.stderr,
        )
        return INTERNAL_ERROR


def program() -> NoReturn:
    """The `netspec` program (its console script, and `python -m netspec`): main() in a process of
    its own, with the garbage collector set for it.  Its youngest generation is collected after
    200,000 allocations rather than 700 (as mypy does): a command builds tens of thousands of objects
    that live until it ends, few of them in cycles, and the collector went over them some 90 times
    (8 ms of `netspec check` on ResNet-152, which now needs no collection at all).  What is still
    alive when main returns is frozen out of the collector before the interpreter exits: the exit
    then frees it all the same, without one last collection over every object the command made
    (another 10-20 ms)."""
    gc.set_threshold(200_000, *gc.get_threshold()[1:])
    status = main()
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    program()
