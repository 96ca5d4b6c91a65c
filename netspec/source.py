"""Source text and positions: what a diagnostic points at."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """A place in a source file: 1-based line and column, and a length in characters."""

    file: str
    line: int
    column: int
    length: int = 1


class SourceFile:
    """A file's text with an offset -> (line, column) index built once."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self._line_starts = [0]
        find = text.find
        pos = find("\n")
        while pos != -1:
            self._line_starts.append(pos + 1)
            pos = find("\n", pos + 1)

    def span(self, offset: int, length: int = 1) -> Span:
        line = bisect.bisect_right(self._line_starts, offset)
        return Span(self.path, line, offset - self._line_starts[line - 1] + 1, max(length, 1))

    def line_text(self, line: int) -> str:
        """The text of 1-based line `line`, without its newline."""
        if not 1 <= line <= len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end == -1 else self.text[start:end]


Path = tuple  # a field path into a message: ("layer", 3, "convolution_param", "kernel_size", 0)


@dataclass
class SourceMap:
    """Where each field of a bound message came from.

    Paths name fields as protobuf does, with the index of a repeated element
    after its field name.  Positions are kept as (offset, length) pairs and
    turned into spans only when a diagnostic asks, which keeps binding cheap.
    A path with no entry of its own resolves to its nearest recorded ancestor,
    so a later stage can always point somewhere.
    """

    source: SourceFile | None = None
    names: dict[Path, tuple[int, int]] = field(default_factory=dict)
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    # Layers (("layer", 3)) whose fields did not bind: their errors are reported, and
    # checking them further would only report the same mistake again.
    faulty: set[Path] = field(default_factory=set)
    # Layers read without one field the parser dropped (a half-typed one, its error reported):
    # checked as if it were not written yet, and nothing said of them or the layers they feed.
    mended: set[Path] = field(default_factory=set)
    # Unknown `*_param { }` blocks of layers, by layer: perhaps a fork's block for the layer's
    # type.  Each holds its NS0103; the checker takes it back where the type is stubbed or
    # unknown (netspec.infer), since Caffe built with that fork reads the block.
    fork_blocks: dict[Path, list[tuple[str, object]]] = field(default_factory=dict)

    def span(self, path: Path, *, value: bool = False) -> Span | None:
        """The span of the field at `path` (its value's, with `value=True`)."""
        if self.source is None:
            return None
        if path and isinstance(path[-1], str) and path not in self.names and path + (0,) in self.names:
            path = path + (0,)  # a repeated field named without an index: its first element
        while path:
            hit = (
                (value and (self.values.get(path) or self.values.get(path + (0,))))
                or self.names.get(path)
                or self.names.get(path + (0,))
            )
            if hit:
                return self.source.span(*hit)
            path = path[:-1]
        return None

    def remap(self, old: Path, new: Path) -> None:
        """Make every position recorded under `old` answer for `new` too."""
        n = len(old)
        for table in (self.names, self.values):
            for path in [p for p in table if p[:n] == old]:
                table.setdefault(new + path[n:], table[path])
        self.alias_marks(old, new)

    def alias_marks(self, old: Path, new: Path) -> None:
        """Let the layer marks (faulty, mended, fork blocks) recorded under `old` hold under `new` too."""
        n = len(old)
        for marked in (self.faulty, self.mended):
            marked.update(new + path[n:] for path in list(marked) if path[:n] == old)
        self.fork_blocks.update(
            {new + path[n:]: blocks for path, blocks in list(self.fork_blocks.items()) if path[:n] == old}
        )

    def move_marks(self, moved: Callable[[Path], Path]) -> None:
        """Re-key every layer mark by `moved` (layers renumbered by an upgrade)."""
        for marked in (self.faulty, self.mended):
            shifted = {moved(p) for p in marked}
            marked.clear()
            marked.update(shifted)
        forks = {moved(p): blocks for p, blocks in self.fork_blocks.items()}
        self.fork_blocks.clear()
        self.fork_blocks.update(forks)
