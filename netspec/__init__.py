"""netspec: a compiler for Caffe-style network specs."""

__version__ = "0.1.0"
