"""netspec.builder: writing Caffe specs in Python."""

from __future__ import annotations

import pytest
from google.protobuf import text_format

from netspec.builder import L, NetSpec, P, conv_bn_scale_relu, param_fields
from netspec.proto import caffe_pb2


def lenet() -> NetSpec:
    n = NetSpec("LeNet")
    n.data = L.Input(shape=dict(dim=[1, 1, 28, 28]))
    n.conv1 = L.Convolution(
        n.data,
        kernel_size=5,
        num_output=20,
        weight_filler=dict(type="xavier"),
        param=[dict(lr_mult=1), dict(lr_mult=2)],
    )
    n.relu1 = L.ReLU(n.conv1, in_place=True)
    n.pool1 = L.Pooling(n.relu1, pool=P.Pooling.MAX, kernel_size=2, stride=2)
    n.ip1 = L.InnerProduct(n.pool1, num_output=10, weight_filler=dict(type="xavier"))
    n.prob = L.Softmax(n.ip1)
    return n


def layer(net: caffe_pb2.NetParameter, name: str) -> caffe_pb2.LayerParameter:
    return next(x for x in net.layer if x.name == name)


# -- routing of keyword fields -------------------------------------------------


def test_kwargs_go_to_the_type_param_message():
    net = lenet().to_proto()
    conv = layer(net, "conv1")
    assert conv.type == "Convolution"
    assert conv.convolution_param.num_output == 20
    assert list(conv.convolution_param.kernel_size) == [5]  # a scalar fills a repeated field
    assert conv.convolution_param.weight_filler.type == "xavier"
    assert layer(net, "ip1").inner_product_param.num_output == 10
    assert layer(net, "data").input_param.shape[0].dim == [1, 1, 28, 28]


def test_param_fields_are_those_the_layer_type_reads_else_the_schema_convention():
    assert param_fields("Convolution") == ("convolution_param",)
    assert param_fields("InnerProduct") == ("inner_product_param",)
    assert param_fields("BatchNorm") == ("batch_norm_param",)
    assert param_fields("ReLU") == ("relu_param",)
    assert param_fields("PReLU") == ("prelu_param",)
    assert param_fields("LRN") == ("lrn_param",)
    assert param_fields("TanH") == ("tanh_param",)
    assert param_fields("HDF5Data") == ("hdf5_data_param",)
    assert param_fields("Clip") == ("clip_param",)
    assert param_fields("Deconvolution") == ("convolution_param",)
    assert param_fields("SoftmaxWithLoss") == ("loss_param", "softmax_param")
    assert param_fields("ConvolutionDepthwise") == ("convolution_param",)
    assert param_fields("CTCGreedyDecoder") == ("ctc_decoder_param",)
    assert param_fields("Data") == ("data_param", "transform_param")
    assert param_fields("EuclideanLoss") == ("loss_param",)
    assert param_fields("Split") == ()
    # every *_param message of LayerParameter belongs to the type its message is named after
    # (but the OCR forks' LSTMParameter is their "Lstm" layer's; BVLC's LSTM reads recurrent_param)
    fork_types = {"lstm_param": "Lstm"}
    for field in caffe_pb2.LayerParameter.DESCRIPTOR.fields:
        if field.name.endswith("_param"):
            type_name = fork_types.get(field.name, field.message_type.name[: -len("Parameter")])
            assert field.name in param_fields(type_name), field.name
    assert param_fields("LSTM") == ("recurrent_param",)


def test_deconvolution_and_loss_routing():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 21, 8, 8]))
    n.label = L.Input(shape=dict(dim=[1, 1, 16, 16]))
    n.up = L.Deconvolution(
        n.data,
        num_output=21,
        kernel_size=4,
        stride=2,
        bias_term=False,
        weight_filler=dict(type="bilinear"),
        param=dict(lr_mult=0),
    )
    n.loss = L.SoftmaxWithLoss(n.up, n.label, ignore_label=255, axis=1, loss_weight=1)
    net = n.to_proto()
    up = layer(net, "up")
    assert up.convolution_param.kernel_size == [4] and up.convolution_param.stride == [2]
    assert not up.convolution_param.bias_term
    assert len(up.param) == 1 and up.param[0].lr_mult == 0  # a dict for a repeated message: one element
    loss = layer(net, "loss")
    assert loss.loss_param.ignore_label == 255
    assert loss.softmax_param.axis == 1
    assert list(loss.loss_weight) == [1.0]
    assert list(loss.bottom) == ["up", "label"]


def test_layer_level_fields_include_param_and_whole_param_messages():
    n = NetSpec()
    n.data = L.Input(shape=[dict(dim=[1, 3, 4, 4])])
    n.conv = L.Convolution(
        n.data,
        num_output=2,
        kernel_size=1,
        param=[dict(lr_mult=1), dict(lr_mult=2)],
        include=dict(phase=caffe_pb2.TEST),
        propagate_down=[False],
    )
    n.pool = L.Pooling(
        n.data,
        pooling_param=dict(pool="AVE", global_pooling=True),
        exclude=[dict(phase="TRAIN", stage=["deploy"])],
    )
    net = n.to_proto()
    conv = layer(net, "conv")
    assert [p.lr_mult for p in conv.param] == [1, 2]
    assert conv.include[0].phase == caffe_pb2.TEST
    assert list(conv.propagate_down) == [False]
    pool = layer(net, "pool")
    assert pool.pooling_param.pool == caffe_pb2.PoolingParameter.AVE and pool.pooling_param.global_pooling
    assert pool.exclude[0].phase == caffe_pb2.TRAIN and list(pool.exclude[0].stage) == ["deploy"]


def test_repeated_scalars_from_lists_and_single_values():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 9, 9]))
    n.conv = L.Convolution(n.data, num_output=4, kernel_size=[3, 5], pad=(1, 2), dilation=2)
    p = layer(n.to_proto(), "conv").convolution_param
    assert list(p.kernel_size) == [3, 5] and list(p.pad) == [1, 2] and list(p.dilation) == [2]


# -- enums -----------------------------------------------------------------------


def test_enums_by_number_and_by_name():
    assert P.Pooling.MAX == caffe_pb2.PoolingParameter.MAX
    assert P.Pooling.AVE == caffe_pb2.PoolingParameter.AVE
    assert P.Eltwise.SUM == caffe_pb2.EltwiseParameter.SUM
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 4, 4]))
    n.a = L.Pooling(n.data, pool=P.Pooling.AVE, kernel_size=2)
    n.b = L.Pooling(n.data, pool="MAX", kernel_size=2)
    n.c = L.Eltwise(n.a, n.b, operation="PROD")
    net = n.to_proto()
    assert layer(net, "a").pooling_param.pool == caffe_pb2.PoolingParameter.AVE
    assert layer(net, "b").pooling_param.pool == caffe_pb2.PoolingParameter.MAX
    assert layer(net, "c").eltwise_param.operation == caffe_pb2.EltwiseParameter.PROD


# -- names, in place, ntop ------------------------------------------------------------


def test_names_and_in_place():
    net = lenet().to_proto()
    assert [x.name for x in net.layer] == ["data", "conv1", "relu1", "pool1", "ip1", "prob"]
    relu = layer(net, "relu1")
    assert list(relu.bottom) == ["conv1"] and list(relu.top) == ["conv1"]
    # a layer reading the in-place top reads the blob it rewrote
    assert list(layer(net, "pool1").bottom) == ["conv1"]
    assert list(layer(net, "pool1").top) == ["pool1"]
    assert net.name == "LeNet"


def test_multiple_tops_and_no_tops():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 6, 4, 4]))
    n.left, n.right = L.Slice(n.data, ntop=2, slice_point=3)
    n.silence = L.Silence(n.right, ntop=0)
    net = n.to_proto()
    sl = layer(net, "left")
    assert list(sl.top) == ["left", "right"]
    assert sl.slice_param.slice_point == [3]
    si = layer(net, "silence")
    assert list(si.bottom) == ["right"] and list(si.top) == []


def test_explicit_layer_name_and_automatic_names():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 8, 8]))
    hidden = L.Convolution(n.data, num_output=4, kernel_size=3)  # never assigned: named by type
    n.conv4 = L.Convolution(L.ReLU(hidden), num_output=4, kernel_size=1, name="conv4-1024")
    net = n.to_proto()
    assert [x.name for x in net.layer] == ["data", "Convolution1", "ReLU1", "conv4-1024"]
    assert list(net.layer[3].top) == ["conv4"]
    assert list(net.layer[3].bottom) == ["ReLU1"]


def test_dependencies_come_first_and_items_work():
    n = NetSpec()
    n["data"] = L.Input(shape=dict(dim=[1, 3, 8, 8]))
    a = L.Convolution(n["data"], num_output=4, kernel_size=3)
    n["b/out"] = L.Pooling(a, kernel_size=2)
    n["a/conv"] = a  # assigned after its consumer: still emitted first, with this name
    net = n.to_proto()
    assert [x.name for x in net.layer] == ["data", "a/conv", "b/out"]
    assert list(net.layer[2].bottom) == ["a/conv"]
    assert "a/conv" in n and list(n) == ["data", "b/out", "a/conv"]


def test_helper_conv_bn_scale_relu():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 8, 8]))
    top = conv_bn_scale_relu(n, "conv1", n.data, 16, 3, stride=2, pad=1, names=dict(relu="relu1"))
    conv_bn_scale_relu(n, "dw", top, 16, 3, pad=1, group=16, relu6=True)
    net = n.to_proto()
    assert [(x.name, x.type) for x in net.layer] == [
        ("data", "Input"),
        ("conv1", "Convolution"),
        ("conv1/bn", "BatchNorm"),
        ("conv1/scale", "Scale"),
        ("relu1", "ReLU"),
        ("dw", "Convolution"),
        ("dw/bn", "BatchNorm"),
        ("dw/scale", "Scale"),
        ("dw/relu", "Clip"),
    ]
    conv = layer(net, "conv1")
    assert not conv.convolution_param.bias_term and conv.convolution_param.stride == [2]
    assert layer(net, "conv1/bn").batch_norm_param.use_global_stats
    assert layer(net, "conv1/scale").scale_param.bias_term
    assert list(layer(net, "relu1").top) == ["conv1"]
    assert layer(net, "dw").convolution_param.group == 16
    clip = layer(net, "dw/relu").clip_param
    assert (clip.min, clip.max) == (0, 6)


# -- text ---------------------------------------------------------------------------


def test_text_round_trip_and_layout():
    n = lenet()
    text = n.to_text()
    parsed = text_format.Parse(text, caffe_pb2.NetParameter())
    assert parsed == n.to_proto()
    assert 'layer {\n  name: "conv1"\n  type: "Convolution"\n  bottom: "data"\n  top: "conv1"\n' in text
    assert "  convolution_param {\n    num_output: 20\n" in text
    assert "    pool: MAX\n" in text


def test_text_with_header_still_parses():
    n = lenet()
    text = n.to_text("LeNet\n\nfrom Caffe's examples")
    lines = text.splitlines()
    assert lines[:3] == ["# LeNet", "#", "# from Caffe's examples"]
    assert lines[3] == 'name: "LeNet"'
    assert text_format.Parse(text, caffe_pb2.NetParameter()) == n.to_proto()


# -- errors -------------------------------------------------------------------------


def test_unknown_keyword_names_the_type_and_nearest_fields():
    data = L.Input(shape=dict(dim=[1, 3, 8, 8]))
    with pytest.raises(ValueError) as info:
        L.Convolution(data, num_output=4, kernel=3)
    message = str(info.value)
    assert "Convolution" in message and "'kernel'" in message
    assert "kernel_size" in message and "ConvolutionParameter" in message
    with pytest.raises(ValueError, match=r"InnerProduct.*'num_outputs'.*num_output"):
        L.InnerProduct(data, num_outputs=10)
    with pytest.raises(ValueError, match=r"Region.*no parameter message"):
        L.Region(data, classes=20)  # YOLOv2's head, which no dialect netspec reads declares


def test_bad_values_are_clear_errors():
    data = L.Input(shape=dict(dim=[1, 3, 8, 8]))
    with pytest.raises(ValueError, match=r"'MAXX' is not a value of PoolMethod.*did you mean 'MAX'"):
        L.Pooling(data, pool="MAXX")
    with pytest.raises(ValueError, match=r"FillerParameter has no field 'typ'.*'type'"):
        L.Convolution(data, num_output=2, kernel_size=1, weight_filler=dict(typ="xavier"))
    with pytest.raises(ValueError, match=r"num_output"):
        L.Convolution(data, num_output="four", kernel_size=1)
    with pytest.raises(ValueError, match=r"single value"):
        L.Convolution(data, num_output=[1, 2], kernel_size=1)
    with pytest.raises(ValueError, match=r"bottom 0"):
        L.ReLU("data")
    with pytest.raises(ValueError, match=r"'top' is set by the builder"):
        L.ReLU(data, top="x")
    with pytest.raises(ValueError, match=r"in_place"):
        L.Eltwise(data, data, in_place=True)
    with pytest.raises(AttributeError, match=r"no enum value 'MAXIMUM'"):
        _ = P.Pooling.MAXIMUM
    with pytest.raises(AttributeError, match=r"PoolingParameter|Pooling"):
        _ = P.Poolin.MAX


def test_names_are_unique():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 8, 8]))
    with pytest.raises(ValueError, match="already assigned"):
        n.data = L.Input(shape=dict(dim=[1, 3, 8, 8]))
    with pytest.raises(AttributeError, match=r"no top 'dat'.*'data'"):
        _ = n.dat
