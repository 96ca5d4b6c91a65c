"""numpy, imported when first used rather than when a module is: the layer types lower themselves
with numpy, but `netspec check` never lowers, and importing numpy is a third of its start-up."""

from __future__ import annotations

import importlib
import types

FLT_MAX = 3.4028234663852886e38  # numpy.finfo(numpy.float32).max, Caffe's FLT_MAX


class LazyModule(types.ModuleType):
    """A stand-in for a module that imports it on the first attribute asked of it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._module: types.ModuleType | None = None

    def __getattr__(self, attribute: str):
        if self._module is None:
            self._module = importlib.import_module(self.__name__)
        return getattr(self._module, attribute)


numpy = LazyModule("numpy")
