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
import hashlib
import json
import os
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from netspec.diagnostics import Diagnostics
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
_END, _BAD = "_end", "_bad"


TABLES_FORMAT = 1  # bump when the cached form of the tables changes


def _lalr(grammar: str) -> dict:
    """The grammar's terminals, rules and LALR(1) tables, built by lark, as plain JSON-able data:
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


def cache_dir() -> Path:
    """Where netspec keeps what it can rebuild: $XDG_CACHE_HOME/netspec, else ~/.cache/netspec."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "netspec"


@cache
def _tables() -> tuple:
    """The token regex, the LALR tables, and each rule compiled to a builder.

    Actions become (True, state) for a shift and (False, rule) for a reduce,
    where rule is (length, builder, symbol) with builder(values) -> node.

    The tables come from a file in cache_dir() keyed by the grammar's hash when
    there is one: building them (and importing lark) costs more than parsing
    ResNet-50.  A cache file that cannot be read or used is rebuilt; one that
    cannot be written is done without.
    """
    grammar = resources.files("netspec.grammars").joinpath("prototxt.lark").read_text()
    key = hashlib.sha256(f"{TABLES_FORMAT}\n{grammar}".encode()).hexdigest()[:20]
    path = cache_dir() / f"prototxt-lalr-{key}.json"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError, IndexError, re.error):
        return _compile_tables(json.loads(path.read_text()))
    data = _lalr(grammar)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps(data))
        os.replace(partial, path)  # whole or not at all, should another process be reading it
    except OSError:
        with contextlib.suppress(OSError):
            partial.unlink()
    return _compile_tables(data)


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
    plan = tuple(0 if filtered else 2 if name.startswith("_") else 1 for name, filtered in expansion)
    if origin[0] == "_" or origin == "start":
        if plan == (2,):
            return _first
        if plan[:1] == (2,) and expansion[0][0] == origin:
            rest = [i for i, what in enumerate(plan) if i and what]

            def grow(values: list) -> list:
                out = values[0]
                for i in rest:
                    (out.extend if plan[i] == 2 else out.append)(values[i])
                return out

            return grow

        def flat(values: list) -> list:
            out: list = []
            for what, value in zip(plan, values):
                if what == 2:
                    out.extend(value)
                elif what == 1:
                    out.append(value)
            return out

        return flat

    if alias in ("number", "ident"):  # NAME ":" value _sep?
        name_at, value_at = (i for i, what in enumerate(plan) if what == 1)

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
        kept: list = []
        for what, value in zip(plan, values):
            if what == 2:
                kept.extend(value)
            elif what == 1:
                kept.append(value)
        name, offset = kept[0]
        rest = kept[1:]  # the list's scalars
        return Field(alias, name, offset, rest, rest[0][1] if rest else offset)

    return field


def _first(values: list) -> object:
    return values[0]


def parse(source: SourceFile, diagnostics: Diagnostics) -> list[Field] | None:
    """The fields of `source`, or None after reporting its syntax errors.

    After a syntax error the parser recovers in panic mode, so one run reports
    every independent mistake: it pops states until one can take the token (else
    drops the token), and stays quiet until it has shifted a few tokens again,
    which keeps one mistake from being reported as many.
    """
    token_re, states, start, end, _ = _tables()
    text = source.text
    state_stack = [start]
    value_stack: list = []
    valued = set(VALUED)
    failed = False
    quiet = 0  # tokens still to shift before another syntax error is reported
    skip_to = 0  # after an unterminated string, the rest of its line is skipped
    for match in token_re.finditer(text):
        kind = match.lastgroup
        if kind == _END:
            break
        offset = match.start(kind)
        if offset < skip_to:
            continue
        if kind == _BAD:
            failed = True
            skip_to = _bad_character(source, offset, diagnostics)
            quiet = RECOVERY_SHIFTS
            continue
        while True:
            action = states[state_stack[-1]].get(kind)
            if action is None:
                failed = True
                if not quiet:
                    token = (match.group(kind), offset)
                    _unexpected(source, states[state_stack[-1]], kind, token, diagnostics)
                quiet = RECOVERY_SHIFTS
                if _recover(states, state_stack, value_stack, kind):
                    continue
                break  # nothing can take this token: drop it
            if action[0]:
                state_stack.append(action[1])
                value_stack.append((match.group(kind), offset) if kind in valued else None)
                if quiet:
                    quiet -= 1
                break
            # A reduction, inline: this loop is the parser's hot path (see _reduce).
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
            if not quiet or not failed:
                _unexpected(source, states[state_stack[-1]], "$END", ("", len(text)), diagnostics)
            return None
        _reduce(action[1], states, state_stack, value_stack)
    return None if failed else value_stack[-1]


RECOVERY_SHIFTS = 3


def _reduce(rule: tuple, states: dict, state_stack: list, value_stack: list) -> None:
    size, build, symbol = rule
    if size:
        node = build(value_stack[-size:])
        del value_stack[-size:]
        del state_stack[-size:]
    else:
        node = build([])
    state_stack.append(states[state_stack[-1]][symbol][1])
    value_stack.append(node)


def _recover(states: dict, state_stack: list, value_stack: list, kind: str) -> bool:
    """Pop the stacks back to the innermost state that has an action for `kind`."""
    for depth in range(len(state_stack) - 1, -1, -1):
        if kind in states[state_stack[depth]]:
            del state_stack[depth + 1 :]
            del value_stack[depth:]
            return True
    return False


def _unexpected(source: SourceFile, actions: dict, kind: str, token: tuple, diagnostics: Diagnostics) -> None:
    text, offset = token
    expected = sorted(DESCRIBE[s] for s in actions if s in DESCRIBE)
    found = "end of file" if kind == "$END" else f"'{text}'"
    help_ = None
    if kind == "$END" and "'}'" in expected:
        help_ = "a '{' opened above is never closed; add the missing '}'"
    elif kind == "RBRACE" and "'>'" in expected:
        help_ = "the block opened with '<' closes with '>'"
    elif kind == "RBRACE" and "a number" not in expected:
        help_ = "this '}' closes no open block; remove it or add the '{' it belongs to"
    elif kind in ("NUMBER", "STRING") and expected == ["':'", "'<'", "'{'"]:
        help_ = "put ':' between a field name and its value"
    diagnostics.error(
        "NS0101",
        f"syntax error: unexpected {found}; expected {_or_list(expected)}",
        source.span(offset, max(len(text), 1)),
        help=help_,
    )


def _bad_character(source: SourceFile, offset: int, diagnostics: Diagnostics) -> int:
    """Report a character no token starts with; returns where lexing resumes."""
    char = source.text[offset]
    if char in "\"'":
        diagnostics.error(
            "NS0102",
            "unterminated string",
            source.span(offset),
            help=f"close the string with {char} on the same line",
        )
        end = source.text.find("\n", offset)
        return len(source.text) if end == -1 else end
    if char == "\ufeff":  # an editor's UTF-8 byte-order mark, which Caffe's parser refuses too
        diagnostics.error(
            "NS0102",
            "unexpected byte-order mark (U+FEFF); Caffe refuses it too",
            source.span(offset),
            help="save the file as UTF-8 without a BOM",
        )
    else:
        diagnostics.error("NS0102", f"unexpected character {char!r}", source.span(offset))
    return offset + 1


def _or_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
