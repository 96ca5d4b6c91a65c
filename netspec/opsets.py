"""What netspec's ONNX models are: the opsets netspec writes and the metadata keys it stamps.
A module of its own, so that the CLI and the runtime can name them without importing the compiler
(and `netspec check` never imports onnx)."""

DEFAULT_OPSET = 22  # MaxPool/AveragePool-22 clip the last ceil-mode window as Caffe does
MIN_OPSET = 13
INDEX_INPUTS = "netspec.index_inputs"  # JSON {input: exclusive bound} of the inputs read as indices
INDEX_COLUMNS = "netspec.index_columns"  # JSON {input: position on its last axis} of those with one
WEIGHTS = "netspec.weights"  # where the weights came from: the spec's random fillers, or a .caffemodel
