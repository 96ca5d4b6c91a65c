"""What the schema says of a field or an enum value: caffe.proto's comments, read once.

protobuf's descriptors keep names, types and defaults but drop comments, and
the comments in caffe.proto are the schema's documentation.  The .proto that
ships with netspec (the one caffe_pb2 is generated from) is read here, once
per process: a comment block attaches to the field or enum value right below
it and to the ones that follow it without a blank line (Caffe groups fields
under one comment: `pad`, `kernel_size`, `stride` ...), and a comment on the
declaration's own line attaches to it.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from google.protobuf.descriptor import Descriptor, EnumValueDescriptor, FieldDescriptor

FIELD = re.compile(r"^\s*(?:optional|repeated|required)\s+[\w.]+\s+(\w+)\s*=\s*\d+[^;]*;\s*(?://\s?(.*))?$")
ENUM_VALUE = re.compile(r"^\s*(\w+)\s*=\s*-?\d+\s*(?:\[[^\]]*\])?\s*;\s*(?://\s?(.*))?$")
OPEN = re.compile(r"^\s*(message|enum)\s+(\w+)\s*\{")


@cache
def comments() -> dict[str, str]:
    """Every field and enum value caffe.proto declares, by full name ('caffe.ConvolutionParameter.pad',
    'caffe.PoolingParameter.PoolMethod.MAX'), with the comments attached to it ("" when none)."""
    text = resources.files("netspec.proto").joinpath("caffe.proto").read_text()
    docs: dict[str, str] = {}
    scope: list[str] = ["caffe"]
    block: list[str] = []  # the comment lines read since the last blank line or declaration
    group: list[str] = []  # the comment over the run of declarations being read
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            block, group = [], []
            continue
        if stripped.startswith("//"):
            block.append(stripped[2:].strip())
            continue
        if block:
            group, block = block, []
        opened = OPEN.match(line)
        if opened:
            scope.append(opened.group(2))
            group = []
            continue
        if stripped.startswith("}"):
            scope.pop()
            group = []
            continue
        match = FIELD.match(line) or ENUM_VALUE.match(line)
        if match:
            said = [*group, match.group(2) or ""]
            docs[".".join([*scope, match.group(1)])] = "\n".join(s for s in said if s).strip()
    return docs


def field_doc(descriptor: Descriptor, field: FieldDescriptor) -> str:
    """Markdown for a field: its type, default and caffe.proto's comment."""
    from netspec.frontend.bind import describe_type, is_repeated

    head = f"**{descriptor.name}.{field.name}**: {describe_type(field)}"
    if is_repeated(field):
        head += ", repeated"
    elif field.has_default_value and field.type != FieldDescriptor.TYPE_MESSAGE:
        default = field.default_value
        if field.type == FieldDescriptor.TYPE_ENUM:
            default = field.enum_type.values_by_number[default].name
        elif isinstance(default, str):
            default = f'"{default}"'
        elif isinstance(default, bool):
            default = str(default).lower()
        head += f", default `{default}`"
    doc = comments().get(field.full_name)
    return head + (f"\n\n{doc}" if doc else "")


def enum_value_doc(value: EnumValueDescriptor) -> str:
    """Markdown for an enum value: which enum, its number and caffe.proto's comment."""
    head = f"**{value.type.name}.{value.name}** = {value.number}"
    doc = comments().get(f"{value.type.full_name}.{value.name}")
    return head + (f"\n\n{doc}" if doc else "")
