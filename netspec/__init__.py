"""netspec: a compiler for Caffe-style network specs.

    import netspec
    checked = netspec.check("zoo:resnet50", batch=8)  # shapes, costs and every diagnostic
    model = netspec.compile(checked, weights="resnet50.caffemodel")  # onnx.ModelProto, or None
    outputs = netspec.run(model, {"data": images})  # numpy arrays by output name

The names load here lazily, so `import netspec` stays cheap.
"""

__version__ = "0.1.0"
__all__ = ["check", "compile", "load", "run"]


def __getattr__(name: str):
    if name in __all__:
        from netspec import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'netspec' has no attribute {name!r}")
