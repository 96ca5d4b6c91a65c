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

import enum
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from netspec.source import SourceFile, Span


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


def render(diagnostic: Diagnostic, sources: dict[str, SourceFile] | None = None) -> str:
    """The text form: a location header, the source line with a caret, then notes and help."""
    d = diagnostic
    head = f"{d.severity}[{d.code}]: {d.message}"
    if d.span is not None:
        head = f"{d.span.file}:{d.span.line}:{d.span.column}: {head}"
    lines = [head]
    source = (sources or {}).get(d.span.file) if d.span else None
    if source is not None and d.span is not None:
        text = source.line_text(d.span.line).rstrip()
        gutter = " " * len(str(d.span.line))
        lines.append(f" {d.span.line} | {text}")
        width = max(1, min(d.span.length, len(text) - d.span.column + 1))
        lines.append(f" {gutter} | {' ' * (d.span.column - 1)}{'^' * width}")
    pad = "   " if d.span is not None else " "
    lines += [f"{pad}= note: {note}" for note in d.notes]
    if d.help:
        lines.append(f"{pad}= help: {d.help}")
    return "\n".join(lines)


def render_all(diagnostics: Iterable[Diagnostic], sources: dict[str, SourceFile] | None = None) -> str:
    return "\n\n".join(render(d, sources) for d in diagnostics)


def to_json(diagnostics: Iterable[Diagnostic]) -> str:
    return json.dumps([d.to_json() for d in diagnostics], indent=2)
