"""Diagnostics are values: every stage returns them alongside its result.

A diagnostic has a stable code (documented in docs/diagnostics.md), a
severity, a message, the span it points at, and optional notes and a help
line.  Rendering follows the compilers people already read:

    lenet.prototxt:12:5: error[NS0103]: unknown field 'kernal_size' in ConvolutionParameter
       12 |     kernal_size: 5
          |     ^^^^^^^^^^^
       = help: did you mean 'kernel_size'?
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from netspec.source import SourceFile, Span


def shape_text(shape: tuple | None) -> str:
    """A shape as netspec shows it to people, everywhere (diagnostics, tables, pictures), and as
    --input takes it: 1x3x224x224; "scalar" for 0-D; "?" for an unknown shape or axis."""
    if shape is None:
        return "?"
    return "x".join("?" if d is None else str(d) for d in shape) or "scalar"


class Severity(enum.IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2

    def __str__(self) -> str:
        return self.name.lower()


@dataclass
class Diagnostic:
    severity: Severity
    code: str
    message: str
    span: Span | None = None
    notes: list[str] = field(default_factory=list)
    help: str | None = None
    layer: str | None = None  # the Caffe layer the diagnostic is about, when there is one
    lint: str | None = None  # the lint group (LINTS) that --warn / --allow name, when it has one
    labels: list[tuple[Span, str]] = field(default_factory=list)  # secondary places, each with its label
    dropped_input: str | None = None  # a net input without a shape, which Caffe drops (said by NS0108)

    def _entry(self):
        from netspec.codes import CODES  # here: a file without errors never asks, nor loads its 161 entries

        return CODES.get(self.code)

    @property
    def stops_check(self) -> bool:
        """Whether checking cannot go on past it (the catalogue, netspec.codes, says which codes)."""
        entry = self._entry()
        return entry is not None and entry.stops

    @property
    def says_solver(self) -> bool:
        """Whether it says the file is a solver rather than a net (the catalogue says which codes)."""
        entry = self._entry()
        return entry is not None and entry.solver

    @property
    def blames_spec(self) -> bool:
        """Whether a run failing with it is the spec's fault (exit status 1) rather than the request's."""
        entry = self._entry()
        return entry is not None and entry.blames_spec

    def to_json(self) -> dict:
        record = {
            "severity": str(self.severity),
            "code": self.code,
            "message": self.message,
            "file": self.span.file if self.span else None,
            "line": self.span.line if self.span else None,
            "column": self.span.column if self.span else None,
        }
        if self.layer is not None:
            record["layer"] = self.layer
        if self.lint is not None:
            record["lint"] = self.lint
        if self.labels:
            record["labels"] = [
                {"file": s.file, "line": s.line, "column": s.column, "label": text} for s, text in self.labels
            ]
        if self.notes:
            record["notes"] = list(self.notes)
        if self.help:
            record["help"] = self.help
        return record


class Diagnostics:
    """An ordered collection of diagnostics that stages append to."""

    def __init__(self, items: Iterable[Diagnostic] = ()) -> None:
        self.items: list[Diagnostic] = list(items)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def add(self, diagnostic: Diagnostic) -> Diagnostic:
        self.items.append(diagnostic)
        return diagnostic

    def extend(self, other: Iterable[Diagnostic]) -> None:
        self.items.extend(other)

    def _make(self, severity: Severity, code: str, message: str, span: Span | None, **kw) -> Diagnostic:
        return self.add(Diagnostic(severity, code, message, span, **kw))

    def error(self, code: str, message: str, span: Span | None = None, **kw) -> Diagnostic:
        return self._make(Severity.ERROR, code, message, span, **kw)

    def warning(self, code: str, message: str, span: Span | None = None, **kw) -> Diagnostic:
        return self._make(Severity.WARNING, code, message, span, **kw)

    def info(self, code: str, message: str, span: Span | None = None, **kw) -> Diagnostic:
        return self._make(Severity.INFO, code, message, span, **kw)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)


# Lints: advice a design may deliberately ignore, in groups a user turns up or off by name, as
# rustc's -W/-A and clippy's groups do.  By default a lint warns only where the design likely did
# not mean it, and says the rest as infos (shown with -v).
LINTS = {
    "blocks": "a *_param block the layer's type never reads (NS0109): Caffe ignores it, so the layer "
    "runs with its defaults; usually a block copied from another layer or misnamed",
    "names": "two weightless layers of one name (NS0203): Caffe accepts them, but it is usually a "
    "copy-paste left unrenamed",
    "tiling": "windows that do not tile their input (NS0320): by default a warning only where real "
    "input goes unread beyond the stride's own gaps, or a pooling window lies mostly past the border",
}


def misspellings(name: str, near: list[str]) -> list[str]:
    """The close matches that `name` may be a misspelling of: not a known name that `name` holds
    with more around it (Yolov3DetectionOutput holds DetectionOutput, yolov3_detection_output_param
    detection_output_param), which is another fork's name, where renaming would change the net."""
    return [n for n in near if n.lower() not in name.lower() or len(name) - len(n) < 3]


def apply_lints(diagnostics: Diagnostics, *, warn: Iterable[str] = (), allow: Iterable[str] = ()) -> None:
    """--warn LINT: every diagnostic of the lint is a warning; --allow LINT: none is reported."""
    warn, allow = set(warn), set(allow)
    diagnostics.items = [d for d in diagnostics.items if d.lint is None or d.lint not in allow]
    for d in diagnostics.items:
        if d.lint in warn and d.severity is Severity.INFO:
            d.severity = Severity.WARNING


GROUP_NAMES = 8  # the other places a grouped diagnostic names


def _likeness(d: Diagnostic) -> tuple:
    """What repeats of one diagnostic share: severity, code, and the message but for the layer's
    name, quoted names and numbers."""
    message = d.message.replace(d.layer, "\0") if d.layer else d.message
    message = re.sub(r"\d+", "#", re.sub(r"'[^']*'", "'?'", message))
    return d.severity, d.code, message


def _place(d: Diagnostic) -> str:
    return d.layer or (str(d.span.line) if d.span else "?")


def group(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Repeats said once: the first of each set of like diagnostics (_likeness) in full, with a
    note naming where the others are, so a fork field on 24 layers is one error, not 24.  A set
    holds one diagnostic per layer (or line): two like ones on one layer differ in what they name
    (a Python source's two tops), so each leads a set of its own."""
    sets: dict[tuple, list[list[Diagnostic]]] = {}
    for d in diagnostics:
        like = sets.setdefault(_likeness(d), [])
        home = next((s for s in like if all(_place(o) != _place(d) for o in s)), None)
        if home is None:
            like.append([d])
        else:
            home.append(d)
    out = []
    for first, *rest in (s for like in sets.values() for s in like):
        if rest:
            by_layer = all(d.layer for d in rest)
            noun = "layers" if by_layer else "lines"
            places = list(
                dict.fromkeys(d.layer if by_layer else str(d.span.line) if d.span else "?" for d in rest)
            )
            shown = ", ".join(places[:GROUP_NAMES])
            more = f" and {len(places) - GROUP_NAMES} more" if len(places) > GROUP_NAMES else ""
            note = f"... and {len(rest)} more like it, at {noun} {shown}{more}"
            first = dataclasses.replace(first, notes=[*first.notes, note])
        out.append(first)
    return out


def _excerpt(span: Span, source: SourceFile, mark: str, label: str, gutter: int) -> list[str]:
    """A source line and, under `span`, a run of `mark` (^ for the primary place, - for a secondary
    one) followed by its label, as rustc draws them."""
    text = source.line_text(span.line).rstrip()
    width = max(1, min(span.length, len(text) - span.column + 1))
    underline = f"{' ' * (span.column - 1)}{mark * width}" + (f" {label}" if label else "")
    return [f" {span.line:>{gutter}} | {text}", f" {' ' * gutter} | {underline}"]


def render(diagnostic: Diagnostic, sources: dict[str, SourceFile] | None = None) -> str:
    """The text form: a location header, the source line with a caret, each labelled secondary place
    of the same file, then notes and help."""
    d = diagnostic
    head = f"{d.severity}[{d.code}]: {d.message}"
    if d.span is not None:
        head = f"{d.span.file}:{d.span.line}:{d.span.column}: {head}"
    lines = [head]
    source = (sources or {}).get(d.span.file) if d.span else None
    if source is not None and d.span is not None:
        shown = [s for s, _ in d.labels if s.file == d.span.file]
        gutter = len(str(max(s.line for s in [d.span, *shown])))
        lines += _excerpt(d.span, source, "^", "", gutter)
        for span, label in d.labels:
            if span.file == d.span.file:
                lines += _excerpt(span, source, "-", label, gutter)
    pad = "   " if d.span is not None else " "
    lines += [f"{pad}= note: {note}" for note in d.notes]
    if d.lint is not None and d.severity is not Severity.INFO:
        lines.append(f"{pad}= note: lint `{d.lint}`: `--allow {d.lint}` turns it off")
    if d.help:
        lines.append(f"{pad}= help: {d.help}")
    return "\n".join(lines)


def render_all(diagnostics: Iterable[Diagnostic], sources: dict[str, SourceFile] | None = None) -> str:
    return "\n\n".join(render(d, sources) for d in diagnostics)


def to_json(diagnostics: Iterable[Diagnostic]) -> str:
    import json  # here, not at the top: `netspec check` prints text and need not import it

    return json.dumps([d.to_json() for d in diagnostics], indent=2)
