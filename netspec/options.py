"""The options `netspec check` takes (--input, --stub) that the language server takes from its
client's settings too: read, and refused when the net gives them nothing to act on, in one place."""

from __future__ import annotations


class UsageError(Exception):
    """A command-line value that cannot be used; exit status 2."""


def parse_dims(text: str) -> tuple[str, tuple[int, ...]]:
    """NAME=1x3x224x224 (also 1,3,224,224) -> ("NAME", (1, 3, 224, 224))."""
    name, sep, dims = text.partition("=")
    try:
        shape = tuple(int(d) for d in dims.replace(",", "x").split("x"))
    except ValueError:
        shape = ()
    if not sep or not name or not shape or min(shape) < 1:
        raise UsageError(f"--input {text}: expected NAME=DIMS with positive dims, e.g. data=1x3x224x224")
    return name, shape


def stub_rules(specs: list[str]) -> dict:
    """--stub TYPE_OR_LAYER=identity|shape:DIMS, by target; a malformed one is a usage error."""
    rules: dict = {}
    if specs:
        from netspec import stubs  # here: a command without --stub needs none of it

    for text in specs:
        try:
            rule = stubs.parse(text)
        except ValueError as problem:
            raise UsageError(f"--stub {text}: {problem}") from None
        if rule.target in rules:
            raise UsageError(f"--stub {text}: '{rule.target}' is stubbed twice")
        rules[rule.target] = rule
    return rules


def refuse_unknown_stubs(checked, rules: dict) -> None:
    """A --stub that names no layer and no type of the net would be ignored: a usage error."""
    if checked.net is None:
        return
    names = {layer.name for layer in checked.net.layers} | {layer.type for layer in checked.net.layers}
    for target in rules:
        if target not in names:
            import difflib

            near = difflib.get_close_matches(target, sorted(names), n=1)
            raise UsageError(
                f"--stub {target}=...: the net has no layer and no layer type '{target}'"
                + (f"; did you mean '{near[0]}'?" if near else "")
            )


def refuse_unknown_inputs(checked, given: dict) -> None:
    """An --input that names no input of the net would be ignored: a usage error instead."""
    from netspec.layers import REGISTRY

    if checked.net is None:
        return
    names = [
        blob.name
        for layer in checked.net.layers
        if getattr(REGISTRY.get(layer.type), "source", False)
        for blob in layer.tops
    ]
    for name in given:
        if name in names:
            continue
        import difflib  # a mistake's suggestion: imported only when there is one

        near = difflib.get_close_matches(name, names, n=1)
        dropped = any(d.dropped_input == name for d in checked.diagnostics)
        why = (
            f"the spec declares '{name}' without a shape, and Caffe drops such an input: give it "
            "input_shape { dim: ... } in the spec, or an Input layer"
            if dropped
            else (f"did you mean '{near[0]}'? " if near else "")
            + f"its inputs: {', '.join(names) if names else 'none'}"
        )
        raise UsageError(f"--input {name}=...: the net has no input '{name}'; {why}")
