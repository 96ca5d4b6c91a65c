"""Data sources: the layers whose tops are the net's inputs."""

from __future__ import annotations

from netspec.layers.base import LayerType, Shape, ShapeContext, register


def override(ctx: ShapeContext, index: int) -> Shape | None:
    """The shape a user gave with --input NAME=DIMS for this layer's top `index`, if any."""
    return ctx.options.get("inputs", {}).get(ctx.layer.tops[index].name)


@register
class Input(LayerType):
    type = "Input"
    param = "input_param"
    bottoms = (0, 0)
    tops = (1, None)
    source = True

    def shapes(self, ctx: ShapeContext) -> list[Shape | None]:
        shapes = ctx.layer.param.input_param.shape
        out: list[Shape | None] = []
        for i, _ in enumerate(ctx.layer.tops):
            given = override(ctx, i)
            if given is not None:
                out.append(given)
                continue
            if not shapes:
                raise ctx.error("NS0311", f"the shape of input '{ctx.layer.tops[i].name}' is not given",
                                "input_param",
                                help=f"add input_param {{ shape {{ dim: ... }} }} or pass "
                                     f"--input {ctx.layer.tops[i].name}=NxCxHxW")
            # Caffe: one shape for every top, or one shape per top.
            shape = shapes[0] if len(shapes) == 1 else shapes[i] if i < len(shapes) else None
            if shape is None:
                raise ctx.error("NS0311", f"input_param gives {len(shapes)} shapes for "
                                f"{len(ctx.layer.tops)} tops", "input_param",
                                help="give one shape for all tops, or one per top")
            out.append(tuple(int(d) for d in shape.dim))
        return out
