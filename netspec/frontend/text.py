"""Protobuf text -> a light syntax tree, parsed by the LALR tables of grammars/prototxt.lark.

lark builds the LALR(1) tables from the grammar; a tight driver of our own
runs them over tokens from one compiled regular expression.  That is the lean
path the speed target needs: lark's own lexer alone costs as much as
protobuf's whole text_format.Parse, and its parser loop as much again.  The
grammar stays the one definition of the syntax, and the tables give syntax
errors their "expected ..." lists.

The tree is made of `Field` tuples; positions are character offsets, turned
into lines and columns only when a diagnostic needs them.
"""

from __future__ import annotations

import contextlib
import enum
import re
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import NamedTuple

from netspec import grammars
from netspec.diagnostics import Diagnostics
from netspec.files import read_cached, write_cached
from netspec.source import SourceFile


class Field(NamedTuple):
    """One `name: value` or `name { ... }` of the text.

    kind is "number", "ident", "string", "list" or "message"; value is the
    token text for number and ident, a list of (text, offset) for string
    (adjacent literals) and list, and a list of Field for message.
    """

    kind: str
    name: str
    offset: int
    value: object
    value_offset: int


PUNCTUATION = {
    ":": "COLON",
    "{": "LBRACE",
    "}": "RBRACE",
    "<": "LESSTHAN",
    ">": "MORETHAN",
    "[": "LSQB",
    "]": "RSQB",
    ",": "COMMA",
    ";": "SEMICOLON",
}
DESCRIBE = {
    "NAME": "a field name or identifier",
    "NUMBER": "a number",
    "STRING": "a string",
    "$END": "end of file",
    **{term: f"'{char}'" for char, term in PUNCTUATION.items()},
}
VALUED = ("NUMBER", "NAME", "STRING")  # terminals whose text the tree keeps
VALUED_SET = frozenset(VALUED)
_END, _BAD = "_end", "_bad"


TABLES_FORMAT = 3  # bump when the cached form of the tables changes


def _lalr(grammar: str) -> dict:
    """The grammar's terminals, rules and LALR(1) tables, built by lark, as plain data:
    a reduce action names its rule by index into "rules", a rule is [origin, alias, expansion]
    with expansion [[symbol, filtered out], ...]."""
    from lark import Lark

    lark = Lark(grammar, parser="lalr", lexer="basic", maybe_placeholders=False)
    table = lark.parser.parser.parser.parse_table
    index = {rule: i for i, rule in enumerate(lark.rules)}
    return {
        "patterns": {t.name: t.pattern.to_regexp() for t in lark.terminals},
        "rules": [
            [
                str(rule.origin.name),
                rule.alias,
                [[str(s.name), bool(getattr(s, "filter_out", False))] for s in rule.expansion],
            ]
            for rule in lark.rules
        ],
        "states": {
            str(state): {
                str(symbol): [action.name == "Shift", arg if action.name == "Shift" else index[arg]]
                for symbol, (action, arg) in actions.items()
            }
            for state, actions in table.states.items()
        },
        "start": table.start_states["start"],
        "end": table.end_states["start"],
    }


@cache
def _tables() -> tuple:
    """The token regex, the LALR tables, and each rule compiled to a builder.

    Actions become (True, state) for a shift and (False, rule) for a reduce,
    where rule is (length, builder, symbol) with builder(values) -> node.

    The tables come from the cache folder (netspec.files.cache_dir) when it
    holds the tables of this very grammar (kept with the grammar's text as
    their key): building them (and importing lark) costs more than parsing
    ResNet-50.  A cache file that cannot be read or used is rebuilt; one that
    cannot be written is done without.
    """
    grammar = (Path(grammars.__file__).parent / "prototxt.lark").read_text()  # not importlib.resources: 30 ms
    name = f"prototxt-lalr-{TABLES_FORMAT}-{len(grammar)}.marshal"
    data = read_cached(name, grammar)
    with contextlib.suppress(ValueError, KeyError, TypeError, IndexError, AttributeError, re.error):
        if data is not None:
            return _compile_tables(data)
    data = _lalr(grammar)
    write_cached(name, grammar, data)
    return _compile_tables(data)


@cache
def lexeme_pairs_re() -> re.Pattern:
    """One token a match, comments included (for tools that keep them: fmt, the language server),
    as (whitespace before, token) groups; what terminal a token is, its first character says
    (lexeme_kind).  A character no token starts with is skipped over."""
    patterns = terminal_patterns()
    tokens = "|".join([patterns["COMMENT"], *(patterns[name] for name in VALUED)])
    return re.compile(f"((?:{patterns['WS']})?)({tokens}|[{re.escape(''.join(PUNCTUATION))}])", re.S)


LEXEME_KINDS = {"#": "COMMENT", '"': "STRING", "'": "STRING", **dict.fromkeys(PUNCTUATION, "PUNCT")}


def lexeme_kind(token: str) -> str:
    """COMMENT, STRING, PUNCT, NUMBER or NAME: a number starts with a digit, '.' or '-' (bare
    inf and nan are names, as the grammar lexes them)."""
    first = token[0]
    return LEXEME_KINDS.get(first) or ("NUMBER" if first.isdigit() or first in "-." else "NAME")


def terminal_patterns() -> dict[str, str]:
    """Each terminal of the grammar (NAME, NUMBER, STRING, COMMENT, WS, ...) as a regular expression."""
    return _tables()[4]


def _compile_tables(data: dict) -> tuple:
    """_tables from the data of _lalr."""
    patterns = data["patterns"]
    # One match per token: the skipped whitespace and comments lead each token,
    # and every terminal is a named group, so lastgroup is the token's type.
    token_re = re.compile(
        f"(?:{patterns['WS']}|{patterns['COMMENT']})*(?:"
        + "|".join(f"(?P<{name}>{patterns[name]})" for name in VALUED)
        + "".join(f"|(?P<{name}>{re.escape(char)})" for char, name in PUNCTUATION.items())
        + f"|(?P<{_END}>\\Z)|(?P<{_BAD}>.))",
        re.S,
    )
    compiled = [
        (len(expansion), _builder(origin, alias, [(n, bool(f)) for n, f in expansion]), origin)
        for origin, alias, expansion in data["rules"]
    ]
    states = {
        int(state): {
            symbol: (True, int(arg)) if shift else (False, compiled[arg])
            for symbol, (shift, arg) in actions.items()
        }
        for state, actions in data["states"].items()
    }
    return token_re, states, int(data["start"]), int(data["end"]), patterns


def _builder(origin: str, alias: str | None, expansion: list[tuple[str, bool]]) -> Callable[[list], object]:
    """How a reduction by the rule origin -> expansion (symbols, and whether each is filtered out)
    turns the values it pops into one node.

    Rules named with a leading underscore are inlined, as in lark: they build a
    flat list of what they keep (punctuation dropped, inlined lists spliced).
    A left-recursive list rule appends to the list it already built, so a block
    of n fields costs n appends, not n copies, and a rule that only renames one
    inlined list passes it on as it is.  The fields most files are made of
    (scalars, strings and message blocks) take their values straight from their
    places.
    """
    plan = tuple(DROP if cut else SPLICE if name.startswith("_") else KEEP for name, cut in expansion)
    if origin[0] == "_" or origin == "start":
        if plan == (SPLICE,):
            return _first
        if plan[:1] == (SPLICE,) and expansion[0][0] == origin:
            rest = [(i, what) for i, what in enumerate(plan) if i and what is not DROP]

            def grow(values: list) -> list:
                out = values[0]
                for i, what in rest:
                    (out.extend if what is SPLICE else out.append)(values[i])
                return out

            return grow

        return lambda values: _kept(plan, values)

    if alias in ("number", "ident"):  # NAME ":" value _sep?
        name_at, value_at = (i for i, what in enumerate(plan) if what is KEEP)

        def scalar(values: list) -> Field:
            name, offset = values[name_at]
            text, at = values[value_at]
            return Field(alias, name, offset, text, at)

        return scalar
    symbols = [name for name, _ in expansion]
    if alias == "message":  # NAME ":"? "{" _fields "}" _sep?
        inner_at = symbols.index("_fields")

        def block(values: list) -> Field:
            name, offset = values[0]
            return Field(alias, name, offset, values[inner_at], offset)

        return block
    if alias == "string":  # NAME ":" STRING _sep?, or NAME ":" STRING _strings _sep? (adjacent literals)
        first_at = symbols.index("STRING")
        more_at = symbols.index("_strings") if "_strings" in symbols else None

        def string(values: list) -> Field:
            name, offset = values[0]
            first = values[first_at]
            parts = [first] if more_at is None else [first, *values[more_at]]
            return Field(alias, name, offset, parts, first[1])

        return string

    def field(values: list) -> Field:
        kept = _kept(plan, values)
        name, offset = kept[0]
        rest = kept[1:]  # the list's scalars
        return Field(alias, name, offset, rest, rest[0][1] if rest else offset)

    return field


def _first(values: list) -> object:
    return values[0]


class _Plan(enum.Enum):
    """What a reduction does with each value it pops."""

    DROP = "punctuation the tree does not keep"
    KEEP = "a token or node, kept as one item"
    SPLICE = "an inlined rule's list, spliced into the node's"


DROP, KEEP, SPLICE = _Plan.DROP, _Plan.KEEP, _Plan.SPLICE


def _kept(plan: tuple[_Plan, ...], values: list) -> list:
    """The values a rule keeps, inlined lists spliced in."""
    out: list = []
    for what, value in zip(plan, values):
        if what is SPLICE:
            out.extend(value)
        elif what is KEEP:
            out.append(value)
    return out


class Mended(NamedTuple):
    """A field the tolerant parse dropped on its own (the rest of its block read as written)."""

    offset: int  # of its name
    name: str
    blocks: tuple[str, ...]  # the names of the blocks around it, outermost first


class Parsed(NamedTuple):
    """A file's fields, and where its syntax errors are (empty for text that parsed)."""

    fields: list[Field]
    errors: list[int]  # offsets of the syntax errors the tolerant parse recovered from
    damaged: list[int]  # offsets where it dropped text (a token, a field with what follows)
    mended: list[Mended]  # fields it dropped alone: a half-typed name, a name with no value


def parse(source: SourceFile, diagnostics: Diagnostics) -> list[Field] | None:
    """The fields of `source`, or None after reporting its syntax errors."""
    parsed = parse_tolerant(source, diagnostics)
    return None if parsed.errors else parsed.fields


def parse_tolerant(source: SourceFile, diagnostics: Diagnostics) -> Parsed:
    """The fields of `source`, recovered around its syntax errors, which are reported.

    Text that parses takes the lean LALR loop alone; only when it fails does the
    error-tolerant parse (netspec.frontend.recovery) read the text again.
    """
    fields = _parse_clean(source.text)
    if fields is not None:
        return Parsed(fields, [], [], [])
    from netspec.frontend import recovery

    return recovery.parse(source, diagnostics)


def _parse_clean(text: str) -> list[Field] | None:
    """The fields of `text`, or None at its first syntax error: the parser's hot path."""
    token_re, states, start, end, _ = _tables()
    state_stack = [start]
    value_stack: list = []
    valued = VALUED_SET
    for match in token_re.finditer(text):
        kind = match.lastgroup
        if kind == _END:
            break
        while True:
            action = states[state_stack[-1]].get(kind)
            if action is None:
                return None
            if action[0]:
                state_stack.append(action[1])
                value_stack.append((match.group(kind), match.start(kind)) if kind in valued else None)
                break
            size, build, symbol = action[1]
            if size:
                node = build(value_stack[-size:])
                del value_stack[-size:]
                del state_stack[-size:]
            else:
                node = build([])
            state_stack.append(states[state_stack[-1]][symbol][1])
            value_stack.append(node)
    while state_stack[-1] != end:
        action = states[state_stack[-1]].get("$END")
        if action is None:
            return None
        reduce(action[1], states, state_stack, value_stack)
    return value_stack[-1]


def recognizes(terminals: Iterable[str]) -> bool:
    """Whether the grammar accepts a sequence of terminals (NAME, LBRACE, ...): the parser's
    tables run with no tree built, for a tool that has the tokens already (fmt)."""
    _, states, start, end, _ = _tables()
    stack = [start]
    for kind in (*terminals, "$END"):
        while True:
            if kind == "$END" and stack[-1] == end:
                return True
            action = states[stack[-1]].get(kind)
            if action is None:
                return False
            if action[0]:
                stack.append(action[1])
                break
            size, _, symbol = action[1]
            if size:
                del stack[-size:]
            stack.append(states[stack[-1]][symbol][1])
    return stack[-1] == end


def reduce(rule: tuple, states: dict, state_stack: list, value_stack: list) -> None:
    """One reduction by `rule` (length, builder, symbol) on the parser's stacks."""
    size, build, symbol = rule
    if size:
        node = build(value_stack[-size:])
        del value_stack[-size:]
        del state_stack[-size:]
    else:
        node = build([])
    state_stack.append(states[state_stack[-1]][symbol][1])
    value_stack.append(node)
