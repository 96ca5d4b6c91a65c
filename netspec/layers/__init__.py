"""The layer registry: importing this package registers every layer type once."""

from netspec.layers import (  # noqa: F401  (each module registers its types)
    activation,
    conv,
    data,
    dense,
    extensions,
    forks,
    loss,
    misc,
    norm,
    ocr,
    pool,
    rcnn,
    recurrent,
    ssd,
    structure,
)
from netspec.layers.base import REGISTRY, LayerType, register

__all__ = ["REGISTRY", "LayerType", "register"]
