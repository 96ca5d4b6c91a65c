"""The layer registry: importing this package registers every layer type once."""

from netspec.layers import (  # noqa: F401  (each module registers its types)
    activation,
    conv,
    data,
    dense,
    detection,
    layout,
    loss,
    misc,
    norm,
    pool,
    recurrent,
    resize,
    roi,
    sinks,
    structure,
)
from netspec.layers.base import REGISTRY, LayerType, register

__all__ = ["REGISTRY", "LayerType", "register"]
