"""The error-tolerant parse: what text.parse_tolerant falls back to when the clean LALR loop fails.

A file mid-edit is the normal case for an editor, so a syntax error must be
reported once, where the mistake is, and the rest of the file still read.
This parser runs the same LALR tables as the clean loop, over the same
tokens, with repairs for the mistakes people make:

- an unclosed '{' is found by indentation: a '}' that starts a line indented
  as an outer block's opening line closes that block, so the blocks opened
  inside it since were never closed; a `layer {` at the start of a line, in a
  file whose layers start there, closes what is still open; and at the end of
  the file what is still open is closed.  Each is reported at its own brace.
- a field name with no value (`bot` half typed, or `stride:` before a '}' or
  before the next line's field, which would read as its value) is reported at
  the name and dropped; a value after a name with no ':' gets the ':'.
- bare words where one value goes (`name: small net`) are one error on their
  line, and read as the string they were meant to be.
- a string with no closing quote ends at its line's end; one with no opening
  quote (`name: conv1"`) is one error, read as the string it was meant to be.
- anything else: panic mode.  The parser pops states until one can take the
  token (else drops it), and stays quiet until it has shifted a few tokens
  again, which keeps one mistake from being reported as many.

What the repairs could not keep (a dropped token or field) is listed in
Parsed.damaged, so that the layer it was in is not checked further; a field
dropped on its own (a half-typed name, a name with no value or with a value
that did not lex) is listed in Parsed.mended instead, with the blocks around
it, for the reader to judge whether the rest of its layer can still be checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from netspec.diagnostics import Diagnostics
from netspec.frontend.text import (
    _BAD,
    _END,
    DESCRIBE,
    VALUED_SET,
    Field,
    Mended,
    Parsed,
    _tables,
    reduce,
)
from netspec.source import SourceFile, Span

RECOVERY_SHIFTS = 3
TEMPLATE = re.compile(r"\$\{\w+\}|\$\w+")  # a shell variable standing for a value: ${NUM_LABELS}
CLOSER = {"LBRACE": "RBRACE", "LESSTHAN": "MORETHAN"}
CHAR = {"LBRACE": "{", "LESSTHAN": "<", "RBRACE": "}", "MORETHAN": ">"}
VALUES = ("NUMBER", "STRING", "NAME")


class Token(NamedTuple):
    kind: str
    text: str
    offset: int


class Open(NamedTuple):
    """A block being read: its brace, the field it belongs to, and its line's indentation."""

    token: Token
    name: str
    indent: int
    depth: int  # the parser's stack height with the brace on it


def parse(source: SourceFile, diagnostics: Diagnostics) -> Parsed:
    parser = _Parser(source, diagnostics)
    held = None
    for token in parser.lex():  # one token behind the lexer, to see the one that follows
        if held is not None:
            parser.feed(held, token)
        held = token
    if held is not None:
        parser.feed(held, None)
    parser.finish()
    return Parsed(parser.fields(), parser.errors, parser.damaged, parser.mended)


class _Parser:
    def __init__(self, source: SourceFile, diagnostics: Diagnostics) -> None:
        self.source, self.text, self.diagnostics = source, source.text, diagnostics
        self.token_re, self.states, start, self.end, _ = _tables()
        self.state_stack = [start]
        self.value_stack: list = []
        self.opens: list[Open] = []
        self.shifted: list[Token] = []  # the tokens shifted so far
        self.quiet = 0  # tokens still to shift before another syntax error is reported
        self.skip_to = -1  # bare words: the rest of their line is read already
        self.unbalanced = 0  # how many more blocks open than close in the text: the closers to find
        self.errors: list[int] = []
        self.damaged: list[int] = []
        self.mended: list[Mended] = []
        self.unlexed: list[int] = []  # offsets of the characters no token starts with

    # -- the text around a token

    def line_start(self, offset: int) -> int:
        return self.text.rfind("\n", 0, offset) + 1

    def indent(self, offset: int) -> int:
        """The indentation of the line holding `offset`."""
        start = self.line_start(offset)
        at = start
        while at < len(self.text) and self.text[at] in " \t":
            at += 1
        return at - start

    def starts_line(self, offset: int) -> bool:
        return not self.text[self.line_start(offset) : offset].strip()

    def same_line(self, a: int, b: int) -> bool:
        return "\n" not in self.text[min(a, b) : max(a, b)]

    def line_of(self, offset: int) -> int:
        return self.source.span(offset).line

    # -- reporting

    def error(self, code: str, message: str, offset: int, length: int, *, lossy: bool, **kw) -> None:
        self.errors.append(offset)
        if lossy:
            self.damaged.append(offset)
        self.diagnostics.error(code, message, self.source.span(offset, length), **kw)
        self.quiet = RECOVERY_SHIFTS

    # -- lexing, with the string repairs

    def lex(self) -> Iterator[Token]:
        """The tokens, each given once the next is lexed (a quote after a word repairs the word)."""
        text = self.text
        for match in self.token_re.finditer(text):  # braces first: how many closers are missing
            kind = match.lastgroup
            self.unbalanced += (kind in CLOSER) - (kind in ("RBRACE", "MORETHAN"))
        tokens: list[Token] = []  # the last one or two, the one before last already given
        skip_to = 0
        for match in self.token_re.finditer(text):
            kind = match.lastgroup
            if kind == _END:
                break
            offset = match.start(kind)
            if offset < skip_to:
                continue
            if len(tokens) > 1:
                yield tokens.pop(0)
            if kind != _BAD:
                tokens.append(Token(kind, match.group(kind), offset))
                continue
            char = text[offset]
            if char in "\"'":
                skip_to = self.unterminated(tokens, char, offset)
            elif char == "\ufeff":  # an editor's UTF-8 byte-order mark, which Caffe's parser refuses too
                self.error(
                    "NS0102",
                    "unexpected byte-order mark (U+FEFF); Caffe refuses it too",
                    offset,
                    1,
                    lossy=False,
                    help="save the file as UTF-8 without a BOM",
                )
            elif placeholder := TEMPLATE.match(text, offset):
                self.unlexed.append(offset)
                self.error(
                    "NS0102",
                    f"template placeholder {placeholder.group()}: this file is a template that a script "
                    "fills in (DeepLab's run scripts use sed)",
                    offset,
                    len(placeholder.group()),
                    lossy=True,
                    help="substitute the placeholders' values first, as Caffe reads no placeholder either",
                )
                skip_to = placeholder.end()
            else:
                self.unlexed.append(offset)
                self.error("NS0102", f"unexpected character {char!r}", offset, 1, lossy=True)
        yield from tokens

    def unterminated(self, tokens: list[Token], quote: str, offset: int) -> int:
        """A quote with no partner on its line: a missing opening quote when it ends a word
        (`conv1"`), else a string that runs to the line's end.  Returns where lexing resumes."""
        word = tokens[-1] if tokens else None
        if word and word.kind in ("NAME", "NUMBER") and word.offset + len(word.text) == offset:
            fixed = f"{quote}{word.text}{quote}"
            self.error(
                "NS0102",
                f"string {word.text}{quote} has no opening quote",
                word.offset,
                len(word.text) + 1,
                lossy=False,
                help=f"write {fixed}",
            )
            tokens[-1] = Token("STRING", fixed, word.offset)
            return offset + 1
        end = self.text.find("\n", offset)
        end = len(self.text) if end == -1 else end
        self.error(
            "NS0102",
            "unterminated string",
            offset,
            1,
            lossy=True,
            help=f"close the string with {quote} on the same line",
        )
        body = self.text[offset + 1 : end].rstrip("\r").replace("\\", "\\\\").replace(quote, "\\" + quote)
        tokens.append(Token("STRING", f"{quote}{body}{quote}", offset))
        return end

    # -- parsing

    def feed(self, token: Token, following: Token | None) -> None:
        if token.offset < self.skip_to and token.kind in ("NAME", "NUMBER"):
            return
        if self.unbalanced <= 0:
            pass  # every block is closed somewhere: no closer is missing to look for
        elif token.kind in ("RBRACE", "MORETHAN") and self.opens and self.starts_line(token.offset):
            self.close_by_indentation(token)
        elif (
            token.kind == "NAME"
            and len(self.opens) > 0
            and following is not None
            and following.kind in CLOSER
            and self.opens[0].indent == 0
            and self.opens[0].name == token.text
            and self.indent(token.offset) == 0
            and self.starts_line(token.offset)
        ):
            where = self.source.span(token.offset, len(token.text))
            self.close_all(token.offset, where, f"'{token.text} {{' starts here, still inside the block")
        self.shift(token)

    def close_by_indentation(self, closer: Token) -> None:
        """A '}' that starts a line indented as an outer block's opening line closes that block."""
        indent = self.indent(closer.offset)
        if indent >= self.opens[-1].indent:
            return
        for k in range(len(self.opens) - 2, -1, -1):
            if self.opens[k].indent == indent:
                outer = self.opens[k]
                while len(self.opens) > k + 1:
                    inner = self.opens[-1]
                    self.unclosed(
                        inner,
                        self.source.span(closer.offset),
                        f"indented as line {self.line_of(outer.token.offset)}, this "
                        f"'{CHAR[closer.kind]}' closes '{outer.name} {CHAR[outer.token.kind]}'",
                    )
                    self.close(inner, closer.offset)
                return

    def close_all(self, at: int, where: Span, label: str) -> None:
        """Close every open block at `at`; the innermost is reported as the one left open, with
        `label` at `where`, where the parser found it had ended."""
        first = True
        while self.opens:
            inner = self.opens[-1]
            if first:
                self.unclosed(inner, where, label)
                first = False
            self.close(inner, at)

    def unclosed(self, block: Open, where: Span, label: str) -> None:
        if any(e > block.token.offset for e in self.errors):
            return  # an error inside the block came first; it may have swallowed the closer
        char = CHAR[block.token.kind]
        self.error(
            "NS0101",
            f"syntax error: this '{char}' ('{block.name} {char}') is never closed",
            block.token.offset,
            1,
            lossy=False,
            labels=[(where, label)],
            help=f"add the '{CHAR[CLOSER[block.token.kind]]}' that ends '{block.name}'",
        )

    def close(self, block: Open, at: int) -> None:
        """Feed the closer of `block`, dropping a field left half written before it."""
        kind = CLOSER[block.token.kind]
        if kind not in self.states[self.state_stack[-1]]:
            self.damaged.append(at)  # a field left half written
        self.unbalanced -= 1
        self.shift(Token(kind, CHAR[kind], at), synthetic=True)
        if self.opens and self.opens[-1] is block:  # it could not be closed: its state is gone
            self.opens.pop()

    def pop_to(self, kind: str) -> bool:
        """Pop the stacks back to the innermost state that has an action for `kind`."""
        states, state_stack, value_stack = self.states, self.state_stack, self.value_stack
        for depth in range(len(state_stack) - 1, -1, -1):
            if kind in states[state_stack[depth]]:
                del state_stack[depth + 1 :]
                del value_stack[depth:]
                self.forget_popped_blocks()
                return True
        return False

    def forget_popped_blocks(self) -> None:
        while self.opens and self.opens[-1].depth > len(self.state_stack):
            self.opens.pop()

    def shift(self, token: Token, *, synthetic: bool = False) -> None:
        kind = token.kind
        states, state_stack, value_stack = self.states, self.state_stack, self.value_stack
        repairs = len(state_stack) + 3  # each repair pops the stack or shifts: a bound, to be sure
        while True:
            action = states[state_stack[-1]].get(kind)
            if action is None:
                repairs -= 1
                if synthetic and not self.pop_to(kind):
                    return
                if repairs < 0 or (not synthetic and not self.repair(token)):
                    self.damaged.append(token.offset)
                    return
                continue
            if not action[0]:
                reduce(action[1], states, state_stack, value_stack)
                continue
            state_stack.append(action[1])
            value_stack.append((token.text, token.offset) if kind in VALUED_SET else None)
            if kind in CLOSER:
                prior = self.shifted[-2] if self.shifted[-1].kind == "COLON" else self.shifted[-1]
                self.opens.append(Open(token, prior.text, self.indent(token.offset), len(state_stack)))
            elif kind in ("RBRACE", "MORETHAN") and self.opens:
                self.opens.pop()
            if not synthetic:
                self.shifted.append(token)
            if self.quiet:
                self.quiet -= 1
            return

    def repair(self, token: Token) -> bool:
        """After a syntax error at `token`: True to try the token again, False to drop it."""
        last = self.shifted[-1] if self.shifted else None
        dangling = (
            last is not None and last.kind == "NAME" and self.value_stack[-1:] == [(last.text, last.offset)]
        )
        if dangling and self.bare_words(last, token):
            return token.kind not in ("NAME", "NUMBER") or not self.same_line(last.offset, token.offset)
        if dangling and token.kind in VALUES and self.same_line(last.offset, token.offset):
            self.report_unexpected(token, help="put ':' between a field name and its value", lossy=False)
            self.shift(Token("COLON", ":", token.offset), synthetic=True)
            return True
        if dangling and token.kind not in ("COLON", "LBRACE", "LESSTHAN"):
            self.no_value(last, 1, f"write {last.text}: <value>, or {last.text} {{ ... }}")
            return True
        typed_to_colon = self.typed_to_colon(token)
        if typed_to_colon is not None:
            name, popped = typed_to_colon
            self.no_value(name, popped, f"write {name.text}: <value>")
            if popped == 3:  # the word read as its value is the next field's name
                self.shift(last)
            return token.kind not in ("COMMA", "SEMICOLON")  # `stride:;` the separator goes too
        if not self.quiet:
            self.report_unexpected(token, lossy=True)
        else:
            self.damaged.append(token.offset)
        self.quiet = RECOVERY_SHIFTS
        return self.pop_to(token.kind)

    def typed_to_colon(self, token: Token) -> tuple[Token, int] | None:
        """`stride:` with its value not typed yet, read up to `token`: before a closer (`stride: }`),
        or taking the next line's field name as its value (`stride:` then `pad: 1`, or then
        `weight_filler {`).  The field's name token, and how many tokens to take back."""
        shifted = self.shifted

        def on_the_stack(count: int) -> bool:  # the last tokens shifted are still there, unreduced
            kept = [(t.text, t.offset) if t.kind in VALUES else None for t in shifted[-count:]]
            return len(self.state_stack) > count and self.value_stack[-count:] == kept

        kinds = [t.kind for t in shifted[-3:]]
        if (
            kinds[-2:] == ["NAME", "COLON"]
            and token.kind in ("RBRACE", "MORETHAN", "COMMA", "SEMICOLON")
            and on_the_stack(2)
        ):
            return shifted[-2], 2
        if (
            kinds == ["NAME", "COLON", "NAME"]
            and token.kind in ("COLON", "LBRACE", "LESSTHAN")
            and not self.same_line(shifted[-2].offset, shifted[-1].offset)
            and self.same_line(shifted[-1].offset, token.offset)
            and on_the_stack(3)
        ):
            return shifted[-3], 3
        return None

    def no_value(self, name: Token, popped: int, help: str) -> None:
        """A field name with no value: one error at the name (none when its value was a mistake
        reported already, `type: @`), the field's tokens taken back.  The field alone is lost
        (Parsed.mended) unless text after its name was dropped for another reason."""
        if self.errors and self.errors[-1] >= name.offset:
            lost = [at for at in self.damaged if at >= name.offset]
            if not set(lost) <= set(self.unlexed):
                self.damaged.append(name.offset)
            else:  # only its value was lost, to characters no token starts with
                self.damaged = [at for at in self.damaged if at < name.offset]
                self.mend(name)
        else:
            self.error(
                "NS0101",
                f"syntax error: field '{name.text}' has no value",
                name.offset,
                len(name.text),
                lossy=False,
                help=help,
            )
            self.mend(name)
        del self.state_stack[-popped:]
        del self.value_stack[-popped:]
        del self.shifted[-popped:]

    def mend(self, name: Token) -> None:
        self.mended.append(Mended(name.offset, name.text, tuple(block.name for block in self.opens)))

    def bare_words(self, dangling: Token, token: Token) -> bool:
        """`name: small net`: words after a field's one value, on its line, are one error there;
        the field reads them as the string they were meant to be."""
        if len(self.shifted) < 3:
            return False
        value, colon = self.shifted[-2], self.shifted[-3]
        if colon.kind != "COLON" or value.kind not in ("NAME", "NUMBER"):
            return False
        if not self.same_line(value.offset, dangling.offset):
            return False
        fields = self.value_stack[-2] if len(self.value_stack) >= 2 else None
        if not (isinstance(fields, list) and fields and isinstance(fields[-1], Field)):
            return False
        line_end = self.text.find("\n", value.offset)
        line_end = len(self.text) if line_end == -1 else line_end
        words = self.text[value.offset : line_end].split("#")[0].rstrip()
        words = words.split("}")[0].split(">")[0].rstrip()
        field = fields[-1]
        self.error(
            "NS0101",
            f"syntax error: bare words '{words}' where '{field.name}' takes one value",
            value.offset,
            len(words),
            lossy=False,
            help=f'quote a string: {field.name}: "{words}"',
        )
        fields[-1] = Field("string", field.name, field.offset, [(f'"{words}"', value.offset)], value.offset)
        self.state_stack.pop()
        self.value_stack.pop()
        self.skip_to = value.offset + len(words)
        return True

    def report_unexpected(self, token: Token, *, lossy: bool, help: str | None = None) -> None:
        actions = self.states[self.state_stack[-1]]
        expected = sorted(DESCRIBE[s] for s in actions if s in DESCRIBE)
        found = "end of file" if token.kind == "$END" else f"'{token.text}'"
        if help is None and token.kind == "RBRACE" and "'>'" in expected:
            help = "the block opened with '<' closes with '>'"
        elif help is None and token.kind == "RBRACE" and "a number" not in expected:
            help = "this '}' closes no open block; remove it or add the '{' it belongs to"
        self.error(
            "NS0101",
            f"syntax error: unexpected {found}; expected {_or_list(expected)}",
            token.offset,
            max(len(token.text), 1),
            lossy=lossy,
            help=help,
        )

    def finish(self) -> None:
        end = len(self.text)
        last = len(self.text.rstrip())
        self.close_all(end, self.source.span(max(last - 1, 0)), "the file ends here, still inside the block")
        while self.state_stack[-1] != self.end:
            action = self.states[self.state_stack[-1]].get("$END")
            if action is not None:
                reduce(action[1], self.states, self.state_stack, self.value_stack)
                continue
            if not self.quiet:
                self.report_unexpected(Token("$END", "", end), lossy=True)
            self.quiet = RECOVERY_SHIFTS
            self.damaged.append(end)
            if len(self.state_stack) == 1:
                break
            self.state_stack.pop()
            self.value_stack.pop()
            self.forget_popped_blocks()

    def fields(self) -> list[Field]:
        return self.value_stack[-1] if self.value_stack else []


def _or_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
