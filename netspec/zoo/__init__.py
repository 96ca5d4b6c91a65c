"""The zoo: deploy specs of well-known networks, shipped with netspec.

Each ``<name>.prototxt`` here is written by ``netspec/zoo/generate.py``
(``python -m netspec.zoo.generate`` rewrites them all, ``--check`` compares)
and opens with a comment header citing its paper.

``ENTRIES`` describes each one: its file, title, paper, year, input shape,
and the parameter and multiply-add figures the paper (or the reference
implementation named in ``note``) publishes; ``None`` where none is published.
``extensions``, where an entry has it, names the netspec extensions of the
schema the spec uses (docs/extensions.md); an empty tuple: plain BVLC Caffe.
netspec's own figures in each header are its checker's totals
(``netspec.pipeline.check(...).analysis.totals``): parameters are learnable
blobs (convolution and inner-product weights and biases, Scale's gamma/beta;
BatchNorm's mean/variance are buffers, not parameters); multiply-adds are
those of convolutions, deconvolutions, inner products and recurrent layers
at batch 1.
"""

from __future__ import annotations

import difflib
import os

__all__ = ["ENTRIES", "ZooKeyError", "names", "path"]

HERE = os.path.dirname(os.path.abspath(__file__))

_RESNET_PAPER = "K. He, X. Zhang, S. Ren, J. Sun. Deep Residual Learning for Image Recognition. CVPR 2016"
_RESNET_NOTE = (
    "paper Table 1 gives FLOPs, which are multiply-adds of conv and fc layers; it gives no ImageNet "
    "parameter counts, paper_params is torchvision's count (conv weights, BN gamma/beta, fc), which has "
    "no conv1 bias"
)
_VGG_PAPER = (
    "K. Simonyan, A. Zisserman. Very Deep Convolutional Networks for Large-Scale Image Recognition. ICLR 2015"
)
_MOBILENETS_PAPER = (
    "A. G. Howard, M. Zhu, B. Chen, D. Kalenichenko, W. Wang, T. Weyand, M. Andreetto, H. Adam. "
    "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications. "
    "arXiv:1704.04861, 2017"
)
_FCN_PAPER = (
    "J. Long, E. Shelhamer, T. Darrell. Fully Convolutional Networks for Semantic Segmentation. CVPR 2015"
)

ENTRIES: dict[str, dict] = {
    "lenet5": dict(
        file="lenet5.prototxt",
        title="LeNet-5 as the 1998 paper describes it",
        paper="Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-Based Learning Applied to Document "
        "Recognition. Proceedings of the IEEE 86(11), 1998",
        year=1998,
        input=(1, 1, 32, 32),
        paper_params=60_000,
        paper_macs=None,
        note="paper Section II.B: 340,908 connections, 60,000 trainable parameters (C3's partial "
        "connection table, trainable subsampling coefficients, fixed RBF output)",
    ),
    "lenet": dict(
        file="lenet.prototxt",
        title="LeNet for MNIST as in Caffe's examples/mnist",
        paper="Caffe's MNIST tutorial network, after Y. LeCun et al., Proceedings of the IEEE, 1998",
        year=1998,
        input=(1, 1, 28, 28),
        paper_params=None,
        paper_macs=None,
        note="no published figure; a Caffe variant (max pooling, ReLU, 20/50 maps), not the paper's net",
    ),
    "alexnet": dict(
        file="alexnet.prototxt",
        title="AlexNet (Caffe's bvlc_alexnet)",
        paper="A. Krizhevsky, I. Sutskever, G. E. Hinton. ImageNet Classification with Deep Convolutional "
        "Neural Networks. NIPS 2012",
        year=2012,
        input=(1, 3, 227, 227),
        paper_params=60_000_000,
        paper_macs=None,
        note="paper: 60 million parameters; BVLC's deploy gives 60,965,224 (two-group conv2/4/5)",
    ),
    "vgg16": dict(
        file="vgg16.prototxt",
        title="VGG-16 (configuration D)",
        paper=_VGG_PAPER,
        year=2015,
        input=(1, 3, 224, 224),
        paper_params=138_000_000,
        paper_macs=None,
        note="paper Table 2: 138M parameters; the paper gives no multiply-add count",
    ),
    "vgg19": dict(
        file="vgg19.prototxt",
        title="VGG-19 (configuration E)",
        paper=_VGG_PAPER,
        year=2015,
        input=(1, 3, 224, 224),
        paper_params=144_000_000,
        paper_macs=None,
        note="paper Table 2: 144M parameters; the paper gives no multiply-add count",
    ),
    "googlenet": dict(
        file="googlenet.prototxt",
        title="GoogLeNet / Inception v1 (BVLC's bvlc_googlenet deploy)",
        paper="C. Szegedy, W. Liu, Y. Jia, P. Sermanet, S. Reed, D. Anguelov, D. Erhan, V. Vanhoucke, "
        "A. Rabinovich. Going Deeper with Convolutions. CVPR 2015",
        year=2015,
        input=(1, 3, 224, 224),
        paper_params=6_800_000,
        paper_macs=1_500_000_000,
        note="paper: '12x fewer parameters than' AlexNet, Table 1 sums to about 6.8M; "
        "'1.5 billion multiply-adds at inference time'",
    ),
    "resnet18": dict(
        file="resnet18.prototxt",
        title="ResNet-18",
        paper=_RESNET_PAPER,
        year=2016,
        input=(1, 3, 224, 224),
        paper_params=11_689_512,
        paper_macs=1_800_000_000,
        note=_RESNET_NOTE,
    ),
    "resnet34": dict(
        file="resnet34.prototxt",
        title="ResNet-34",
        paper=_RESNET_PAPER,
        year=2016,
        input=(1, 3, 224, 224),
        paper_params=21_797_672,
        paper_macs=3_600_000_000,
        note=_RESNET_NOTE,
    ),
    "resnet50": dict(
        file="resnet50.prototxt",
        title="ResNet-50 (KaimingHe's Caffe deploy)",
        paper=_RESNET_PAPER,
        year=2016,
        input=(1, 3, 224, 224),
        paper_params=25_557_032,
        paper_macs=3_800_000_000,
        note=_RESNET_NOTE,
    ),
    "resnet101": dict(
        file="resnet101.prototxt",
        title="ResNet-101 (KaimingHe's Caffe deploy)",
        paper=_RESNET_PAPER,
        year=2016,
        input=(1, 3, 224, 224),
        paper_params=44_549_160,
        paper_macs=7_600_000_000,
        note=_RESNET_NOTE,
    ),
    "resnet152": dict(
        file="resnet152.prototxt",
        title="ResNet-152 (KaimingHe's Caffe deploy)",
        paper=_RESNET_PAPER,
        year=2016,
        input=(1, 3, 224, 224),
        paper_params=60_192_808,
        paper_macs=11_300_000_000,
        note=_RESNET_NOTE,
    ),
    "mobilenet_v1": dict(
        file="mobilenet_v1.prototxt",
        title="MobileNet v1 1.0-224",
        paper=_MOBILENETS_PAPER,
        year=2017,
        input=(1, 3, 224, 224),
        paper_params=4_200_000,
        paper_macs=569_000_000,
        note="paper Table 8: 1.0 MobileNet-224, 569 million mult-adds, 4.2 million parameters",
    ),
    "mobilenet_v2": dict(
        file="mobilenet_v2.prototxt",
        title="MobileNet v2 1.0-224",
        paper="M. Sandler, A. Howard, M. Zhu, A. Zhmoginov, L.-C. Chen. MobileNetV2: Inverted Residuals "
        "and Linear Bottlenecks. CVPR 2018",
        year=2018,
        input=(1, 3, 224, 224),
        paper_params=3_400_000,
        paper_macs=300_000_000,
        note="paper Table 4: 3.4M parameters, 300M multiply-adds; torchvision counts 3,504,872 parameters",
    ),
    "mobilenet_ssd": dict(
        file="mobilenet_ssd.prototxt",
        title="MobileNet-SSD: SSD300 on MobileNet v1, COCO (91 classes)",
        paper=_MOBILENETS_PAPER,
        year=2017,
        input=(1, 3, 300, 300),
        paper_params=6_800_000,
        paper_macs=1_200_000_000,
        note="paper Table 13 (COCO object detection): SSD 300 with MobileNet, 19.3% mAP, 1.2 billion "
        "mult-adds, 6.8 million parameters; the network is TensorFlow's ssd_mobilenet_v1_coco",
    ),
    "squeezenet1_1": dict(
        file="squeezenet1_1.prototxt",
        title="SqueezeNet v1.1",
        paper="F. N. Iandola, S. Han, M. W. Moskewicz, K. Ashraf, W. J. Dally, K. Keutzer. SqueezeNet: "
        "AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size. arXiv:1602.07360, 2016",
        year=2016,
        input=(1, 3, 227, 227),
        paper_params=1_235_496,
        paper_macs=349_000_000,
        note="v1.1 is published in forresti/SqueezeNet, not the paper (which describes v1.0); "
        "paper_params and paper_macs are torchvision's squeezenet1_1 figures (0.349 GFLOPS at 224x224)",
    ),
    "densenet121": dict(
        file="densenet121.prototxt",
        title="DenseNet-121 (k=32, BC)",
        paper="G. Huang, Z. Liu, L. van der Maaten, K. Q. Weinberger. Densely Connected Convolutional "
        "Networks. CVPR 2017",
        year=2017,
        input=(1, 3, 224, 224),
        paper_params=7_978_856,
        paper_macs=2_834_000_000,
        note="the paper compares parameters and FLOPs only in plots (Figure 3); paper_params and "
        "paper_macs are torchvision's densenet121 figures (7,978,856 parameters, 2.834 GFLOPS)",
    ),
    "nin": dict(
        file="nin.prototxt",
        title="Network in Network, ImageNet model (Caffe model zoo)",
        paper="M. Lin, Q. Chen, S. Yan. Network In Network. ICLR 2014",
        year=2014,
        input=(1, 3, 224, 224),
        paper_params=7_600_000,
        paper_macs=None,
        note="the paper reports CIFAR/SVHN/MNIST only; the ImageNet model of the Caffe model zoo "
        "(mavenlin's gist) is a 29 MB caffemodel, about 7.6M float32 parameters",
    ),
    "fcn32s": dict(
        file="fcn32s.prototxt",
        title="FCN-32s, VGG-16 backbone, PASCAL VOC (21 classes)",
        paper=_FCN_PAPER,
        year=2015,
        input=(1, 3, 500, 500),
        paper_params=134_000_000,
        paper_macs=None,
        note="paper Table 1: FCN-VGG16 134M parameters (learned layers; the bilinear upsampling "
        "deconvolution's fixed weights are not included)",
    ),
    "fcn8s": dict(
        file="fcn8s.prototxt",
        title="FCN-8s, VGG-16 backbone, PASCAL VOC (21 classes)",
        paper=_FCN_PAPER,
        year=2015,
        input=(1, 3, 500, 500),
        paper_params=134_000_000,
        paper_macs=None,
        note="paper Table 1: FCN-VGG16 134M parameters (learned layers; the bilinear upsampling "
        "deconvolutions' fixed weights are not included)",
    ),
    "segnet_basic": dict(
        file="segnet_basic.prototxt",
        title="SegNet-Basic, CamVid (11 classes)",
        paper="V. Badrinarayanan, A. Kendall, R. Cipolla. SegNet: A Deep Convolutional Encoder-Decoder "
        "Architecture for Image Segmentation. IEEE TPAMI 39(12), 2017",
        year=2017,
        input=(1, 3, 360, 480),
        paper_params=1_425_000,
        paper_macs=None,
        note="the paper's comparison of decoder variants (Table 1) lists SegNet-Basic with 1.425M "
        "parameters; this spec's 1,416,587 (biases and BN's scale and shift included) is 0.6% below",
        extensions=("Unpooling",),
    ),
    "dilated_context": dict(
        file="dilated_context.prototxt",
        title="Context module, basic, of Yu & Koltun (C = 21)",
        paper="F. Yu, V. Koltun. Multi-Scale Context Aggregation by Dilated Convolutions. ICLR 2016",
        year=2016,
        input=(1, 21, 64, 64),
        paper_params=28_224,
        paper_macs=None,
        note="paper Table 1: the basic context module has 64C^2 parameters (its weights: seven 3x3 "
        "layers, 63C^2, and a 1x1, C^2), 28,224 for C = 21; the 8C = 168 biases come on top",
        extensions=(),
    ),
    "deepbind": dict(
        file="deepbind.prototxt",
        title="DeepBind, a ChIP-seq model (101 bases)",
        paper="B. Alipanahi, A. Delong, M. T. Weirauch, B. J. Frey. Predicting the sequence specificities "
        "of DNA- and RNA-binding proteins by deep learning. Nature Biotechnology 33, 2015",
        year=2015,
        input=(1, 4, 1, 101),
        paper_params=None,
        paper_macs=None,
        note="the paper describes the architecture but counts no parameters; its sizes give 16 x 4 x 24 "
        "motif weights and 16 thresholds, 16 x 32 + 32 hidden, 32 + 1 output: 2,129",
        extensions=(),
    ),
    "wavenet_causal": dict(
        file="wavenet_causal.prototxt",
        title="WaveNet, one stack of 10 causal dilated layers (small)",
        paper="A. van den Oord, S. Dieleman, H. Zen, K. Simonyan, O. Vinyals, A. Graves, N. Kalchbrenner, "
        "A. Senior, K. Kavukcuoglu. WaveNet: A Generative Model for Raw Audio. arXiv:1609.03499, 2016",
        year=2016,
        input=(1, 256, 4096),
        paper_params=None,
        paper_macs=None,
        note="the paper gives no sizes; it gives the receptive field of dilations 1, 2, ..., 512 with "
        "filter 2: 1024 samples (1025 here, with the input convolution)",
        extensions=("causal",),
    ),
}


class ZooKeyError(KeyError):
    """An unknown zoo name; the message lists the nearest known names."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


def names() -> list[str]:
    """The zoo's network names, in ENTRIES order."""
    return list(ENTRIES)


def path(name: str) -> str:
    """The file of zoo network `name` (``resnet50`` or ``resnet50.prototxt``)."""
    key = name[: -len(".prototxt")] if name.endswith(".prototxt") else name
    if key not in ENTRIES:
        near = difflib.get_close_matches(key.lower(), list(ENTRIES), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise ZooKeyError(f"the zoo has no network {name!r}{hint} (known: {', '.join(ENTRIES)})")
    return os.path.join(HERE, ENTRIES[key]["file"])
