"""The zoo's specs: generated, parseable, and netspec's checker counted against published figures.

The counts are the checker's (netspec.pipeline.check: `analysis.totals`, per layer `LayerInfo`):
parameters are learnable blobs (conv/deconv/fc weights and biases, Scale's gamma and beta;
BatchNorm's mean/variance/scale-factor blobs are buffers); multiply-adds are those of convolutions,
deconvolutions, inner products and recurrent layers at batch 1.  The published figures below are typed
in from the papers and reference implementations named beside them, never derived from netspec.
"""

from __future__ import annotations

import functools
import os
import re
from math import prod

import pytest
from google.protobuf import text_format

from netspec import zoo
from netspec.diagnostics import Severity
from netspec.infer import Analysis
from netspec.layers.base import Shape
from netspec.pipeline import check
from netspec.proto import caffe_pb2
from netspec.zoo import generate

NAMES = zoo.names()
AT_224 = (1, 3, 224, 224)
TRAINING_ONLY = {"Data", "ImageData", "HDF5Data", "Python", "SoftmaxWithLoss", "Accuracy", "EuclideanLoss"}


def parse(name: str) -> caffe_pb2.NetParameter:
    with open(zoo.path(name), encoding="utf-8") as handle:
        return text_format.Parse(handle.read(), caffe_pb2.NetParameter())


@functools.cache
def checked(name: str, data: Shape | None = None) -> Analysis:
    """The checker's analysis of zoo spec `name`, with its input blob `data` of that shape when given."""
    result = check(zoo.path(name), inputs={"data": data} if data else None)
    assert result.analysis is not None and not result.diagnostics.errors, name
    return result.analysis


def params(name: str, data: Shape | None = None) -> int:
    return checked(name, data).totals["params"]


def macs(name: str, data: Shape | None = None) -> int:
    return checked(name, data).totals["macs"]


def shapes(name: str, data: Shape | None = None) -> dict[str, Shape | None]:
    """Blob shapes by name (the first value written, which in-place layers do not reshape)."""
    return checked(name, data).shapes


# -- the files --------------------------------------------------------------------


def test_every_entry_has_a_file_and_a_generator():
    assert set(NAMES) == set(generate.NOTES)
    files = {f for f in os.listdir(zoo.HERE) if f.endswith(".prototxt")}
    assert files == {zoo.ENTRIES[n]["file"] for n in NAMES}
    for entry in zoo.ENTRIES.values():
        assert {"file", "title", "paper", "year", "input", "paper_params", "paper_macs", "note"} <= set(entry)


@pytest.mark.parametrize("name", NAMES)
def test_committed_file_equals_generator_output(name):
    with open(zoo.path(name), encoding="utf-8") as handle:
        assert handle.read() == generate.render(name), f"run `python -m netspec.zoo.generate {name}`"


def test_generate_check_passes(capsys):
    assert generate.main(["--check"]) == 0


def test_generate_check_fails_on_a_stale_file(tmp_path):
    (tmp_path / "lenet.prototxt").write_text("# stale\n")
    assert generate.main(["--check", "--out", str(tmp_path), "lenet"]) == 1
    assert generate.main(["--out", str(tmp_path), "lenet"]) == 0
    assert generate.main(["--check", "--out", str(tmp_path), "lenet"]) == 0


@pytest.mark.parametrize("name", NAMES)
def test_spec_is_a_deploy_net_with_fillers(name):
    net = parse(name)
    first = net.layer[0]
    assert (first.name, first.type, list(first.top)) == ("data", "Input", ["data"])
    assert tuple(first.input_param.shape[0].dim) == zoo.ENTRIES[name]["input"]
    assert first.input_param.shape[0].dim[0] == 1
    types = {x.type for x in net.layer}
    assert not types & TRAINING_ONLY
    assert sum(x.type == "Input" for x in net.layer) == 1
    for x in net.layer:
        if x.type in ("Convolution", "Deconvolution"):
            p = x.convolution_param
            assert p.HasField("weight_filler"), x.name
            assert p.HasField("bias_filler") == p.bias_term, x.name
        elif x.type == "InnerProduct":
            p = x.inner_product_param
            assert p.HasField("weight_filler") and p.HasField("bias_filler"), x.name
        elif x.type == "Scale":
            assert x.scale_param.HasField("filler") and x.scale_param.HasField("bias_filler"), x.name
        elif x.type == "BatchNorm":
            assert x.batch_norm_param.use_global_stats, x.name
    # every bottom is written by an earlier layer
    seen: set[str] = set()
    for x in net.layer:
        assert set(x.bottom) <= seen, (x.name, list(x.bottom))
        seen.update(x.top)


@pytest.mark.parametrize("name", NAMES)
def test_header_cites_the_paper_and_states_our_figures(name):
    with open(zoo.path(name), encoding="utf-8") as handle:
        text = handle.read()
    head = text[: text.index("\nname:")]
    assert all(line.startswith("#") for line in head.splitlines())
    entry = zoo.ENTRIES[name]
    assert str(entry["year"]) in head and "Paper:" in head
    shape = "x".join(map(str, entry["input"]))
    line = re.search(r"^# netspec: ([\d,]+) parameters, ([\d,]+) multiply-adds .* at (\S+)$", head, re.M)
    assert line, head
    assert int(line[1].replace(",", "")) == params(name)
    assert int(line[2].replace(",", "")) == macs(name)
    assert line[3] == shape


def ssd_part(part: str) -> tuple[int, int]:
    """(parameters, multiply-adds) of mobilenet_ssd's body (conv0 to conv13), its extra layers
    (conv14_1 to conv17_2) or its predictors (the layers named *mbox*), with their BatchNorm + Scale."""

    def part_of(layer: str) -> str:
        if "mbox" in layer:
            return "predictors"
        return "extras" if re.match(r"conv1[4-7]_", layer) else "body"

    layers = [x for x in checked("mobilenet_ssd").layers if part_of(x.layer.name) == part]
    return sum(x.params for x in layers), sum(x.macs for x in layers)


def deconvolution_params(name: str) -> int:
    return sum(x.params for x in checked(name).layers if x.layer.type == "Deconvolution")


def receptive_size(name: str, layer: str) -> int:
    return int(checked(name).info(layer).receptive[0][0])


# Figures of netspec's own that the notes quote in prose: (spec, phrase of its note, the checker's figure).
QUOTED = [
    ("lenet5", "So this spec has {:,} parameters", lambda: params("lenet5")),
    ("squeezenet1_1", "({:,} multiply-adds at 224x224 by this spec)", lambda: macs("squeezenet1_1", AT_224)),
    ("fcn32s", "the upsampling's {:,} fixed bilinear weights", lambda: deconvolution_params("fcn32s")),
    ("fcn8s", "the upsamplings' {:,} fixed bilinear weights", lambda: deconvolution_params("fcn8s")),
    ("segnet_basic", "this spec's {:,} (biases", lambda: params("segnet_basic")),
    ("deepbind", "max pooling over all {} positions", lambda: shapes("deepbind")["conv1"][3]),
    (
        "dilated_context",
        "Receptive field {0}x{0} (Table 1)",
        lambda: receptive_size("dilated_context", "ctx_final"),
    ),
    ("wavenet_causal", "= {} samples", lambda: receptive_size("wavenet_causal", "prob")),
    ("mobilenet_ssd", "body {0[0]:,} parameters and {0[1]:,} multiply-adds", lambda: ssd_part("body")),
    ("mobilenet_ssd", "extra layers {0[0]:,} and {0[1]:,}", lambda: ssd_part("extras")),
    ("mobilenet_ssd", "predictors {0[0]:,} and {0[1]:,}", lambda: ssd_part("predictors")),
    ("mobilenet_ssd", "PriorBox's {:,} values", lambda: prod(shapes("mobilenet_ssd")["mbox_priorbox"])),
    (
        "mobilenet_ssd",
        "{} priors (TensorFlow's anchors)",
        lambda: shapes("mobilenet_ssd")["mbox_conf_reshape"][1],
    ),
    (
        "mobilenet_ssd",
        "6.8 M and 1.2 G: {0[0]:+.1%} and {0[1]:+.1%}",
        lambda: (params("mobilenet_ssd") / 6.8e6 - 1, macs("mobilenet_ssd") / 1.2e9 - 1),
    ),
    ("mobilenet_ssd", "({:.3f} G is within its 1.15 to 1.25 G)", lambda: macs("mobilenet_ssd") / 1e9),
]


@pytest.mark.parametrize(("name", "phrase", "figure"), QUOTED, ids=[q[0] for q in QUOTED])
def test_figures_the_notes_quote_are_the_checkers(name, phrase, figure):
    notes = generate.NOTES[name][1] + " " + zoo.ENTRIES[name]["note"]
    assert phrase.format(figure()) in notes


# -- parameters against published figures -------------------------------------------

# Exact published counts that the specs reproduce.
EXACT_PARAMS = {
    # BVLC's bvlc_alexnet (two-group conv2/4/5): 34,944 + 307,456 + 885,120 + 663,936 + 442,624
    # + 37,752,832 + 16,781,312 + 4,097,000; the paper says "60 million".
    "alexnet": 60_965_224,
    # VGG paper Table 2: 138M / 144M; the exact counts are those of the released models.
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    # torchvision's counts (conv weights, BN gamma/beta, fc weights and bias). KaimingHe's Caffe files
    # for 101/152 have no conv1 bias either; there are no authors' Caffe files for 18/34.
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    # KaimingHe's ResNet-50-deploy.prototxt leaves conv1's bias on (every other conv is
    # bias_term: false): torchvision's 25,557,032 + 64.
    "resnet50": 25_557_032 + 64,
    # BVLC's bvlc_googlenet deploy with biases and the 1024x1000 classifier (paper: ~6.8M, see below)
    "googlenet": 6_998_552,
    # MobileNet v1 1.0-224 (paper Table 8: 4.2 million); the exact count of the released models
    "mobilenet_v1": 4_231_976,
    # torchvision's mobilenet_v2 (paper Table 4: 3.4M)
    "mobilenet_v2": 3_504_872,
    # torchvision's squeezenet1_1 / forresti's v1.1 caffemodel
    "squeezenet1_1": 1_235_496,
    # torchvision's densenet121 (paper Figure 3: about 8M)
    "densenet121": 7_978_856,
    # Caffe MNIST LeNet: conv1 20*25+20 = 520, conv2 50*20*25+50 = 25,050, ip1 500*800+500 = 400,500,
    # ip2 10*500+10 = 5,010
    "lenet": 431_080,
}


@pytest.mark.parametrize("name", sorted(EXACT_PARAMS))
def test_parameters_match_published_exact_counts(name):
    assert params(name) == EXACT_PARAMS[name]


def test_lenet5_parameters_against_the_paper():
    # The paper: 60,000 trainable parameters = C1 156 + S2 12 + C3 1,516 + S4 32 + C5 48,120 + F6 10,164.
    assert 156 + 12 + 1_516 + 32 + 48_120 + 10_164 == 60_000
    # This spec: C3 fully connected (16*6*25+16 = 2,416, +900), no trainable subsampling (-12 - 32),
    # and a learned 84x10 InnerProduct output (850) where the paper's RBF output is fixed.
    layers = {x.layer.name: x.params for x in checked("lenet5").layers}
    assert layers["c1"] == 156 and layers["c3"] == 2_416 and layers["c5"] == 48_120 and layers["f6"] == 10_164
    assert layers["output"] == 850
    assert params("lenet5") == 60_000 + 900 - 44 + 850 == 61_706


def test_googlenet_parameters_against_the_paper():
    # Table 1's params column sums to about 6.8M (2.7K+112K+159K+380K+364K+437K+463K+580K+840K+1072K
    # +1388K+1000K = 6,797.7K). It leaves out biases and rounds, so the exact BVLC count is 3% above.
    assert params("googlenet") == pytest.approx(6_797_700, rel=0.03)


def test_mobilenet_papers_round_their_counts():
    assert params("mobilenet_v1") == pytest.approx(4_200_000, rel=0.01)
    # Table 4's 3.4M is about 3% below the exact count of the network of its Table 2.
    assert params("mobilenet_v2") == pytest.approx(3_400_000, rel=0.035)


def test_nin_parameters():
    # conv1 96*3*121+96 = 34,944; cccp1/2 96*96+96 = 9,312 each; conv2 256*96*25+256 = 614,656;
    # cccp3/4 65,792 each; conv3 384*256*9+384 = 885,120; cccp5/6 147,840 each;
    # conv4-1024 1024*384*9+1024 = 3,539,968; cccp7-1024 1,049,600; cccp8-1024 1,025,000
    expected = (
        34_944 + 2 * 9_312 + 614_656 + 2 * 65_792 + 885_120 + 2 * 147_840 + 3_539_968 + 1_049_600 + 1_025_000
    )
    assert params("nin") == expected == 7_595_176
    # the model zoo's 29 MB caffemodel holds them as float32
    assert params("nin") * 4 / 2**20 == pytest.approx(29, abs=0.1)


def test_fcn_parameters():
    # VGG-16 convolutions 14,714,688; fc6 as 7x7 conv 4096*512*49+4096 = 102,764,544;
    # fc7 4096*4096+4096 = 16,781,312; score_fr 21*4096+21 = 86,037.
    learned_32s = 14_714_688 + 102_764_544 + 16_781_312 + 86_037
    bilinear_32s = 21 * 21 * 64 * 64  # upscore, fixed (lr_mult 0), bias_term false
    assert params("fcn32s") == learned_32s + bilinear_32s == 136_152_917
    # FCN-8s adds score_pool4 (21*512+21) and score_pool3 (21*256+21), and three fixed deconvolutions
    learned_8s = learned_32s + 10_773 + 5_397
    bilinear_8s = 21 * 21 * (4 * 4 + 4 * 4 + 16 * 16)
    assert params("fcn8s") == learned_8s + bilinear_8s == 134_489_759
    # paper Table 1: 134M parameters for FCN-VGG16 (the learned ones)
    assert learned_32s == pytest.approx(134e6, rel=0.005)
    assert learned_8s == pytest.approx(134e6, rel=0.005)


# -- multiply-adds --------------------------------------------------------------------


def test_alexnet_macs_by_hand():
    conv = (
        55 * 55 * 96 * 3 * 11 * 11
        + 27 * 27 * 256 * 48 * 25
        + 13 * 13 * 384 * 256 * 9
        + 13 * 13 * 384 * 192 * 9
        + 13 * 13 * 256 * 192 * 9
    )
    fully = 9216 * 4096 + 4096 * 4096 + 4096 * 1000
    assert macs("alexnet") == conv + fully == 724_406_816  # the usual "0.72 G" with groups


def test_lenet_macs_by_hand():
    # Caffe MNIST LeNet: 24*24*20*25 + 8*8*50*500 + 800*500 + 500*10
    assert macs("lenet") == 288_000 + 1_600_000 + 400_000 + 5_000
    # LeNet-5 full C3: 28*28*6*25 + 10*10*16*150 + 120*400 + 120*84 + 84*10
    assert macs("lenet5") == 117_600 + 240_000 + 48_000 + 10_080 + 840


@pytest.mark.parametrize(
    ("name", "published", "rel"),
    [
        ("vgg16", 15.47e9, 0.001),  # the usual 15.47 G (conv + fc) at 224x224; the paper gives none
        ("vgg19", 19.63e9, 0.001),
        # ResNet paper Table 1 "FLOPs" are multiply-adds: 1.8, 3.6, 3.8, 7.6, 11.3 x 10^9. With the stride
        # on the first 1x1 (as KaimingHe's files) ResNet-50 is 3.86 G; torchvision's v1.5 (stride on the
        # 3x3) is 4.1 G. The table rounds to one decimal: 3.66 for ResNet-34 is its "3.6".
        ("resnet18", 1.8e9, 0.01),
        ("resnet34", 3.6e9, 0.02),
        ("resnet50", 3.8e9, 0.02),
        ("resnet101", 7.6e9, 0.01),
        ("resnet152", 11.3e9, 0.01),
        ("mobilenet_v1", 569e6, 0.001),  # paper Table 8: 569 million mult-adds
        ("mobilenet_v2", 300e6, 0.005),  # paper Table 4: 300M
        # torchvision's densenet121 lists 2.834 GFLOPS ("_ops"); the paper only plots FLOPs (Figure 3)
        ("densenet121", 2.834e9, 0.001),
    ],
)
def test_macs_against_published(name, published, rel):
    assert macs(name) == pytest.approx(published, rel=rel)


def test_resnet50_stride_placement_explains_torchvision_figure():
    # Moving the stride from the first 1x1 to the 3x3 in blocks 3a, 4a, 5a makes each 1x1 run at the
    # input resolution: +C_in*width*H*W*3/4 per block, which brings 3.86 G to torchvision's 4.09 G.
    extra = (256 * 128 * 56 * 56 + 512 * 256 * 28 * 28 + 1024 * 512 * 14 * 14) * 3 // 4
    assert macs("resnet50") + extra == pytest.approx(4.09e9, rel=0.003)


def test_googlenet_macs_against_the_paper():
    # Paper: "1.5 billion multiply-adds". Its Table 1 lists 34M ops for conv1 where 7x7x3 weights over
    # 64 maps at 112x112 are 118M; with the table's conv1 figure the rest matches the 1.5 G closely.
    conv1 = 112 * 112 * 64 * 7 * 7 * 3
    assert checked("googlenet").info("conv1/7x7_s2").macs == conv1
    assert macs("googlenet") - conv1 + 34e6 == pytest.approx(1.5e9, rel=0.005)


def test_squeezenet_macs_at_torchvision_input():
    # torchvision's squeezenet1_1 lists 0.349 GFLOPS (multiply-adds) at 224x224 ("_ops": 0.349);
    # forresti's Caffe model runs at 227x227, where Caffe's pooling gives 56/28/14 maps instead of 55/27/13.
    assert macs("squeezenet1_1", AT_224) == pytest.approx(349e6, rel=0.002)
    assert shapes("squeezenet1_1")["pool5"][2:] == (14, 14)
    assert shapes("squeezenet1_1", AT_224)["pool5"][2:] == (13, 13)
    assert macs("squeezenet1_1") > macs("squeezenet1_1", AT_224)


# -- shapes the papers state ------------------------------------------------------------


def test_shapes_follow_the_papers():
    assert shapes("lenet5")["c1"] == (1, 6, 28, 28)
    assert shapes("lenet5")["s4"] == (1, 16, 5, 5)
    assert shapes("lenet5")["c5"] == (1, 120, 1, 1)
    g = shapes("googlenet")
    assert g["pool2/3x3_s2"] == (1, 192, 28, 28)
    assert g["inception_3b/output"] == (1, 480, 28, 28)
    assert g["inception_4e/output"] == (1, 832, 14, 14)
    assert g["inception_5b/output"] == (1, 1024, 7, 7)
    for depth, last in ((18, 512), (50, 2048), (152, 2048)):
        assert shapes(f"resnet{depth}")["pool5"] == (1, last, 1, 1)
    assert shapes("densenet121")["concat_5_16"] == (1, 1024, 7, 7)
    assert shapes("mobilenet_v2")["conv6_4"] == (1, 1280, 7, 7)
    assert shapes("mobilenet_v1")["conv6/sep"] == (1, 1024, 7, 7)
    assert shapes("nin")["pool4"] == (1, 1000, 1, 1)
    for name in ("fcn32s", "fcn8s"):
        assert shapes(name)["score"] == (1, 21, 500, 500)


def test_fcn_crops_and_upsampling_as_the_reference():
    net = parse("fcn8s")
    crops = {x.name: (x.crop_param.axis, list(x.crop_param.offset)) for x in net.layer if x.type == "Crop"}
    assert crops == {"score_pool4c": (2, [5]), "score_pool3c": (2, [9]), "score": (2, [31])}
    assert [x.name for x in parse("fcn32s").layer if x.type == "Crop"] == ["score"]
    assert next(x for x in parse("fcn32s").layer if x.type == "Crop").crop_param.offset == [19]
    for name in ("fcn32s", "fcn8s"):
        net = parse(name)
        assert net.layer[1].convolution_param.pad == [100]
        for x in net.layer:
            if x.type == "Deconvolution":
                assert x.convolution_param.weight_filler.type == "bilinear"
                assert not x.convolution_param.bias_term
                assert [p.lr_mult for p in x.param] == [0]
                assert x.convolution_param.num_output == 21


def test_structural_choices():
    mb2 = parse("mobilenet_v2")
    assert any(x.type == "Clip" for x in mb2.layer) and not any(x.type == "ReLU" for x in mb2.layer)
    clip = next(x for x in mb2.layer if x.type == "Clip").clip_param
    assert (clip.min, clip.max) == (0, 6)
    assert sum(x.type == "Eltwise" for x in mb2.layer) == 10  # 1 + 2 + 3 + 2 + 2 shortcuts
    mb1 = parse("mobilenet_v1")
    dws = [x for x in mb1.layer if x.type == "Convolution" and x.name.endswith("/dw")]
    assert len(dws) == 13 and all(x.convolution_param.group == x.convolution_param.num_output for x in dws)
    alex = {x.name: x for x in parse("alexnet").layer}
    groups = [alex[c].convolution_param.group for c in ("conv1", "conv2", "conv3", "conv4", "conv5")]
    assert groups == [1, 2, 1, 2, 2]
    assert sum(x.type == "LRN" for x in alex.values()) == 2
    assert sum(x.type == "Dropout" for x in alex.values()) == 2
    r50 = {x.name: x for x in parse("resnet50").layer}
    assert r50["res3a_branch2a"].convolution_param.stride == [2]  # stride on the first 1x1
    assert r50["res3a_branch2b"].convolution_param.stride == []
    assert r50["res2a_branch1"].type == "Convolution"  # projection: 64 -> 256
    assert "res2b_branch1" not in r50
    r18 = {x.name: x for x in parse("resnet18").layer}
    assert "res2a_branch1" not in r18 and r18["res3a_branch2a"].convolution_param.stride == [2]
    assert sum(x.type == "Eltwise" for x in parse("resnet101").layer) == 3 + 4 + 23 + 3
    dn = parse("densenet121")
    assert sum(x.type == "Concat" for x in dn.layer) == 6 + 12 + 24 + 16
    transitions = [x for x in dn.layer if re.fullmatch(r"conv\d_blk", x.name)]
    assert [x.convolution_param.num_output for x in transitions] == [128, 256, 512]
    assert all(
        x.pooling_param.pool == caffe_pb2.PoolingParameter.AVE
        for x in dn.layer
        if re.fullmatch(r"pool[234]", x.name)
    )


# -- MobileNet-SSD: the paper's Table 13, SSD 300 with MobileNet on COCO ------------------------

# Where the SSD heads read (blob, side of its map at 300x300, priors per cell, channels): TensorFlow's
# ssd_mobilenet_v1_coco, 3 anchors on conv11 (reduce_boxes_in_lowest_layer) and 6 elsewhere.
SSD_SOURCES = [("conv11", 19, 3, 512), ("conv13", 10, 6, 1024), ("conv14_2", 5, 6, 512),
               ("conv15_2", 3, 6, 256), ("conv16_2", 2, 6, 256), ("conv17_2", 1, 6, 128)]  # fmt: skip
COCO = 91  # 90 COCO ids and the background
AT_300 = (1, 3, 300, 300)


def test_mobilenet_ssd_maps_and_priors_are_tensorflows():
    s = shapes("mobilenet_ssd")
    for blob, side, _, channels in SSD_SOURCES:
        assert s[blob] == (1, channels, side, side), blob
    priors = sum(side * side * k for _, side, k, _ in SSD_SOURCES)
    assert priors == 1917  # TensorFlow's ssd_mobilenet_v1 has 1917 anchors at 300x300
    assert s["mbox_loc"] == (1, priors * 4) and s["mbox_priorbox"] == (1, 2, priors * 4)
    assert s["mbox_conf_reshape"] == (1, priors, COCO)
    assert s["detection_out"] == (1, 1, 100, 7)  # at most keep_top_k rows for one image


def test_mobilenet_ssd_parameters_by_hand():
    # The body is MobileNet v1 up to conv13 (the zoo's mobilenet_v1 without its 1024 x 1000 classifier).
    assert ssd_part("body")[0] == params("mobilenet_v1") - (1024 * 1000 + 1000) == 3_206_976
    # Extra pairs (1x1 then 3x3/2, no bias) with BatchNorm + Scale's scale and shift per map.
    pairs = [(1024, 256, 512), (512, 128, 256), (256, 128, 256), (256, 64, 128)]
    convs = sum(c * r + r * 9 * o for c, r, o in pairs)
    assert ssd_part("extras")[0] == convs + 2 * sum(r + o for _, r, o in pairs) == 2_223_488
    # 1x1 predictors with biases: 4 box offsets and 91 class scores per prior.
    heads = sum((channels + 1) * k * (4 + COCO) for _, _, k, channels in SSD_SOURCES)
    assert ssd_part("predictors")[0] == heads == 1_389_375
    assert params("mobilenet_ssd") == 3_206_976 + 2_223_488 + 1_389_375 == 6_819_839


def test_mobilenet_ssd_macs_by_hand():
    # The body's convolutions at 300x300 are mobilenet_v1's at that size, less its classifier.
    assert ssd_part("body")[1] == macs("mobilenet_v1", AT_300) - 1024 * 1000 == 1_055_206_336
    extras = (10 * 10 * 1024 * 256 + 5 * 5 * 256 * 9 * 512 + 5 * 5 * 512 * 128 + 3 * 3 * 128 * 9 * 256
              + 3 * 3 * 256 * 128 + 2 * 2 * 128 * 9 * 256 + 2 * 2 * 256 * 64 + 64 * 9 * 128)  # fmt: skip
    assert ssd_part("extras")[1] == extras == 61_612_032
    heads = sum(side * side * channels * k * (4 + COCO) for _, side, k, channels in SSD_SOURCES)
    assert ssd_part("predictors")[1] == heads == 120_311_040
    assert macs("mobilenet_ssd") == 1_055_206_336 + 61_612_032 + 120_311_040


def test_mobilenet_ssd_against_the_paper():
    """Table 13: 6.8 million parameters, 1.2 billion mult-adds, printed to one decimal.  The layers are
    TensorFlow's (the maps and priors above), so the residual is the table's rounding: +0.3% and +3.1%
    of the printed figures, each inside the interval the printed decimal stands for."""
    assert params("mobilenet_ssd") == pytest.approx(6.8e6, rel=0.005)
    assert macs("mobilenet_ssd") == pytest.approx(1.2e9, rel=0.035)
    assert round(params("mobilenet_ssd") / 1e5) == 68 and round(macs("mobilenet_ssd") / 1e8) == 12


def test_mobilenet_ssd_layers_beyond_convolution_count_nothing():
    """PriorBox's boxes are a constant of the shapes, not parameters; decoding, NMS, softmax and the
    reshuffling layers do no multiply-adds; the only buffers are BatchNorm's statistics."""
    layers = checked("mobilenet_ssd").layers
    ssd = [x for x in layers if x.layer.type not in ("Input", "Convolution", "BatchNorm", "Scale", "ReLU")]
    assert {x.layer.type for x in ssd} == {
        "Permute", "Flatten", "PriorBox", "Concat", "Reshape", "Softmax", "DetectionOutput"
    }  # fmt: skip
    assert all(x.params == x.buffers == x.macs == 0 for x in ssd)
    bn = [x for x in layers if x.layer.type == "BatchNorm"]
    assert len(bn) == 1 + 2 * 13 + 2 * 4  # conv0, 13 depthwise + pointwise pairs, 4 extra pairs
    assert checked("mobilenet_ssd").totals["buffers"] == sum(2 * x.tops[0][1] + 1 for x in bn)


# -- the index ------------------------------------------------------------------------


def test_index_paths_and_unknown_names():
    assert zoo.path("resnet50").endswith(os.path.join("zoo", "resnet50.prototxt"))
    assert zoo.path("resnet50.prototxt") == zoo.path("resnet50")
    assert "vgg16" in zoo.names() and len(zoo.names()) == len(zoo.ENTRIES)
    with pytest.raises(KeyError) as info:
        zoo.path("resnet51")
    assert "resnet50" in str(info.value) and "did you mean" in str(info.value)
    with pytest.raises(KeyError, match="known:"):
        zoo.path("unet")


def test_zoo_list_shows_every_spec_with_the_checkers_parameters(capsys):
    from netspec.cli import main

    assert main(["zoo", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "name"
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == NAMES
    for name in NAMES:
        shape = "x".join(map(str, zoo.ENTRIES[name]["input"]))
        assert f" {params(name):,} " in rows[name] and rows[name].endswith(shape), rows[name]
    assert "1.24 G" in rows["mobilenet_ssd"]


# -- beyond BVLC Caffe: SegNet-Basic, the dilated context module, DeepBind, WaveNet ---------------


def test_segnet_basic_parameters_against_the_paper():
    # conv1 64*3*49+64 = 9,472; conv2-4 and the four decoders 64*64*49+64 = 200,768 each; the 1x1
    # classifier 11*64+11 = 715; eight BatchNorm+Scale pairs learn a scale and a shift per map (8*128).
    layers = {x.layer.name: x.params for x in checked("segnet_basic").layers}
    assert layers["conv1"] == 9_472 and layers["conv_decode1"] == layers["conv2"] == 200_768
    assert params("segnet_basic") == 9_472 + 7 * 200_768 + 715 + 8 * 128 == 1_416_587
    # the paper's Table 1: 1.425M for SegNet-Basic
    assert params("segnet_basic") == pytest.approx(1_425_000, rel=0.006)


def test_segnet_basic_unpools_to_each_encoder_size():
    s = shapes("segnet_basic")
    assert s["pool4"] == s["pool4_mask"] == (1, 64, 23, 30)  # Caffe's ceil: 45 rows pool to 23
    assert s["upsample4"] == (1, 64, 45, 60)  # SegNet's pad_out_h: back to 45, not 46
    assert s["upsample1"] == (1, 64, 360, 480) and s["prob"] == (1, 11, 360, 480)
    net = {x.name: x for x in parse("segnet_basic").layer}
    assert list(net["upsample4"].bottom) == ["pool4", "pool4_mask", "conv4"]
    assert list(net["pool1"].top) == ["pool1", "pool1_mask"]
    decoder = [x.name for x in parse("segnet_basic").layer if x.name.startswith(("conv_decode", "relu"))]
    assert decoder == ["relu1", "relu2", "relu3", "relu4"] + [
        name
        for i in (4, 3, 2, 1)
        for name in (f"conv_decode{i}", f"conv_decode{i}_bn", f"conv_decode{i}_scale")
    ]  # no ReLU in the decoders


def test_segnet_basic_macs_by_hand():
    rows, cols = 360, 480
    encoders = sum((rows >> i) * (cols >> i) * 64 * (3 if i == 0 else 64) * 49 for i in range(4))
    decoders = (45 * 60 + 90 * 120 + 180 * 240 + 360 * 480) * 64 * 64 * 49
    assert macs("segnet_basic") == encoders + decoders + rows * cols * 11 * 64


def test_dilated_context_parameters_are_64_c_squared():
    c = 21
    weights = 7 * 9 * c * c + c * c  # seven 3x3 layers and a 1x1, C maps each
    assert weights == 64 * c * c == 28_224  # paper Table 1: 64C^2
    assert params("dilated_context") == weights + 8 * c == 28_392
    assert macs("dilated_context") == 64 * 64 * weights
    convs = [x for x in parse("dilated_context").layer if x.type == "Convolution"]
    dilations = [list(x.convolution_param.dilation) or [1] for x in convs]
    assert dilations == [[1], [1], [2], [4], [8], [16], [1], [1]]


def test_dilated_context_receptive_field_is_the_papers():
    """Table 1: 3, 5, 9, 17, 33, 65, 67, 67 — the checker composes the same field layer by layer."""
    analysis = checked("dilated_context")
    names = ["ctx_conv1_1", "ctx_conv1_2", "ctx_conv2_1", "ctx_conv3_1", "ctx_conv4_1", "ctx_conv5_1",
             "ctx_fc1", "ctx_final"]  # fmt: skip
    assert [analysis.info(x).receptive[0][0] for x in names] == [3, 5, 9, 17, 33, 65, 67, 67]
    assert analysis.info("ctx_final").tops == [(1, 21, 64, 64)]


def test_deepbind_parameters_and_shapes():
    # 16 motif detectors of 4 x 24 with a threshold each; 16 -> 32 hidden; 32 -> 1 score
    assert params("deepbind") == (16 * 4 * 24 + 16) + (32 * 16 + 32) + (32 + 1) == 2_129
    s = shapes("deepbind")
    assert s["conv1"] == (1, 16, 1, 101 + 2 * 23 - 24 + 1) == (1, 16, 1, 124)  # a motif may overhang
    assert s["pool1"] == (1, 16, 1, 1) and s["score"] == (1, 1)
    assert macs("deepbind") == 124 * 16 * 4 * 24 + 16 * 32 + 32


def test_wavenet_parameters():
    input_conv = 256 * 32 * 2 + 32
    block = 2 * (32 * 32 * 2 + 32) + (32 * 256 + 256)  # filter and gate, skip
    residual = 32 * 32 + 32
    post = 2 * (256 * 256 + 256)
    assert params("wavenet_causal") == input_conv + 10 * block + 9 * residual + post == 283_584


def test_wavenet_receptive_field_as_the_summary_reports_it():
    """The paper: dilations 1, 2, ..., 512 with filter 2 see 2^10 = 1024 samples; the causal input
    convolution adds one. `netspec summary` reports what the checker composes."""
    from netspec.summary import layer_records

    records = {r["name"]: r for r in layer_records(checked("wavenet_causal"))}
    assert records["block9/filter"]["receptive_field"] == [{"size": 1 + 1 + (2**10 - 1), "stride": 1}]
    assert records["prob"]["receptive_field"] == [{"size": 1025, "stride": 1}]
    analysis = checked("wavenet_causal")
    assert analysis.info("prob").tops == [(1, 256, 4096)]  # causal: every step keeps its length
    convs = [x for x in parse("wavenet_causal").layer if x.type == "Convolution"]
    causal = [x.name for x in convs if x.convolution_param.causal]
    assert len(causal) == 1 + 2 * 10 and all(
        x.convolution_param.kernel_size == [2] for x in convs if x.name in causal
    )
    assert sorted({d for x in convs for d in x.convolution_param.dilation}) == [2**i for i in range(1, 10)]


@pytest.mark.parametrize("name", zoo.names())
def test_every_warning_a_spec_gets_is_explained_in_its_header(name):
    """The issue: every spec checks with no warning its header does not explain."""
    with open(zoo.path(name)) as handle:
        text = handle.read()
    checked = check(zoo.path(name))
    head = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    for d in checked.diagnostics:
        if d.severity is Severity.WARNING:
            assert d.code in head and d.layer in head, f"{name}: {d.code} at {d.layer} is not explained"
