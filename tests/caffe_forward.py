"""Run a net in real BVLC Caffe (pycaffe) on given inputs; for tests, in Caffe's own Python.

usage: caffe_forward.py PROTOTXT WEIGHTS|- INPUTS.npz OUT.npz

Feeds every array of INPUTS.npz to the net input of the same name (reshaping
the blob to it), runs one TEST-phase forward, and writes every blob to
OUT.npz.  A blob written in place holds its value after the last in-place
layer, as Caffe keeps it.
"""

import os
import sys

os.environ.setdefault("GLOG_minloglevel", "2")
sys.path.insert(0, os.environ.get("CAFFE_PYTHON", "/opt/caffe/python"))

import caffe
import numpy as np


def main(prototxt: str, weights: str, inputs: str, out: str) -> None:
    caffe.set_mode_cpu()
    net = (
        caffe.Net(prototxt, caffe.TEST)
        if weights == "-"
        else caffe.Net(prototxt, caffe.TEST, weights=weights)
    )
    feeds = np.load(inputs)
    for name in feeds.files:
        net.blobs[name].reshape(*feeds[name].shape)
        net.blobs[name].data[...] = feeds[name]
    net.reshape()
    net.forward()
    np.savez(out, **{name: np.array(blob.data, dtype=np.float32) for name, blob in net.blobs.items()})


if __name__ == "__main__":
    main(*sys.argv[1:5])
