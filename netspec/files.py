"""Files: a spec's text read (or a LoadError that says why not); output files that are whole or
absent: what netspec writes never leaves half a file."""

from __future__ import annotations

import contextlib
import marshal
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO


class CannotWrite(OSError):
    """An output path netspec cannot write: its message says which and why (a usage error)."""


class LoadError(Exception):
    """An input could not be read at all (missing file, not text, not a net); exit status 2."""


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


def _is_device(path: str) -> bool:
    """Whether `path` (through links) is something other than a file or a folder."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


@contextlib.contextmanager
def atomic_output(
    path: str, check: Callable[[str], None] | None = None, mode: int | None = None
) -> Iterator[BinaryIO]:
    """A binary file that appears at `path` when the block ends without error, and not at all
    otherwise: written beside it under a temporary name, synced, renamed over it, with the
    permissions a plain open() would have given (the umask's, not mkstemp's 0600), or `mode`
    (a file rewritten keeps its own).  `check`, given
    the temporary file's path once it is whole, may raise to keep it from appearing.  Every output
    netspec writes goes through here; a place that cannot be written raises CannotWrite."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    problem = writable_problem(path)
    if problem:
        raise CannotWrite(f"cannot write {path}: {problem}")
    if _is_device(path):  # /dev/null, a FIFO: written to; a rename would put a file in its place
        try:
            with open(path, "wb") as out:
                yield out
        except OSError as error:
            raise CannotWrite(f"cannot write {path}: {error.strerror or error}") from None
        return
    import tempfile  # here: `netspec check` writes nothing and need not import it

    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    except OSError as error:
        raise CannotWrite(f"cannot write {path}: {error.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        if check is not None:
            check(temporary)
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(temporary, mode)
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


def open_to_read(path: str, what: str) -> BinaryIO:
    """`path` opened for reading in binary, or LoadError in the user's words (`what` names the
    kind of file a folder given is not: "network file", "weights file")."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise LoadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise LoadError(f"{path}: is a directory, not a {what}") from None
    except OSError as problem:
        raise LoadError(f"{path}: cannot read: {problem.strerror}") from None


def read_file(path: str, errors: str = "replace") -> str:
    """A spec file's text.  Bytes that are not UTF-8 (a comment saved as GBK or Latin-1, as
    real files have them) read as U+FFFD, which load_text reports; protobuf's tokenizer, and
    so Caffe, reads such files.  (errors="surrogateescape" keeps them, for a tool that writes
    the text back.)  A file with NUL bytes is binary: most likely a .caffemodel."""
    with open_to_read(path, "network file") as handle:
        try:
            data = handle.read()
        except OSError as problem:
            raise LoadError(f"{path}: cannot read: {problem.strerror}") from None
    return _spec_text(path, data, errors)


STDIN = "<stdin>"  # the name a spec read from standard input goes by in what is said of it


def read_stdin(errors: str = "replace") -> str:
    """A spec's text from standard input (given as `-`), read as read_file reads a file."""
    try:
        data = sys.stdin.buffer.read()
    except OSError as problem:
        raise LoadError(f"{STDIN}: cannot read: {problem.strerror}") from None
    return _spec_text(STDIN, data, errors)


def _spec_text(name: str, data: bytes, errors: str) -> str:
    if b"\0" in data:
        raise LoadError(f"{name}: {_binary(data)}")
    return data.decode("utf-8", errors=errors)


def npy_problem(problem: BaseException) -> str:
    """Why numpy.load could not read a .npy file, in a user's words: numpy takes a file without its
    header for pickled data, and says so."""
    text = str(problem)
    return "not a .npy file: numpy.save writes one" if "pickle" in text else text or "empty"


def _binary(data: bytes) -> str:
    """What a file with NUL bytes is, and what to do with it instead."""
    from netspec.proto.wire import CAFFEMODEL, ONNX, kind_of

    kind = kind_of(data[:4096], len(data))
    if kind == ONNX:
        return "is an ONNX model, not a network spec: `netspec run FILE` runs it"
    if kind == CAFFEMODEL:
        return (
            "is a binary Caffe weights file (.caffemodel), not a network spec: pass it with "
            "--weights, beside the .prototxt that defines the net"
        )
    for magic, what in BINARIES:
        if data.startswith(magic):
            return what
    return f"is not a text file (byte {data.index(0)} is NUL); netspec reads .prototxt text"


BINARIES = (  # files people give for a spec by mistake, by their first bytes
    (b"\x93NUMPY", "is a NumPy array (.npy), not a network spec: `--input NAME=FILE.npy` gives it to a net"),
    (b"PK\x03\x04", "is a zip archive (an .npz of arrays, or zipped files), not a network spec"),
    (b"\x1f\x8b", "is gzip-compressed, not a network spec: `gunzip` it first"),
    *(
        (bom, "is UTF-16 text: save it as UTF-8, e.g. `iconv -f UTF-16 -t UTF-8 FILE`")
        for bom in (b"\xff\xfe", b"\xfe\xff")
    ),
)


def cache_dir() -> Path:
    """Where netspec keeps what it can rebuild: $XDG_CACHE_HOME/netspec, else ~/.cache/netspec."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "netspec"


def read_cached(name: str, key: object) -> object | None:
    """What write_cached kept under `name` for this `key`, or None: no such file, one that cannot
    be read, or one kept for another key.  marshal's format, which needs no import."""
    with contextlib.suppress(OSError, ValueError, EOFError, TypeError, KeyError):
        kept = marshal.loads((cache_dir() / name).read_bytes())
        if kept["key"] == key:
            return kept["data"]
    return None


def write_cached(name: str, key: object, data: object) -> None:
    """Keep `data` (plain values: dicts, lists, strings, numbers) in the cache folder for `key`,
    whole or not at all should another process be reading it; a folder that cannot be written is
    done without."""
    path = cache_dir() / name
    partial = path.with_name(f".{name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(marshal.dumps({"key": key, "data": data}))
        os.replace(partial, path)
    except OSError:
        with contextlib.suppress(OSError):
            partial.unlink()
