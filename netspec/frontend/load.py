"""From a file on disk to a V2 NetParameter with its SourceMap: the front end's entry point."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from netspec.diagnostics import Diagnostics
from netspec.files import LoadError, read_file
from netspec.frontend import bind as binder
from netspec.frontend import text
from netspec.frontend.upgrade import upgrade
from netspec.proto import caffe_pb2
from netspec.source import SourceFile, SourceMap

NET_FIELDS = set(caffe_pb2.NetParameter.DESCRIPTOR.fields_by_name)
SOLVER_FIELDS = set(caffe_pb2.SolverParameter.DESCRIPTOR.fields_by_name)
NET_ONLY, SOLVER_ONLY = NET_FIELDS - SOLVER_FIELDS, SOLVER_FIELDS - NET_FIELDS
SOLVER_NETS = ("net_param", "train_net_param")


@dataclass
class Spec:
    """A network definition as read: V2 form, with where each field came from."""

    param: caffe_pb2.NetParameter
    source_map: SourceMap
    diagnostics: Diagnostics
    sources: dict[str, SourceFile] = field(default_factory=dict)
    test_state: caffe_pb2.NetState | None = None  # a solver's first test_state, for its embedded net


def _report_undecodable(source: SourceFile, diagnostics: Diagnostics) -> None:
    """One warning at the first byte that was not UTF-8, counting the others."""
    first = source.text.find("\ufffd")
    if first < 0:
        return
    count = source.text.count("\ufffd")
    diagnostics.warning(
        "NS0005",
        "this file is not UTF-8: "
        + (f"{count} byte sequences" if count > 1 else "a byte sequence")
        + " read as U+FFFD (�), harmless in comments, but not in names or strings",
        source.span(first),
        help="save the file as UTF-8, e.g. `iconv -f GBK -t UTF-8 FILE` for a Chinese comment",
    )


def load_text(path: str, content: str | None = None) -> Spec:
    """Parse and bind a .prototxt (a net, or a solver that embeds one), then upgrade it to V2."""
    source = SourceFile(path, read_file(path) if content is None else content)
    diagnostics = Diagnostics()
    _report_undecodable(source, diagnostics)
    source_map = SourceMap(source)
    spec = Spec(caffe_pb2.NetParameter(), source_map, diagnostics, {path: source})
    tree, _, damaged, mended = text.parse_tolerant(source, diagnostics)
    names = {f.name for f in tree}
    if is_solver(names):
        solver = caffe_pb2.SolverParameter()
        binder.Binder(source_map, diagnostics).bind(tree, solver)
        return _from_solver(spec, solver, tree)
    binder.Binder(source_map, diagnostics).bind(tree, spec.param)
    if damaged or mended:
        _mark_damaged(tree, damaged, mended, source_map)
    spec.param = upgrade(spec.param, source_map, diagnostics)
    return spec


def is_solver(names: set[str]) -> bool:
    """Top-level fields that make a solver file: one only a solver has and none only a net has
    (a misspelt solver field, unknown to both, keeps a solver a solver)."""
    return bool(names & SOLVER_ONLY) and not names & NET_ONLY


def _mark_damaged(
    tree: list[text.Field], damaged: list[int], mended: list[text.Mended], source_map: SourceMap
) -> None:
    """A layer whose text the parser could not read whole (a token or field dropped around a
    syntax error) is faulty: checking it, or the layers that read its tops, would only guess.
    One that lost a single field which says nothing of its place in the net (not its name,
    type, bottoms, tops or phase) is mended: it is checked as if the field were not written
    yet, so the layers below keep their shapes while the field is being typed."""
    seen: dict[str, int] = {}
    for i, f in enumerate(tree):
        index = seen.get(f.name, 0)
        seen[f.name] = index + 1
        if f.name not in binder.LAYERS:
            continue
        end = tree[i + 1].offset if i + 1 < len(tree) else len(source_map.source.text) + 1
        lost = [m for m in mended if f.offset <= m.offset < end and m.blocks]  # (not a field after it)
        if any(f.offset <= at < end for at in damaged) or any(binder.places(m.name, m.blocks) for m in lost):
            source_map.faulty.add((f.name, index))
        elif lost:
            source_map.mended.add((f.name, index))


def _from_solver(spec: Spec, solver: caffe_pb2.SolverParameter, tree) -> Spec:
    """A solver file: read the net it embeds, or say which file holds its net."""
    for name in SOLVER_NETS:
        if solver.HasField(name):
            spec.diagnostics.info(
                "NS0002",
                f"this is a solver file; reading the net embedded in its '{name}'",
                spec.source_map.span((name,)),
            )
            spec.source_map.remap((name,), ())
            spec.param = upgrade(getattr(solver, name), spec.source_map, spec.diagnostics)
            if solver.test_state:
                spec.test_state = solver.test_state[0]
            return spec
    target = solver.net or solver.train_net or (solver.test_net[0] if solver.test_net else "")
    where = next((f for f in tree if f.name in ("net", "train_net", "test_net")), None)
    spec.diagnostics.error(
        "NS0001",
        "this is a solver file (training settings), not a network definition",
        spec.source_map.span((where.name,)) if where else spec.source_map.source.span(0),
        help=f"the net it trains is in '{target}'; pass that file instead"
        if target
        else "pass the .prototxt that defines the net",
    )
    return spec


def resolve(path: str) -> str:
    """A path as given, or a zoo entry named `zoo:NAME`."""
    if path.startswith("zoo:"):
        from netspec import zoo

        try:
            return zoo.path(path[4:])
        except zoo.ZooKeyError as unknown:
            raise LoadError(str(unknown)) from None
    return os.fspath(path)
