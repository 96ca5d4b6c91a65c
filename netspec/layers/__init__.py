"""The layer registry: each module of this package defines a family of layer types, registered
when it is imported; REGISTRY imports a family's module when one of its types is first asked for."""

from netspec.layers.base import REGISTRY, LayerType, register

__all__ = ["REGISTRY", "LayerType", "register"]
