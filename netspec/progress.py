"""A progress line on a terminal: a stage that takes over a second says so on stderr, with the
seconds it has taken so far, and the line is cleared when it ends.  Nothing at all where stderr
is not a terminal (a pipe, a file, a test), so logs and captured output stay as they were."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import TextIO

AFTER_S = 1.0  # a stage shorter than this says nothing
EVERY_S = 0.5  # how often the seconds are redrawn


class Progress:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty())

    @contextlib.contextmanager
    def stage(self, what: str) -> Iterator[None]:
        """Around a step of a command: `what` is said ("reading weights") once it passes AFTER_S."""
        if not self.enabled:
            yield
            return
        done = threading.Event()
        start = time.perf_counter()
        shown = threading.Event()

        def draw() -> None:
            if done.wait(AFTER_S):
                return
            while not done.is_set():
                self.stream.write(f"\r\x1b[Knetspec: {what}... {time.perf_counter() - start:.0f} s")
                self.stream.flush()
                shown.set()
                done.wait(EVERY_S)

        painter = threading.Thread(target=draw, daemon=True)
        painter.start()
        try:
            yield
        finally:
            done.set()
            painter.join()
            if shown.is_set():
                self.stream.write("\r\x1b[K")
                self.stream.flush()
