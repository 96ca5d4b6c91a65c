"""Syntax tree + schema descriptors -> protobuf messages and a SourceMap.

The binder is schema-driven: every message type, field, enum and default
comes from proto/caffe.proto's descriptors, so a field added to the schema
reads with no change here.  Each problem is a diagnostic at the field's
position, and binding goes on past it, so one run reports every independent
mistake in a file.
"""

from __future__ import annotations

import math
from functools import cache

from google.protobuf import text_encoding
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from netspec.diagnostics import Diagnostic, Diagnostics, misspellings
from netspec.frontend.text import Field
from netspec.proto.wire import is_repeated
from netspec.source import Path, SourceMap

FD = FieldDescriptor
INTEGER_TYPES = {
    FD.TYPE_INT32: (-(2**31), 2**31 - 1),
    FD.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FD.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FD.TYPE_INT64: (-(2**63), 2**63 - 1),
    FD.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FD.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FD.TYPE_UINT32: (0, 2**32 - 1),
    FD.TYPE_FIXED32: (0, 2**32 - 1),
    FD.TYPE_UINT64: (0, 2**64 - 1),
    FD.TYPE_FIXED64: (0, 2**64 - 1),
}
FLOAT_TYPES = {FD.TYPE_FLOAT, FD.TYPE_DOUBLE}
SPECIAL_FLOATS = {"inf": math.inf, "infinity": math.inf, "nan": math.nan}
BOOLS = {"true": True, "t": True, "1": True, "false": False, "f": False, "0": False}
KIND_WORDS = {
    "number": "a number",
    "ident": "an identifier",
    "string": "a string",
    "list": "a list",
    "message": "a message block",
}


class _Mismatch(Exception):
    """A scalar's text does not fit its field; the message says why."""

    def __init__(self, message: str, help: str | None = None) -> None:
        super().__init__(message)
        self.help = help


# V1's LayerType was frozen when V2 came: a newer type (Crop, BatchNorm, ...) in a V1 net, as some
# forks' V1 files write, is refused by Caffe, which also refuses a net mixing `layers` and `layer`.
_V1_TYPES_HELP = {
    "caffe.V1LayerParameter.LayerType": (
        "V1 `layers { type: ... }` takes only these; newer types (Crop, BatchNorm, Scale, ...) exist "
        'only in V2 `layer { type: "..." }` blocks, and Caffe refuses a net with both: `netspec upgrade` '
        "the net without this layer, then add it in V2 form"
    )
}


def describe_type(field: FieldDescriptor) -> str:
    if field.type == FD.TYPE_MESSAGE:
        return f"a message ({field.message_type.name})"
    if field.type == FD.TYPE_ENUM:
        return f"an enum ({field.enum_type.name})"
    if field.type in INTEGER_TYPES:
        return "an unsigned integer" if INTEGER_TYPES[field.type][0] == 0 else "an integer"
    if field.type in FLOAT_TYPES:
        return "a number"
    if field.type == FD.TYPE_BOOL:
        return "true or false"
    return "a string" if field.type == FD.TYPE_STRING else "bytes (a string)"


def convert(field: FieldDescriptor, kind: str, text: str):
    """The Python value of one scalar token for `field`, or raise _Mismatch."""
    t = field.type
    if t in INTEGER_TYPES:
        if kind != "number":
            raise _Mismatch(f"expects {describe_type(field)}, found {_found(kind, text)}")
        body = text.replace(" ", "").replace("\t", "")
        try:
            value = int(body, 0) if body.lower().lstrip("-").startswith("0x") else int(body)
        except ValueError:
            raise _Mismatch(
                f"expects {describe_type(field)}, found {text}",
                help=f"write a whole number, e.g. {_whole(body)}" if _whole(body) else None,
            ) from None
        low, high = INTEGER_TYPES[t]
        if not low <= value <= high:
            raise _Mismatch(f"value {value} is out of range for {describe_type(field)} [{low}, {high}]")
        return value
    if t in FLOAT_TYPES:
        if kind == "number":
            body = "".join(text.split())  # the lexer allows space after a minus sign
            low = body.lower().lstrip("-")
            if low in SPECIAL_FLOATS:  # -inf, -nan: before the float suffix is stripped (inf ends in f)
                return math.copysign(SPECIAL_FLOATS[low], -1.0 if body.startswith("-") else 1.0)
            if "x" not in low:
                body = body.rstrip("fF")
            try:
                return float(int(body, 0)) if "x" in low else float(body)
            except ValueError:
                raise _Mismatch(f"expects a number, found {text}") from None
        if kind == "ident" and text.lower() in SPECIAL_FLOATS:
            return SPECIAL_FLOATS[text.lower()]
        raise _Mismatch(f"expects a number, found {_found(kind, text)}")
    if t == FD.TYPE_BOOL:
        if kind in ("ident", "number") and text.lower() in BOOLS and (kind == "number") == text.isdigit():
            return BOOLS[text.lower()]
        raise _Mismatch(f"expects true or false, found {_found(kind, text)}")
    if t == FD.TYPE_ENUM:
        enum = field.enum_type
        if kind == "ident":
            value = enum.values_by_name.get(text)
            if value is None:
                names = list(enum.values_by_name)
                import difflib  # a mistake's suggestion: imported only when there is one

                near = difflib.get_close_matches(text, names, n=1) or [
                    n for n in names if n.lower() == text.lower()
                ]
                raise _Mismatch(
                    f"'{text}' is not a value of {enum.name}; expected one of {', '.join(names)}",
                    help=f"did you mean {near[0]}?" if near else _V1_TYPES_HELP.get(enum.full_name),
                )
            return value.number
        if kind == "number":
            try:
                number = int(text)
            except ValueError:
                number = None
            if number is not None and number in enum.values_by_number:
                return number
            raise _Mismatch(
                f"{text} is not a value of {enum.name}; expected one of {', '.join(enum.values_by_name)}"
            )
        raise _Mismatch(f"expects {describe_type(field)}, found {_found(kind, text)}")
    # string and bytes
    if kind != "string":
        quoted = f'"{text}"'
        raise _Mismatch(
            f"expects {describe_type(field)}, found {_found(kind, text)}", help=f"quote it: {quoted}"
        )
    if t == FD.TYPE_BYTES:
        return text.encode() if isinstance(text, str) else text
    return text if isinstance(text, str) else text.decode("utf-8", errors="replace")


def _unquote(parts: list[tuple[str, int]]) -> str | bytes:
    """The value of adjacent string literals: text as is when nothing is escaped (the
    common case, kept fast), else bytes with C escapes resolved, as protobuf does."""
    bodies = [text[1:-1] for text, _ in parts]
    if not any("\\" in body for body in bodies):
        return "".join(bodies)
    return b"".join(text_encoding.CUnescape(body) for body in bodies)


def _found(kind: str, text: str) -> str:
    return f"{KIND_WORDS[kind]} ({text})" if kind in ("number", "ident") else KIND_WORDS[kind]


def _whole(text: str) -> str | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return str(int(value)) if value.is_integer() else None


@cache
def _fields_of(descriptor: Descriptor) -> dict[str, tuple[FieldDescriptor, bool, bool]]:
    """name -> (field, repeated, a message field): read once per message type, since
    descriptor attributes cost a call each and binding asks for them per field."""
    return {
        name: (fd, is_repeated(fd), fd.type == FD.TYPE_MESSAGE)
        for name, fd in descriptor.fields_by_name.items()
    }


@cache
def _homes(descriptor: Descriptor) -> dict[str, list[str]]:
    """For a message, which of its sub-message fields hold a field of a given name.

    Lets an unknown field say where it belongs: `kernel_size` written directly in
    a layer belongs in `convolution_param { ... }`.
    """
    homes: dict[str, list[str]] = {}
    for field in descriptor.fields:
        if field.type == FD.TYPE_MESSAGE and field.name.endswith("_param"):
            for inner in field.message_type.fields:
                homes.setdefault(inner.name, []).append(field.name)
    return homes


LAYERS = ("layer", "layers")
STRUCTURE = ("name", "type", "bottom", "top", "include", "exclude", "phase")


def places(name: str, blocks: tuple[str, ...]) -> bool:
    """Whether a field lost in a layer (`blocks`: the layer's block and those inside it around the
    field) may have been one that places the layer in the net: written in the layer itself (or a
    V0 layer's inner `layer` block) as (the start or a misspelling of) its name, type, a bottom,
    a top or its phase rules, or inside its include/exclude rules."""
    if len(blocks) == 1 or blocks == ("layers", "layer"):
        if any(word.startswith(name) for word in STRUCTURE):
            return True
        import difflib  # a mistake's judgement: imported only when there is one

        return bool(difflib.get_close_matches(name, STRUCTURE, n=1, cutoff=0.7))
    return blocks[1] in ("include", "exclude")


class Binder:
    """Binds fields into messages, recording every field's position."""

    def __init__(self, source_map: SourceMap, diagnostics: Diagnostics) -> None:
        self.map = source_map
        self.diagnostics = diagnostics
        self.source = source_map.source

    def bind(self, fields: list[Field], message: Message, path: Path = ()) -> Message:
        descriptor = message.DESCRIPTOR
        known = _fields_of(descriptor)
        names = self.map.names
        seen: dict[str, int] = {}
        for f in fields:
            entry = known.get(f.name)
            if entry is None:
                said = self._unknown(f, descriptor)
                misspelt = (said.help or "").startswith("did you mean")
                if not misspelt and _fork_block(f, descriptor, path):
                    self.map.fork_blocks.setdefault(path, []).append((f.name, said))
                    continue  # the layer is checked without it (nothing here depends on it)
                self._lost(path, f.name)
                continue
            fd, repeated, is_message = entry
            index = seen.get(f.name, 0)
            if index and not repeated:
                first = self.map.names.get(path + (f.name,))
                self.diagnostics.error(
                    "NS0106",
                    f"field '{f.name}' is given twice; {descriptor.name}.{f.name} holds one value",
                    self.source.span(f.offset, len(f.name)),
                    labels=[(self.source.span(first[0], len(f.name)), "first given here")] if first else [],
                    help="remove one of them, or merge them" if is_message else "remove one of them",
                )
                self._lost(path, f.name)
                continue
            here = path + ((f.name, index) if repeated else (f.name,))
            names[here] = (f.offset, len(f.name))
            if is_message:
                if f.kind != "message":
                    self._error(
                        f,
                        f"field '{f.name}' is {describe_type(fd)}, not a scalar",
                        help=f"write {f.name} {{ ... }}",
                    )
                    self._lost(path, f.name)
                    continue
                seen[f.name] = index + 1
                child = getattr(message, f.name).add() if repeated else getattr(message, f.name)
                if not repeated:
                    child.SetInParent()
                self.bind(f.value, child, here)
                continue
            bound = self._values(f, fd, repeated, message, path, here, index)
            if bound is not None:
                seen[f.name] = index + bound
        return message

    def _lost(self, path: Path, name: str) -> None:
        """Field `name` under `path` did not bind (its error said).  In a layer, later stages say
        no more of the layer: it is faulty (not checked) where the field may place it in the net,
        and otherwise mended (checked without the field, as the parser's dropped fields are)."""
        at = next((k for k, part in enumerate(path) if part in LAYERS and k + 1 < len(path)), None)
        if at is None or not isinstance(path[at + 1], int):
            return
        blocks = tuple(part for part in path[at:] if isinstance(part, str))
        layer = path[: at + 2]
        (self.map.faulty if places(name, blocks) else self.map.mended).add(layer)

    def _values(
        self,
        f: Field,
        fd: FieldDescriptor,
        repeated: bool,
        message: Message,
        path: Path,
        here: Path,
        index: int,
    ) -> int | None:
        """Bind a scalar field's value, or a list's values, into `message`; how many values it gave
        (the next index of a repeated field), or None where its form is wrong (said)."""
        if f.kind == "message":
            self._error(
                f,
                f"field '{f.name}' expects {describe_type(fd)}, not a message block",
                help=f"write {f.name}: <value>",
            )
            self._lost(path, f.name)
            return None
        if f.kind == "list":
            if not repeated:
                self._error(
                    f, f"field '{f.name}' holds one value, not a list", help=f"write {f.name}: <value>"
                )
                self._lost(path, f.name)
                return None
            items = [
                ("string", _unquote([(t, o)]), o, len(t))
                if t[0] in "\"'"
                else ("number" if _numberish(t) else "ident", t, o, len(t))
                for t, o in f.value
            ]
        elif f.kind == "string":
            items = [("string", _unquote(f.value), f.value_offset, len(f.value[0][0]))]
        else:
            items = [(f.kind, f.value, f.value_offset, len(f.value))]
        values = self.map.values
        target = getattr(message, f.name) if repeated else None
        for i, (kind, text, offset, size) in enumerate(items):
            try:
                value = convert(fd, kind, text)
            except _Mismatch as problem:
                self.diagnostics.error(
                    "NS0104" if fd.type == FD.TYPE_ENUM else "NS0105",
                    f"field '{f.name}' {problem}" if not str(problem).startswith("'") else str(problem),
                    self.source.span(offset, size),
                    help=problem.help,
                )
                self._lost(path, f.name)
                continue
            if repeated:
                target.append(value)
                values[path + (f.name, index + i)] = (offset, size)
            else:
                setattr(message, f.name, value)
                values[here] = (offset, size)
        return len(items)

    def _error(self, f: Field, message: str, help: str | None = None) -> None:
        self.diagnostics.error("NS0105", message, self.source.span(f.offset, len(f.name)), help=help)

    def _unknown(self, f: Field, descriptor: Descriptor) -> Diagnostic:
        import difflib  # a mistake's suggestion: imported only when there is one

        near = difflib.get_close_matches(f.name, list(_fields_of(descriptor)), n=3, cutoff=0.7)
        typos = misspellings(f.name, near)
        homes = _homes(descriptor).get(f.name, [])
        if typos:
            help_ = "did you mean " + " or ".join(f"'{n}'" for n in typos) + "?"
        elif homes:
            help_ = f"'{f.name}' belongs inside {homes[0]} {{ ... }}" + (
                f" (or {', '.join(homes[1:4])})" if len(homes) > 1 else ""
            )
        elif near:
            help_ = (
                f"'{f.name}' is not a misspelt '{near[0]}': perhaps a field of a fork netspec does "
                "not read (docs/dialects.md lists those it does)"
            )
        else:
            help_ = None
        return self.diagnostics.error(
            "NS0103",
            f"unknown field '{f.name}' in {descriptor.name}",
            self.source.span(f.offset, len(f.name)),
            help=help_,
        )


def _fork_block(f: Field, descriptor: Descriptor, path: Path) -> bool:
    """Whether an unknown field is shaped as a layer type's parameter block (`name_param { }`
    in a V2 layer, of a net or of the net a solver embeds): a fork's, read by Caffe built with
    that fork."""
    return (
        descriptor.name == "LayerParameter"
        and f.kind == "message"
        and f.name.endswith("_param")
        and len(path) >= 2
        and path[-2] == "layer"
    )


def _numberish(text: str) -> bool:
    head = text.lstrip("-").lstrip()
    return bool(head) and (head[0].isdigit() or head[0] == "." or text.startswith("-"))
