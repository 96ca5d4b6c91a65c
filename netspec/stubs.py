"""`--stub`: how to treat layers netspec cannot size (Python layers, unknown fork types), said once
for all of them rather than one `--input` per layer and run.

    --stub Python=identity           every Python layer passes its bottoms' shapes through
    --stub proposal=shape:300x5      the layer named 'proposal' writes a (300, 5) top
    --stub NAME=shape:1x3x8x8,1x1    one shape per top

A rule names a layer, or a type (every layer of it); a layer's own name wins over its type.  Each
stubbed layer is said as an info (NS0206).  Compile lowers an identity stub as no node at all (its
tops are its bottoms); a shape stub it refuses (NS0402), since nothing says what the layer computes.
"""

from __future__ import annotations

from dataclasses import dataclass

from netspec.layers.base import LayerType, Shape, ShapeContext, shape_text

IDENTITY = "identity"


@dataclass(frozen=True)
class StubRule:
    target: str  # a layer name or a layer type
    shapes: tuple[Shape, ...] | None  # the tops' shapes; None: identity (each top is its bottom)

    def __str__(self) -> str:
        if self.shapes is None:
            return IDENTITY
        return "shape " + ", ".join(shape_text(s) for s in self.shapes)


def parse(text: str) -> StubRule:
    """NAME=identity or NAME=shape:DIMS[,DIMS...]; ValueError saying what is wrong."""
    target, sep, how = text.partition("=")
    if not sep or not target:
        raise ValueError("expected TYPE_OR_LAYER=identity or TYPE_OR_LAYER=shape:NxCxHxW")
    if how == IDENTITY:
        return StubRule(target, None)
    if how.startswith("shape:"):
        try:
            shapes = tuple(tuple(int(d) for d in part.split("x")) for part in how[6:].split(","))
        except ValueError:
            shapes = ()
        if shapes and all(s and min(s) >= 1 for s in shapes):
            return StubRule(target, shapes)
    raise ValueError(
        f"'{how}': expected identity, or shape: with positive dims, e.g. shape:1x3x224x224 "
        "(one per top, separated by commas)"
    )


class Stubbed(LayerType):
    """A layer stubbed as a rule says: no weights, no cost; tops from the rule."""

    type = "(stub)"
    family = "structure"
    bottoms = (0, None)
    tops = (0, None)

    def __init__(self, rule: StubRule) -> None:
        self.rule = rule

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        tops = len(ctx.layer.tops)
        if self.rule.shapes is None:
            if len(ctx.bottoms) != tops:
                raise ctx.error(
                    "NS0206",
                    f"--stub {self.rule.target}=identity: an identity passes each bottom through as its "
                    f"top, and this layer has {len(ctx.bottoms)} bottoms for {tops} tops",
                    "type",
                    help=f"give its tops' shapes: --stub {ctx.layer.name}=shape:NxCxHxW"
                    + (",..." if tops > 1 else ""),
                )
            return list(ctx.bottoms)
        shapes = self.rule.shapes
        if len(shapes) not in (1, tops):
            raise ctx.error(
                "NS0206",
                f"--stub {self.rule.target}: {len(shapes)} shapes for {tops} tops",
                "type",
                help="give one shape for every top, or one per top",
            )
        return list(shapes) * tops if len(shapes) == 1 else list(shapes)

    def lower(self, ctx) -> None:
        if self.rule.shapes is not None:
            raise NotImplementedError(
                f"stubbed with a shape (--stub {self.rule.target}=...), and nothing says what it computes; "
                "compile stubs only as identity, or compile up to the layer before it with --outputs"
            )
        for j, name in enumerate(ctx.inputs):
            ctx.alias(j, name)


def choose(rules: dict[str, StubRule], name: str, type_: str) -> StubRule | None:
    """The rule for a layer: its name's, else its type's."""
    return rules.get(name) or rules.get(type_)
