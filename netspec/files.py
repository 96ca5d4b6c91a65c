"""Output files that are whole or absent: what netspec writes never leaves half a file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import BinaryIO


class CannotWrite(OSError):
    """An output path netspec cannot write: its message says which and why (a usage error)."""


def writable_problem(path: str) -> str | None:
    """Why a file cannot be written at `path` (its folder missing, not a folder, read-only; the
    path a folder), or None: asked before a command does its work, so it fails at once."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return "is a directory"
    if not os.path.exists(folder):
        return f"the folder {os.path.dirname(path) or folder} does not exist"
    if not os.path.isdir(folder):
        return f"{os.path.dirname(path)} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {os.path.dirname(path) or '.'} is not writable"
    return None


@contextlib.contextmanager
def atomic_output(path: str) -> Iterator[BinaryIO]:
    """A binary file that appears at `path` when the block ends without error, and not at all
    otherwise: written beside it under a temporary name, synced, renamed over it, with the
    permissions a plain open() would have given (the umask's, not mkstemp's 0600).  Every output
    netspec writes goes through here; a place that cannot be written raises CannotWrite."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    problem = writable_problem(path)
    if problem:
        raise CannotWrite(f"cannot write {path}: {problem}")
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    except OSError as error:
        raise CannotWrite(f"cannot write {path}: {error.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError) and not isinstance(error, CannotWrite):
            raise CannotWrite(f"cannot write {path}: {error.strerror or error}") from None
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where the OS allows
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
