"""One version of an open document, checked exactly as `netspec check` checks it.

The server holds one Analysis per document: the Checked result of
netspec.pipeline.check over the editor's text (same code path, same codes),
plus what the editor features look things up by: LSP positions (UTF-16) to
offsets and back, and which field name or value of the text sits at an offset
(from the SourceMap the binder wrote, so it is exactly what was read).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from functools import cached_property

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from lsprotocol import types

from netspec.diagnostics import LINTS, Diagnostic, Severity, apply_lints
from netspec.frontend.select import TEST, TRAIN
from netspec.infer import LayerInfo
from netspec.pipeline import Checked, check
from netspec.proto import caffe_pb2
from netspec.source import Path, SourceFile, Span

SEVERITY = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFO: types.DiagnosticSeverity.Information,
}


@dataclass
class Options:
    """What `netspec check` takes on its command line, from the client's settings."""

    phase: int = TEST
    stages: list[str] | None = None
    level: int | None = None
    inputs: dict[str, tuple[int, ...]] = field(default_factory=dict)
    batch: int | None = None
    stubs: dict = field(default_factory=dict)  # netspec.stubs rules, by target
    warn: list[str] = field(default_factory=list)  # lints
    allow: list[str] = field(default_factory=list)


def options_from(settings: dict | None) -> tuple[Options, list[str]]:
    """Options from the client's settings ({"phase": "train", "stage": ["deploy"], "level": 1,
    "input": {"data": [1, 3, 224, 224]} or ["data=1x3x224x224"], "batch": 8, "stub":
    ["Python=identity"], "warn": ["tiling"], "allow": ["names"]}, as `check` takes them), and a
    line for each setting that could not be used: said to the user, never ignored in silence."""
    from netspec.options import UsageError, parse_dims, stub_rules

    options, problems = Options(), []
    for key, value in (settings or {}).items():
        try:
            if key == "phase" and value in ("test", "train"):
                options.phase = TRAIN if value == "train" else TEST
            elif key == "stage" and isinstance(value, (list, str)):
                options.stages = [value] if isinstance(value, str) else [str(v) for v in value]
            elif key == "level" and isinstance(value, int):
                options.level = value
            elif key == "batch" and isinstance(value, int) and value >= 1:
                options.batch = value
            elif key == "input" and isinstance(value, dict):
                options.inputs = {
                    str(k): parse_dims(f"{k}={'x'.join(map(str, v))}")[1] for k, v in value.items()
                }
            elif key == "input" and isinstance(value, list):
                options.inputs = dict(parse_dims(str(v)) for v in value)
            elif key == "stub" and isinstance(value, list):
                options.stubs = stub_rules([str(v) for v in value])
            elif key in ("warn", "allow") and isinstance(value, list) and set(value) <= set(LINTS):
                setattr(options, key, list(value))
            else:
                problems.append(f"netspec: setting {key}={value!r} is not one netspec can use; left out")
        except (UsageError, TypeError) as problem:
            problems.append(f"netspec: setting {key}: {problem}; left out")
    return options, problems


def _unused(checked: Checked, options: Options) -> list[str]:
    """Settings this text gives nothing to act on (an input it does not have, a stub for no layer
    of it), said as `check` says them for --input and --stub."""
    from netspec.options import UsageError, refuse_unknown_inputs, refuse_unknown_stubs

    said = []
    for refuse, given in ((refuse_unknown_inputs, options.inputs), (refuse_unknown_stubs, options.stubs)):
        try:
            refuse(checked, given)
        except UsageError as problem:
            said.append(f"netspec: setting {problem}; left out")
    return said


class Analysis:
    """One version of a document's text, checked."""

    def __init__(self, uri: str, path: str, text: str, version: int | None, options: Options) -> None:
        self.uri, self.path, self.text, self.version = uri, path, text, version
        self.checked: Checked = check(
            path,
            content=text,
            phase=options.phase,
            level=options.level,
            stages=options.stages,
            inputs=options.inputs,
            batch=options.batch,
            stubs=options.stubs,
        )
        apply_lints(self.checked.diagnostics, warn=options.warn, allow=options.allow)
        self.unused_settings = _unused(self.checked, options)
        self.source_map = self.checked.spec.source_map
        self.source: SourceFile = self.source_map.source
        solver = any(d.says_solver for d in self.checked.diagnostics)
        # the message the file's top level is, for completion and hover
        self.root: Descriptor = (caffe_pb2.SolverParameter if solver else caffe_pb2.NetParameter).DESCRIPTOR

    # -- positions

    @cached_property
    def _line_starts(self) -> list[int]:
        starts, at = [0], self.text.find("\n")
        while at != -1:
            starts.append(at + 1)
            at = self.text.find("\n", at + 1)
        return starts

    def offset(self, position: types.Position) -> int:
        starts = self._line_starts
        if position.line >= len(starts):
            return len(self.text)
        start = starts[position.line]
        end = starts[position.line + 1] - 1 if position.line + 1 < len(starts) else len(self.text)
        line = self.text[start:end]
        if line.isascii():
            return start + min(position.character, len(line))
        units = 0
        for i, char in enumerate(line):
            if units >= position.character:
                return start + i
            units += 2 if ord(char) > 0xFFFF else 1
        return end

    def position(self, offset: int) -> types.Position:
        line = bisect.bisect_right(self._line_starts, offset) - 1
        before = self.text[self._line_starts[line] : offset]
        units = len(before) if before.isascii() else len(before.encode("utf-16-le")) // 2
        return types.Position(line=line, character=units)

    def range(self, start: int, end: int) -> types.Range:
        return types.Range(start=self.position(start), end=self.position(end))

    def span_range(self, span: Span | None) -> types.Range:
        if span is None:
            return self.range(0, 0)
        start = self._line_starts[span.line - 1] + span.column - 1
        line_end = self.text.find("\n", start)
        line_end = len(self.text) if line_end == -1 else line_end
        return self.range(start, max(start, min(start + span.length, line_end)))

    # -- diagnostics, as `netspec check` shows them

    def diagnostics(self) -> list[types.Diagnostic]:
        return [self._diagnostic(d) for d in self.checked.diagnostics if d.severity is not Severity.INFO]

    def _diagnostic(self, d: Diagnostic) -> types.Diagnostic:
        """The LSP form: the secondary places (labels) are related information where they point,
        the notes and the help related information at the diagnostic itself."""
        where = self.span_range(d.span)
        said = [
            *((self.span_range(span), label) for span, label in d.labels),
            *((where, f"note: {n}") for n in d.notes),
            *([(where, f"help: {d.help}")] if d.help else []),
        ]
        related = [
            types.DiagnosticRelatedInformation(location=types.Location(uri=self.uri, range=at), message=text)
            for at, text in said
        ]
        return types.Diagnostic(
            range=where,
            message=d.message + "".join(f"\n{r.message}" for r in related),
            # a solver is a file an editor opens as any other: being one is said, not an error
            severity=types.DiagnosticSeverity.Information if d.says_solver else SEVERITY[d.severity],
            code=d.code,
            source="netspec",
            related_information=related or None,
        )

    # -- what is where

    @cached_property
    def _index(self) -> tuple[list[int], list[tuple[int, int, Path, bool]]]:
        """Every field name and value the binder read: (start, end, path, is a value), by start.
        A place recorded under several paths (an upgrade's remap) keeps the binder's first."""
        seen: dict[tuple[int, bool], tuple[int, int, Path, bool]] = {}
        for is_value, table in ((False, self.source_map.names), (True, self.source_map.values)):
            for path, (start, length) in table.items():
                seen.setdefault((start, is_value), (start, start + length, path, is_value))
        entries = sorted(seen.values(), key=lambda e: (e[0], e[1]))
        return [e[0] for e in entries], entries

    def at(self, offset: int) -> tuple[int, int, Path, bool] | None:
        """The field name or scalar value under `offset` (its start, end, path, is a value)."""
        starts, entries = self._index
        i = bisect.bisect_right(starts, offset) - 1
        if i >= 0 and entries[i][0] <= offset <= entries[i][1]:
            return entries[i]
        return None

    def blob_values(self) -> list[tuple[int, int, Path]]:
        """Every blob name of the text, in text order: each top and bottom, and each net-level
        `input` (which writes its blob as a top does)."""
        _, entries = self._index
        return [(s, e, p) for s, e, p, v in entries if v and is_blob(p)]

    def text_of(self, start: int, end: int) -> str:
        return self.text[start:end].strip("\"'")

    @cached_property
    def layer_starts(self) -> list[tuple[int, LayerInfo | None, Path]]:
        """Each layer of the file: where its `layer` keyword is, what the checker knows of it
        (None for a layer the phase leaves out, or when nothing was checked), its path."""
        infos = {}
        if self.checked.analysis is not None:
            infos = {info.layer.path: info for info in self.checked.analysis.layers}
        out = []
        for i in range(len(self.checked.spec.param.layer)):
            where = self.source_map.names.get(("layer", i))
            if where is not None:
                out.append((where[0], infos.get(("layer", i)), ("layer", i)))
        return sorted(out, key=lambda e: e[0])

    def layer_at(self, offset: int) -> tuple[int, LayerInfo | None, Path] | None:
        starts = self.layer_starts
        i = bisect.bisect_right([s for s, _, _ in starts], offset) - 1
        return starts[i] if i >= 0 else None


def is_blob(path: Path) -> bool:
    """Whether a value's path is a blob's name: a layer's top or bottom, or a net-level input."""
    return len(path) >= 2 and (path[-2] in ("top", "bottom") or (len(path) == 2 and path[0] == "input"))


def descriptor_at(path: Path, root: Descriptor | None = None) -> tuple[Descriptor, FieldDescriptor] | None:
    """The message and field a source path names (indices skipped), from `root` (NetParameter
    unless given) down."""
    message = root or caffe_pb2.NetParameter.DESCRIPTOR
    names = [p for p in path if isinstance(p, str)]
    for i, name in enumerate(names):
        fd = message.fields_by_name.get(name)
        if fd is None:
            return None
        if i == len(names) - 1:
            return message, fd
        if fd.type != FieldDescriptor.TYPE_MESSAGE:
            return None
        message = fd.message_type
    return None
