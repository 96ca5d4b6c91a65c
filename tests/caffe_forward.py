"""Run a net in real BVLC Caffe (pycaffe) on given inputs; for tests, in Caffe's own Python.

usage: caffe_forward.py PROTOTXT WEIGHTS|- INPUTS.npz OUT.npz [--blobs NAME ...] [--params]

Feeds every array of INPUTS.npz to the net input of the same name (reshaping
the blob to it), runs one TEST-phase forward, and writes the blobs named after
--blobs (every blob without the option) to OUT.npz.  A blob written in place
holds its value after the last in-place layer, as Caffe keeps it.  With
--params it runs nothing and writes the shape of each layer's i-th parameter
blob as "LAYER/i" instead.
"""

import argparse
import os
import sys

os.environ.setdefault("GLOG_minloglevel", "2")
sys.path.insert(0, os.environ.get("CAFFE_PYTHON", "/opt/caffe/python"))

import caffe
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("prototxt")
    parser.add_argument("weights")
    parser.add_argument("inputs")
    parser.add_argument("out")
    parser.add_argument("--blobs", nargs="*")
    parser.add_argument("--params", action="store_true")
    args = parser.parse_args()
    caffe.set_mode_cpu()
    net = (
        caffe.Net(args.prototxt, caffe.TEST)
        if args.weights == "-"
        else caffe.Net(args.prototxt, caffe.TEST, weights=args.weights)
    )
    if args.params:
        shapes = {
            f"{layer}/{i}": np.array(blob.data.shape)
            for layer, blobs in net.params.items()
            for i, blob in enumerate(blobs)
        }
        np.savez(args.out, **shapes)
        return
    feeds = np.load(args.inputs)
    for name in feeds.files:
        net.blobs[name].reshape(*feeds[name].shape)
        net.blobs[name].data[...] = feeds[name]
    net.reshape()
    net.forward()
    names = list(net.blobs) if args.blobs is None else args.blobs
    np.savez(args.out, **{name: np.array(net.blobs[name].data, dtype=np.float32) for name in names})


if __name__ == "__main__":
    main()
