"""Caffe schema for netspec: ``caffe.proto`` and its generated ``caffe_pb2``."""

from . import caffe_pb2

__all__ = ["caffe_pb2"]
