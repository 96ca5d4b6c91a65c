"""`netspec fmt`: one canonical layout for prototxt text, nothing lost.

The layout is protobuf's own (text_format.MessageToString: one field a line,
two-space indentation, `name {` ... `}`), so builder output is already
canonical, with what a person wrote kept: every comment in its place (on its
own line, or trailing the field it follows), blank lines between fields
(collapsed to one), field order, and a message written on one line stays on
one line when it fits in WIDTH columns.  Values keep their text exactly
(escapes, number spellings; a minus sign written apart from its number, as
`- 2`, is joined to it); only what carries no meaning changes: the
optional ':' before a message, '<' '>' for braces, ',' and ';' separators,
whitespace.

Text that does not parse is not formatted: format_source returns None with
the syntax diagnostics.  As black checks its output's AST, the result is read
again and its tokens compared with the input's (those that carry meaning, and
every comment, in order), so a formatter bug cannot change a net's meaning or
lose a comment unnoticed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from netspec.diagnostics import Diagnostics
from netspec.frontend import text
from netspec.source import SourceFile

WIDTH = 100
INDENT = "  "
CLOSERS = {"{": "}", "<": ">"}
ANGLES = {"<": "{", ">": "}"}


@dataclass
class Comment:
    text: str
    blank_before: bool


class Node:
    """One field: a scalar (values: its token texts, several for adjacent strings), a list
    (values: the elements) or a message (children)."""

    __slots__ = ("blank_before", "children", "kind", "name", "one_line", "open_comment", "trailing", "values")

    def __init__(self, name: str, kind: str, blank_before: bool) -> None:
        self.name, self.kind, self.blank_before = name, kind, blank_before
        self.values: list[str] = []
        self.children: list[Node | Comment] = []
        self.one_line = False  # a message written on one line
        self.open_comment: str | None = None  # after the message's '{', on its line
        self.trailing: str | None = None  # after the field, on its last line


# A token: (kind, text, line, newlines before it); the file's start counts as a line break.
Token = tuple[str, str, int, int]
KIND, TEXT, LINE, BREAKS = range(4)


def _tokens(source: str) -> tuple[list[Token], bool]:
    """The tokens of the text, comments included, and whether they cover it (no character
    that starts no token was passed over)."""
    tokens: list[Token] = []
    append = tokens.append
    kinds, kind_of = text.LEXEME_KINDS, text.lexeme_kind
    line = 1
    breaks = 1
    covered = 0
    for space, token in text.lexeme_pairs_re().findall(source):
        covered += len(space) + len(token)
        if space:
            count = space.count("\n")
            line += count
            breaks += count
        kind = kinds.get(token[0]) or kind_of(token)
        if kind == "COMMENT":
            token = token.rstrip()
        elif kind == "NUMBER" and token[0] == "-" and not token[1].isalnum():  # '- 5', '-\n5': -5
            line += token.count("\n")
            token = "-" + token[1:].lstrip()
        append((kind, token, line, breaks))
        breaks = 0
    return tokens, covered == len(source.rstrip(" \t\f\r\n"))


def _terminals(tokens: list[Token]) -> Iterator[str]:
    """What the parser's tables call each token (comments are not for it)."""
    punctuation = text.PUNCTUATION
    for kind, token, _, _ in tokens:
        if kind == "PUNCT":
            yield punctuation[token]
        elif kind != "COMMENT":
            yield kind


class _Reader:
    """Recursive descent over the tokens of text the LALR parser accepted."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def comments(self, into: list[Node | Comment]) -> None:
        """Comments met inside a field, moved to their own lines before it."""
        while (token := self.peek()) is not None and token[KIND] == "COMMENT":
            into.append(Comment(self.take()[TEXT], False))

    def block(self, closer: str | None) -> tuple[list[Node | Comment], str | None]:
        """The items of a block up to `closer` (not taken), and a comment on the opening line."""
        items: list[Node | Comment] = []
        open_comment = None
        first = True
        while (token := self.peek()) is not None and token[TEXT] != closer:
            kind = token[KIND]
            if kind == "NAME":
                self.field(items)
            elif kind == "COMMENT":
                self.at += 1
                if not token[BREAKS] and items and isinstance(items[-1], Node):
                    items[-1].trailing = token[TEXT]
                elif not token[BREAKS] and first and closer is not None:
                    open_comment = token[TEXT]
                else:
                    items.append(Comment(token[TEXT], token[BREAKS] > 1))
            else:  # a separator between fields
                self.at += 1
            first = False
        return items, open_comment

    def field(self, items: list[Node | Comment]) -> None:
        name = self.take()
        moved: list[Node | Comment] = []
        self.comments(moved)
        if self.peek()[TEXT] == ":":
            self.at += 1
            self.comments(moved)
        opener = self.take()
        node = Node(name[TEXT], "scalar", name[BREAKS] > 1)
        value = opener[TEXT]
        if value in CLOSERS:
            node.kind = "message"
            node.children, node.open_comment = self.block(CLOSERS[value])
            node.one_line = self.take()[LINE] == opener[LINE] and node.open_comment is None
        elif value == "[":
            node.kind = "list"
            while (token := self.take())[TEXT] != "]":
                if token[KIND] == "COMMENT":
                    moved.append(Comment(token[TEXT], False))
                elif token[TEXT] != ",":
                    node.values.append(token[TEXT])
        else:
            node.values.append(value)
            if opener[KIND] == "STRING":
                while (token := self.peek()) is not None and token[KIND] == "STRING":
                    node.values.append(self.take()[TEXT])
        if moved:
            moved[0].blank_before = node.blank_before
            node.blank_before = False
            items.extend(moved)
        items.append(node)


def _inline(node: Node) -> str | None:
    """A message on one line, or None when something in it must have a line of its own."""
    if node.kind == "scalar":
        return f"{node.name}: {' '.join(node.values)}"
    if node.kind == "list":
        return f"{node.name}: [{', '.join(node.values)}]"
    if not node.one_line:
        return None
    parts = []
    for child in node.children:
        if isinstance(child, Comment) or child.trailing:
            return None
        part = _inline(child)
        if part is None:
            return None
        parts.append(part)
    return f"{node.name} {{ {' '.join(parts)} }}" if parts else f"{node.name} {{}}"


def _emit(items: list[Node | Comment], depth: int, out: list[str]) -> None:
    pad = INDENT * depth
    for i, item in enumerate(items):
        if item.blank_before and i:
            out.append("")
        if isinstance(item, Comment):
            out.append(pad + item.text)
            continue
        trailing = f"  {item.trailing}" if item.trailing else ""
        line = _inline(item)
        if line is not None and (item.kind != "message" or len(pad) + len(line) <= WIDTH):
            out.append(pad + line + trailing)
            continue
        out.append(f"{pad}{item.name} {{" + (f"  {item.open_comment}" if item.open_comment else ""))
        _emit(item.children, depth + 1, out)
        out.append(pad + "}" + trailing)


def layout(source: str) -> str:
    """The canonical text of `source`, which must parse."""
    return _layout(_tokens(source)[0])


def _layout(tokens: list[Token]) -> str:
    reader = _Reader(tokens)
    items, _ = reader.block(None)
    out: list[str] = []
    _emit(items, 0, out)
    return "\n".join(out) + "\n" if out else ""


def _essence(texts: list[str]) -> tuple[list[str], list[str]]:
    """The tokens that carry meaning, in order, and the comments, in order: what formatting must
    keep (a comment inside a field moves before it, so the two are compared apart).  Dropped:
    ',' and ';' (separators, or between list items), a ':' before a block; '<' '>' read as
    braces."""
    comments = [token for token in texts if token[0] == "#"]
    tokens = [token for token in texts if token[0] != "#"]
    out: list[str] = []
    for i, token in enumerate(tokens):
        if not (token in ",;" or (token == ":" and i + 1 < len(tokens) and tokens[i + 1] in CLOSERS)):
            out.append(ANGLES.get(token, token))
    return out, comments


class FormatterBug(Exception):
    """The formatted text would not mean what the input meant; nothing is written."""


def format_source(source: SourceFile) -> tuple[str | None, Diagnostics]:
    """The canonical layout of `source`, or None with the syntax diagnostics when it does not parse.

    The grammar's tables recognize the tokens fmt reads (no tree is built: the cheap way to know
    the text parses); text they refuse is parsed for its diagnostics."""
    diagnostics = Diagnostics()
    tokens, covered = _tokens(source.text)
    if not (covered and text.recognizes(_terminals(tokens))) and text.parse(source, diagnostics) is None:
        return None, diagnostics
    result = _layout(tokens)
    again = [token for _, token in text.lexeme_pairs_re().findall(result)]
    if _essence(again) != _essence([token[TEXT] for token in tokens]):
        raise FormatterBug(f"{source.path}: formatting would change the net's meaning; left as it is")
    return result, diagnostics
