"""The ONNX opsets netspec writes: a module of its own, so that the CLI can name them without
importing onnx (which `netspec check` never needs)."""

DEFAULT_OPSET = 22  # MaxPool/AveragePool-22 clip the last ceil-mode window as Caffe does
MIN_OPSET = 13
