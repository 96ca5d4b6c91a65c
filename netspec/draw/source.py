"""Where each layer sits in its spec's text: the lines a page shows when a layer is clicked."""

from __future__ import annotations

from netspec.ir import Net


def _block_end(text: str, start: int) -> int:
    """The offset of the `}` that closes the first `{` at or after `start` (strings and comments
    skipped), or the end of the text."""
    depth, i, n = 0, text.find("{", start), len(text)
    if i < 0:
        return n
    while i < n:
        c = text[i]
        if c == "#":
            i = text.find("\n", i)
            if i < 0:
                return n
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return n


def layer_lines(net: Net) -> dict[str, tuple[int, int]]:
    """Each layer's first and last line (1-based) in the spec's text, by layer name; layers with
    no text of their own (a legacy `input:` turned into a layer) are left out."""
    source = net.source_map.source
    if source is None:
        return {}
    lines: dict[str, tuple[int, int]] = {}
    for layer in net.layers:
        at = net.source_map.names.get(layer.path)
        if at is None or layer.name in lines:
            continue
        start = at[0]
        # A legacy `input: "data"` names a field of the net, not a block.
        if source.text[start:].startswith("input"):
            continue
        lines[layer.name] = (source.span(start).line, source.span(_block_end(source.text, start)).line)
    return lines
