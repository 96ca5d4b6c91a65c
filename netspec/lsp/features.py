"""The editor features, each a function of one checked document (netspec.lsp.document.Analysis)
and the request's position: hover, completion, definition, references, rename, symbols, code
actions, formatting.  No ONNX, no lowering: everything here reads what `check` computed."""

from __future__ import annotations

import re

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from lsprotocol import types

from netspec import summary
from netspec.diagnostics import Diagnostics
from netspec.frontend import text as syntax
from netspec.infer import LayerInfo
from netspec.layers.base import shape_text
from netspec.lsp import schema
from netspec.lsp.document import Analysis, descriptor_at, is_blob

LAYER_FIELDS = ("name", "type", "top")
OPENERS = {"{": "}", "<": ">"}

# -- hover


def hover(doc: Analysis, offset: int) -> types.Hover | None:
    hit = doc.at(offset)
    if hit is None:
        return None
    start, end, path, is_value = hit
    text = _hover_text(doc, path, is_value, doc.text_of(start, end))
    if not text:
        return None
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text), range=doc.range(start, end)
    )


def _hover_text(doc: Analysis, path: tuple, is_value: bool, value: str) -> str | None:
    # a solver's own fields are SolverParameter's; the net it embeds is read as a net's
    found = descriptor_at(path) or descriptor_at(path, doc.root)
    if found is None:
        return None
    message, fd = found
    names = [p for p in path if isinstance(p, str)]
    in_layer = names[:1] in (["layer"], ["layers"]) and len(names) == 2
    if is_value and names == ["input"] and doc.checked.analysis is not None:  # a net-level input
        info = next((i for i in doc.checked.analysis.layers if value in [t.name for t in i.layer.tops]), None)
        if info is not None:
            return _layer_text(info)
    if is_value and in_layer and names[1] in LAYER_FIELDS:
        located = doc.layer_at(doc.source_map.names.get(path[:2], (0, 0))[0])
        if located is not None and located[1] is not None:
            return _layer_text(located[1])
    if is_value and in_layer and names[1] == "bottom":
        located = doc.layer_at(doc.source_map.names.get(path[:2], (0, 0))[0])
        info = located[1] if located else None
        blob = next((b for b in info.layer.bottoms if b.name == value), None) if info else None
        if blob is not None:
            shape = doc.checked.analysis.shape(blob)
            by = f" (written by '{blob.producer.name}')" if blob.producer else ""
            return f"reads **{value}**: `{shape_text(shape)}`{by}"
    if is_value and fd.type == FieldDescriptor.TYPE_ENUM:
        enum_value = fd.enum_type.values_by_name.get(value)
        if enum_value is not None:
            return schema.enum_value_doc(enum_value)
    return schema.field_doc(message, fd)


def _layer_text(info: LayerInfo) -> str:
    layer = info.layer
    lines = [f"**{layer.name}** ({layer.type})", ""]
    for blob, shape in zip(layer.tops, info.tops):
        lines.append(f"- output **{blob.name}**: `{shape_text(shape)}`")
    if any(shape is None for shape in info.tops):  # not shaped: its sizes are not 0 but unknown
        lines.append("- parameters, multiply-adds: not known until the shapes it reads are")
        return "\n".join(lines)
    lines.append(
        f"- parameters: {info.params:,}" + (f" (+{info.buffers:,} statistics)" if info.buffers else "")
    )
    lines.append(f"- multiply-adds: {summary.human(info.macs)}")
    if info.receptive:
        size = "x".join(f"{s:g}" for s, _ in info.receptive)
        stride = "x".join(f"{t:g}" for _, t in info.receptive)
        lines.append(f"- receptive field: {size}, stride {stride}")
    return "\n".join(lines)


# -- completion


def completion(doc: Analysis, offset: int) -> list[types.CompletionItem]:
    """What may be typed at `offset`, from the text before it (which may not parse)."""
    line_start = doc.text.rfind("\n", 0, offset) + 1
    before = doc.text[line_start:offset]
    blocks, layer_start = _enclosing(doc.text, offset)
    message = _message_of(blocks, doc.root)
    if message is None:
        return []
    quoted = re.search(r"(\w+)\s*:\s*[\"']([^\"']*)$", before)
    if quoted:
        name = quoted.group(1)
        if name == "type" and blocks[-1:] in (["layer"], ["layers"]):
            from netspec.layers import REGISTRY

            return [_item(t, types.CompletionItemKind.Class, REGISTRY[t].family) for t in sorted(REGISTRY)]
        if name == "bottom" and blocks[-1:] in (["layer"], ["layers"]):
            return [
                _item(b, types.CompletionItemKind.Variable, "a blob above")
                for b in _blobs_above(doc, layer_start)
            ]
        if name == "type" and message.full_name == "caffe.FillerParameter":
            from netspec.fillers import TYPES

            return [_item(t, types.CompletionItemKind.Value, "a filler Caffe has") for t in TYPES]
        return []
    bare = re.search(r"(\w+)\s*:\s*(\w*)$", before)
    if bare:
        fd = message.fields_by_name.get(bare.group(1))
        if fd is not None and fd.type == FieldDescriptor.TYPE_ENUM:
            return [
                _item(v.name, types.CompletionItemKind.EnumMember, schema.enum_value_doc(v))
                for v in fd.enum_type.values
            ]
        if fd is not None and fd.type == FieldDescriptor.TYPE_BOOL:
            return [_item(v, types.CompletionItemKind.Value, None) for v in ("true", "false")]
        return []
    if re.search(r"(?:^|[\s{<;,])\w*$", before):
        return [
            _item(
                fd.name,
                types.CompletionItemKind.Module
                if fd.type == FieldDescriptor.TYPE_MESSAGE
                else types.CompletionItemKind.Field,
                schema.field_doc(message, fd),
            )
            for fd in message.fields
        ]
    return []


def _item(label: str, kind: types.CompletionItemKind, doc: str | None) -> types.CompletionItem:
    return types.CompletionItem(
        label=label,
        kind=kind,
        documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=doc) if doc else None,
    )


def _enclosing(source: str, offset: int) -> tuple[list[str], int]:
    """The names of the blocks open at `offset` (outermost first), and where the last top-level
    block before it starts (the layer it is in, when it is in one).  A block of the outermost one's
    name opened at the start of a line starts anew, as the tolerant parser reads it."""
    blocks: list[str] = []
    last_name, last_at = None, 0
    outer = 0
    for match in syntax.lexeme_pairs_re().finditer(source, 0, offset):
        token = match.group(2)
        kind = syntax.lexeme_kind(token)
        if kind == "NAME":
            last_name, last_at = token, match.start(2)
        elif kind == "PUNCT" and token in OPENERS:
            if blocks and blocks[0] == last_name and source[last_at - 1 : last_at] in ("", "\n"):
                blocks.clear()  # the block above was left open
            blocks.append(last_name or "?")
            if len(blocks) == 1:
                outer = last_at
        elif kind == "PUNCT" and token in ("}", ">") and blocks:
            blocks.pop()
    return blocks, outer


def _message_of(blocks: list[str], message: Descriptor) -> Descriptor | None:
    for name in blocks:
        fd = message.fields_by_name.get(name)
        if fd is None or fd.type != FieldDescriptor.TYPE_MESSAGE:
            return None
        message = fd.message_type
    return message


def _blobs_above(doc: Analysis, before: int) -> list[str]:
    """The tops of the layers written above offset `before`, in order, once each."""
    seen: dict[str, None] = {}
    for i, layer in enumerate(doc.checked.spec.param.layer):
        where = doc.source_map.names.get(("layer", i))
        if where is not None and where[0] < before:
            seen.update(dict.fromkeys(layer.top))
    return list(seen)


# -- blobs: definition, references, rename


def _blob_at(doc: Analysis, offset: int) -> tuple[int, int, tuple, str] | None:
    hit = doc.at(offset)
    if hit is None or not hit[3] or not is_blob(hit[2]):
        return None
    start, end, path, _ = hit
    return start, end, path, doc.text_of(start, end)


def definition(doc: Analysis, offset: int) -> types.Location | None:
    """On a bottom: the top that wrote the value it reads (in an in-place chain, the last)."""
    found = _blob_at(doc, offset)
    if found is None or found[2][-2] != "bottom":
        return None
    located = doc.layer_at(doc.source_map.names.get(found[2][:2], (0, 0))[0])
    info = located[1] if located else None
    blob = next((b for b in info.layer.bottoms if b.name == found[3]), None) if info else None
    if blob is None or blob.producer is None:
        return None
    producer = blob.producer
    k = next(i for i, t in enumerate(producer.tops) if t is blob)
    span = doc.source_map.span(producer.path + ("top", k), value=True)
    return types.Location(uri=doc.uri, range=doc.span_range(span))


def references(doc: Analysis, offset: int) -> list[types.Location]:
    """Every top, bottom and net-level input that names the blob under `offset`."""
    found = _blob_at(doc, offset)
    if found is None:
        return []
    return [
        types.Location(uri=doc.uri, range=doc.range(s, e))
        for s, e, _ in doc.blob_values()
        if doc.text_of(s, e) == found[3]
    ]


def prepare_rename(doc: Analysis, offset: int) -> types.PrepareRenamePlaceholder | None:
    """What a rename at `offset` would rename: a blob's name (without its quotes), or nothing."""
    found = _blob_at(doc, offset)
    if found is None:
        return None
    start, end, _, name = found
    inner = (start + 1, end - 1) if doc.text[start] in "\"'" else (start, end)
    return types.PrepareRenamePlaceholder(range=doc.range(*inner), placeholder=name)


def rename(doc: Analysis, offset: int, new_name: str) -> types.WorkspaceEdit | None:
    """Rename a blob: every top, bottom and net-level input of that name (an in-place chain is
    one name).  ValueError for a name a blob cannot have in the text."""
    found = _blob_at(doc, offset)
    if found is None:
        return None
    bad = re.search(r"[\"'\\\r\n]", new_name)
    if bad or not new_name:
        said = f"cannot hold {bad.group()!r}" if bad else "cannot be empty"
        raise ValueError(f"a blob's name {said}: it is written between quotes")
    edits = []
    for s, e, _ in doc.blob_values():
        if doc.text_of(s, e) == found[3]:
            quote = doc.text[s] if doc.text[s] in "\"'" else '"'
            edits.append(types.TextEdit(range=doc.range(s, e), new_text=f"{quote}{new_name}{quote}"))
    return types.WorkspaceEdit(changes={doc.uri: edits})


# -- outline


def symbols(doc: Analysis) -> list[types.DocumentSymbol]:
    """The layers, with their types and output shapes: the outline and the breadcrumb."""
    out = []
    starts = doc.layer_starts
    for k, (start, info, path) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(doc.text)
        while end > start and doc.text[end - 1].isspace():
            end -= 1
        param = doc.checked.spec.param.layer[path[1]]
        name_at = doc.source_map.values.get(path + ("name",))
        select = doc.range(name_at[0], name_at[0] + name_at[1]) if name_at else doc.range(start, start + 5)
        detail = param.type
        if info is not None:
            detail += " → " + ", ".join(shape_text(s) for s in info.tops)
        out.append(
            types.DocumentSymbol(
                name=param.name or f"layer {path[1]}",
                detail=detail,
                kind=types.SymbolKind.Class,
                range=doc.range(start, max(end, doc.offset(select.end))),
                selection_range=select,
            )
        )
    return out


# -- code actions


MEANT = re.compile(r"did you mean '?([^'?]+)'?(?: or|\?)")
READS_IT = re.compile(r"reads (\w+); did you mean it\?")  # NS0109's help, where the type reads one block


def code_actions(doc: Analysis, diagnostics: list[types.Diagnostic]) -> list[types.CodeAction]:
    """Each 'did you mean' becomes a quick fix (NS0109's "X reads Y; did you mean it?" renames the
    block to Y), and an unclosed block gets its '}'."""
    actions = []
    for d in diagnostics:
        if d.source != "netspec":
            continue
        # the help is related information, and a line of the message for a client that keeps none
        said = [r.message for r in d.related_information or []] or d.message.split("\n")[1:]
        helps = [line for line in said if line.startswith("help: ")]
        for help_ in helps:
            for meant in READS_IT.findall(help_)[:1] or MEANT.findall(help_)[:1]:
                start, end = doc.offset(d.range.start), doc.offset(d.range.end)
                old = doc.text[start:end]
                new = f"{old[0]}{meant}{old[0]}" if old[:1] in ("'", '"') else meant
                actions.append(
                    _fix(doc, f"change to {new}", d, [types.TextEdit(range=d.range, new_text=new)])
                )
        if "is never closed" in d.message:
            actions.append(_fix(doc, "insert the missing '}'", d, [_closer_edit(doc, d)]))
    return actions


def _fix(doc: Analysis, title: str, d: types.Diagnostic, edits: list[types.TextEdit]) -> types.CodeAction:
    return types.CodeAction(
        title=title,
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[d],
        is_preferred=True,
        edit=types.WorkspaceEdit(changes={doc.uri: edits}),
    )


def _closer_edit(doc: Analysis, d: types.Diagnostic) -> types.TextEdit:
    """The '}' on a line of its own, indented as the brace's line: before the line where the
    parser found the block had ended (the diagnostic's label), or after the file's last line."""
    brace = doc.offset(d.range.start)
    line_start = doc.text.rfind("\n", 0, brace) + 1
    head = doc.text[line_start:brace]
    closer = f"{head[: len(head) - len(head.lstrip())]}{'}' if doc.text[brace] == '{' else '>'}\n"
    labels = [
        r.location.range.start
        for r in d.related_information or []
        if not r.message.startswith(("note:", "help:"))
    ]
    ran_out = labels[0] if labels else doc.position(len(doc.text))
    if doc.offset(ran_out) >= len(doc.text.rstrip()) - 1:  # the file's end
        end = doc.position(len(doc.text))
        closer = closer if doc.text.endswith("\n") or not doc.text else "\n" + closer
        return types.TextEdit(range=types.Range(start=end, end=end), new_text=closer)
    at = types.Position(line=ran_out.line, character=0)
    return types.TextEdit(range=types.Range(start=at, end=at), new_text=closer)


# -- formatting


def formatting(doc: Analysis, within: types.Range | None = None) -> list[types.TextEdit] | None:
    """`netspec fmt`'s edit; None when the text does not parse (fmt leaves such text as it is).
    For a range: the top-level fields on its lines, each from the start of its line to the next
    one's, are laid out as fmt lays them out, and the rest of the file is left as it is."""
    from netspec import fmt

    result, _ = fmt.format_source(doc.source)
    if result is None:
        return None
    if within is None:
        return (
            [types.TextEdit(range=doc.range(0, len(doc.text)), new_text=result)] if result != doc.text else []
        )
    tree = syntax.parse(doc.source, Diagnostics())
    bounds = sorted({doc.text.rfind("\n", 0, f.offset) + 1 for f in tree} | {len(doc.text)})
    first, last = doc.offset(types.Position(line=within.start.line, character=0)), doc.offset(within.end)
    start = max([b for b in bounds if b <= first] or [0])
    end = min([b for b in bounds if b > last] or [len(doc.text)])
    old = doc.text[start:end]
    new = fmt.layout(old) + ("\n" if re.search(r"\n[ \t]*\n\s*$", old) else "")
    return [types.TextEdit(range=doc.range(start, end), new_text=new)] if new != old else []
