"""Every diagnostic code netspec emits, in one catalogue: its code, severity, a one-line title and
the explanation, grouped in ranges by stage.  docs/diagnostics.md is generated from it (a test keeps
them equal; regenerate with `python -m netspec.codes > docs/diagnostics.md`) and `netspec explain
CODE` prints an entry, as rustc's --explain does.  A new code is one entry here, at the end of its
range."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    code: str
    severity: str  # as reported: "error", "warning", "info", or the ones it can be ("warning/error")
    explanation: str  # markdown, one paragraph: what it means, when it fires, what to do
    stops: bool = False  # checking cannot go on past it: the file holds no net to check
    solver: bool = False  # it says the file is a solver: an editor completes SolverParameter's fields
    blames_spec: bool = False  # a run that fails with it exits 1, as for the spec's errors (other NS05xx: 2)

    @property
    def title(self) -> str:
        """The explanation's first clause, the one-line title `explain` heads its entry with."""
        depth, cut = 0, len(self.explanation)
        for i, char in enumerate(self.explanation):
            depth += 1 if char in "([" else -1 if char in ")]" else 0
            if char == ";" and depth == 0:
                cut = i
                break
        return self.explanation[:cut]


PREAMBLE = """Every problem netspec reports has a stable code. Codes never change meaning;
new ones are added at the end of their range. `netspec check --format json`
gives each as a record with `severity`, `code`, `message`, `file`, `line`,
`column` (and `layer`, `labels` (secondary places, each with its label), `notes`, `help`
where there are some). `netspec explain NS0320` prints a code's entry; this page and that
command are generated from one catalogue, `netspec/codes.py`.

Severities: **error** (exit status 1; `check` goes on and reports every
independent problem), **warning** (exit status 0 unless `--werror`), **info**
(shown with `-v`).

Repeats are said once: diagnostics alike but for the layer's name, quoted
names and numbers (a fork field on 24 layers, weights of another net) are
rendered as the first in full with a note naming the other layers or lines;
`--format json` lists each. Some diagnostics belong to a lint (`lint` in
JSON), which `--warn LINT` makes a warning wherever it fires and `--allow LINT`
turns off, as rustc's `-W`/`-A`: `tiling` (NS0320), `names` (NS0203 between weightless layers),
`blocks` (NS0109).

A mistake in one field of a layer (half-typed, NS0101; an unknown field, NS0103; a value
not in the enum, NS0104; a value of the wrong kind, NS0105; a field given twice, NS0106) is
said once, at the field: the layer is checked without it, so the layers below keep their
shapes (those of the field's default), and nothing more is said of the layer or of those
reading its tops. Where the field may be the layer's name, type, a bottom, a top or a phase
rule, the layer is not checked at all."""

SECTIONS: list[tuple[str, list[Code]]] = [
    (
        "NS00xx — files",
        [
            Code(
                "NS0001",
                "error",
                "a solver file with no embedded net; the message names the net file it trains",
                stops=True,
                solver=True,
            ),
            Code(
                "NS0002",
                "info",
                "a solver file: the net embedded in its `net_param` / `train_net_param` is read",
                solver=True,
            ),
            Code(
                "NS0003", "info", "a V0 or V1 net (or net-level `input` fields) was upgraded to the V2 form"
            ),
            Code("NS0004", "info", "a solver's embedded net is tested in the solver's first `test_state`"),
            Code(
                "NS0005",
                "warning",
                "the file is not UTF-8 (a comment saved as GBK or Latin-1, say): its undecodable bytes read as U+FFFD; the caret is at the first",
            ),
        ],
    ),
    (
        "NS01xx — syntax and schema",
        [
            Code(
                "NS0101",
                "error",
                "syntax error: what was found, what was expected (stray `}`, missing `:`); a block never closed, at its own `{` (found by the indentation of a later `}`, the next `layer {` at the start of a line, or the end of the file); a field name with no value; bare words where one value goes (`name: small net`). The parser recovers: the rest of the file is still read and checked; a layer that lost only a half-typed field (not its name, type, bottoms, tops or phase rules) is checked without it, so the layers below keep their shapes, and nothing more is said of it",
            ),
            Code(
                "NS0102",
                "error",
                'a character that starts no token, an unterminated string, or a string with no opening quote (`name: conv1"`)',
            ),
            Code(
                "NS0103",
                "error",
                "unknown field; help names the nearest valid fields, or the `*_param` block it belongs in. "
                "An unknown `*_param { }` block of a layer whose type is stubbed or unknown is instead the "
                "fork's block for that type, a note of that layer's NS0206 or NS0309",
            ),
            Code("NS0104", "error", "a value that is not in the field's enum; lists the valid ones"),
            Code(
                "NS0105",
                "error",
                "a value of the wrong type: string for a number, fraction for an integer, out of range, a block for a scalar and back, a list for a singular field",
            ),
            Code("NS0106", "error", "a singular field given twice"),
            Code("NS0107", "error", "a V0/V1 layer type Caffe does not know (the upgrade goes on)"),
            Code(
                "NS0108",
                "warning/error",
                "something Caffe's upgrade drops or cannot do: a V0 field that does not apply, a padding layer it cannot fold, `input_dim` counts that do not match",
            ),
            Code(
                "NS0109",
                "warning (lint `blocks`)",
                "a `*_param` block the layer's type never reads (`pooling_param` on a Convolution, `normalize_bbox_param` on a Normalize): Caffe parses it and ignores it, so the layer runs with its defaults; help names the blocks the type reads (its own, a data layer's `transform_param`, a loss's `loss_param`), a note the types whose block it is, where the type may be what is wrong. V0/V1 files are judged after their upgrade; unknown and stubbed types are not. A lint: `--allow blocks` turns it off",
            ),
        ],
    ),
    (
        "NS02xx — the graph",
        [
            Code(
                "NS0201",
                "error",
                "a bottom no earlier layer produces; help names the nearest blobs, or the phase/stage that would select its producer",
            ),
            Code(
                "NS0202", "error", "a top produced twice other than in place (in place: top j names bottom j)"
            ),
            Code(
                "NS0203",
                "warning/error",
                "a layer name used twice: where either layer has weights, an error: Caffe binds trained weights by name, into the first layer of the name only, and netspec cannot give the two their own (as `compile` would refuse them, NS0420); between weightless layers Caffe accepts it, but it is usually a copy-paste left unrenamed (lint `names`: `--allow names` turns it off)",
            ),
            Code(
                "NS0204",
                "error",
                "a parameter shared by name (`param { name: ... }`) whose blob differs from its owner's: in shape (share_mode STRICT, the default) or in count (PERMISSIVE), which Caffe refuses",
            ),
            Code(
                "NS0205",
                "error",
                "the net has no layers in the phase checked (an empty file, a truncated one, or every layer excluded): nothing to check and nothing to compile",
            ),
            Code(
                "NS0206",
                "info/warning/error",
                "a layer stubbed by `--stub TYPE_OR_LAYER=identity\\|shape:DIMS`: an info for an identity (compiled as no node), a warning for a shape (compile refuses it, NS0402); an error where an identity's bottoms and tops do not pair up, or a shape rule gives the wrong number of shapes",
            ),
        ],
    ),
    (
        "NS03xx — shapes",
        [
            Code(
                "NS0300",
                "error",
                "wrong number of bottoms or tops for the layer type, or bottoms of unequal shapes where the layer needs equal ones",
            ),
            Code(
                "NS0301",
                "error",
                "an output size that is zero or negative, or a blob with a 0 dim (Caffe allocates no memory for it and stops at the first layer that uses it)",
            ),
            Code(
                "NS0302",
                "error",
                "a kernel larger than the padded input by a stride or more, so Caffe's rounding leaves no window (the arithmetic is shown)",
            ),
            Code("NS0303", "error", "an input with no spatial axis after the channel axis"),
            Code("NS0304", "error", "kernel/stride/pad given in conflicting or miscounted forms"),
            Code("NS0305", "error", "a required convolution field missing (kernel size, num_output)"),
            Code("NS0306", "error", "kernel, stride or dilation below 1"),
            Code("NS0307", "error", "channels or num_output not divisible by group"),
            Code("NS0308", "error", "a layer with no type"),
            Code(
                "NS0309",
                "error",
                "a layer type netspec does not know; its tops become unknown and the rest is still checked",
            ),
            Code("NS0310", "error", "an axis out of range for the input's number of axes"),
            Code(
                "NS0311", "error", "an Input layer whose shape is not given (use `input_param` or `--input`)"
            ),
            Code("NS0312", "error", "an in-place layer whose output shape differs from its input"),
            Code(
                "NS0313",
                "error",
                "a negative dim in a shape the spec writes (Input, `input_dim`/`input_shape`, Parameter), which Caffe's Blob::Reshape refuses",
            ),
            Code(
                "NS0314",
                "warning",
                "a Parameter without `parameter_param.shape`: Caffe makes it a 0-D scalar",
            ),
            Code("NS0315", "error", "BatchReindex indices that are not 1-D, or 0-D data"),
            Code("NS0316", "error", "a Filter selector (the last bottom) that is not (N,) or (N, 1, ...)"),
            Code(
                "NS0317",
                "warning",
                "a Filter: the batch below it depends on the data; the layers below are checked with the full batch, as in Caffe's setup",
            ),
            Code("NS0318", "error", "a Filter whose tops are not one per filtered bottom"),
            Code("NS0319", "error", "a Filter bottom whose first axis differs from the selector's"),
            Code(
                "NS0320",
                "warning/info (lint `tiling`)",
                "a window that does not tile its input: (W − K + 2P)/S + 1 is not whole; how many rows/columns are dropped or over-covered, and a pad, stride or kernel that tiles exactly; also a kernel larger than the padded input by less than a stride, which Caffe's rounding (convolution truncates, pooling ceils) still gives one window that reaches past the border. A lint: a warning where the design likely did not mean it (real input unread beyond the stride's own gaps and at least 1/32 of the axis, as the lecture's 3x3 stride 3 over 7; a last pooling window mostly past the border and at least 1/32 of the axis), an info for textbook designs (only padding unread, as ResNet's and MobileNet's stride-2 3x3 pad 1 over even sizes; GoogLeNet's 3x3 stride-2 pools); `--warn tiling` makes every one a warning, `--allow tiling` turns it off",
            ),
            Code(
                "NS0321",
                "error",
                "Normalize, NormalizeBBox: a bottom below 2-D, or `eps` ≤ 0; NormalizeBBox with both `normalize_bbox_param` and `norm_param`; Normalize with both `norm_param` (SSD's) and `normalize_param` (happynear/caffe-windows'), a `normalize_type` other than L2 or L1, or a second top on SSD's",
            ),
            Code("NS0322", "error", "Permute: an `order` axis out of range or given twice"),
            Code(
                "NS0323",
                "error",
                "PriorBox: no `min_size`, a size or ratio ≤ 0, `max_size` miscounted or not above `min_size`, 1-D bottoms, a `variance` count other than 0, 1 or 4, `img_size`/`step` given with their `_h`/`_w` forms, or one of a `_h`/`_w` pair alone; `offset_h` and `offset_w` of different counts, or given beside `offset` or `denser_prior_boxes`",
            ),
            Code(
                "NS0324",
                "error",
                "DetectionOutput, MultiBoxLoss, DetectionEvaluate: no `num_classes`, a background label outside the classes, loc/conf/prior sizes that disagree, an `nms_threshold` outside [0, 1] or `eta` outside (0, 1], `nms_threshold` or `top_k` given both in `nms_param` and directly, `use_polygon` with a code type other than CENTER_SIZE or with `variance_encoded_in_target`, negative mining without `share_location`, an `overlap_threshold` ≤ 0, detections or labels not (1, 1, rows, 7 or 8)",
            ),
            Code(
                "NS0325",
                "error",
                "ShuffleChannel: a `group` that does not divide the channels, or a bottom that is not 4-D",
            ),
            Code(
                "NS0326",
                "error",
                "Interp: no output size, `height` without `width`, a `zoom_factor`/`shrink_factor` below 1, a positive `pad_beg`/`pad_end`, a crop or output that leaves nothing, a bottom that is not 4-D",
            ),
            Code(
                "NS0327",
                "error",
                "Upsample: SegNet's fields without the mask bottom, a mask of another shape, `upsample_h` without `upsample_w`, `scale` with `scale_h`/`scale_w`, a scale of 0, an output smaller than the input",
            ),
            Code("NS0328", "error", "Axpy: x and y of different shapes, or a scale that is not (N, C, 1, 1)"),
            Code(
                "NS0329",
                "error",
                "ConvolutionDepthwise: `num_output` other than the input channels, or a `group` other than 1 or the channels",
            ),
            Code("NS0330", "error", "`global_pooling` with a kernel, pad or stride"),
            Code("NS0331", "error", "pooling kernel missing or below 1"),
            Code("NS0332", "error", "pooling kernel/pad/stride in conflicting forms"),
            Code("NS0333", "error", "pooling pad not smaller than the kernel (Caffe's check)"),
            Code("NS0334", "error", "the last pooling window starts past the input and reads nothing"),
            Code(
                "NS0335",
                "error",
                "a pooling method that cannot do what is asked (STOCHASTIC with padding, a mask top on AVE)",
            ),
            Code("NS0336", "error", "pooling input that is not 4-D"),
            Code("NS0337", "error", "`round_mode` and `ceil_mode` disagree"),
            Code("NS0338", "error", "SPP `pyramid_height` missing"),
            Code("NS0339", "error", "an SPP level the input is too small for"),
            Code("NS0340", "error", "LRN `local_size` even (Caffe takes odd sizes only)"),
            Code("NS0341", "error", "LRN input not 4-D"),
            Code("NS0342", "error", "BatchNorm input with fewer than 2 axes"),
            Code("NS0343", "error", "a BatchNorm `param` block with `lr_mult` ≠ 0, which Caffe refuses"),
            Code(
                "NS0344",
                "warning",
                "BatchNorm `use_global_stats: false`, or Caffe-SegNet's BN with `bn_mode: LEARN`, at TEST (batch statistics at inference)",
            ),
            Code(
                "NS0345",
                "error",
                "Scale/Bias `num_axes` below −1, or a scale shape running past the input's last axis",
            ),
            Code("NS0346", "error", "Scale/Bias shape that does not match the input at `axis`"),
            Code("NS0347", "error", "MVN input with more than 4 axes"),
            Code("NS0348", "warning", "MVN over single values: every output is 0"),
            Code("NS0349", "warning", "Scale/Bias `num_axes` ignored with two bottoms"),
            Code("NS0350", "error", "both `axis` and the legacy `concat_dim`/`slice_dim`"),
            Code("NS0351", "error", "Concat bottoms that disagree outside the concat axis"),
            Code("NS0352", "error", "slice points miscounted, out of order or outside the axis"),
            Code("NS0353", "error", "an equal Slice split that does not divide"),
            Code("NS0354", "error", "Flatten `end_axis` before `axis`"),
            Code("NS0355", "error", "a Reshape spec Caffe rejects (two −1, a 0 with nothing to copy, ...)"),
            Code("NS0356", "error", "a Reshape whose counts do not match (both counts shown)"),
            Code("NS0357", "error", "Crop offsets miscounted, or a reference blob with too few axes"),
            Code(
                "NS0358", "error", "a crop larger than its input (axis, offset, target and input sizes shown)"
            ),
            Code("NS0359", "error", "Eltwise bottoms of different shapes"),
            Code("NS0360", "error", "Eltwise `coeff` count differs from the bottoms, or `coeff` with PROD"),
            Code("NS0361", "warning", "Eltwise `coeff` ignored by MAX"),
            Code("NS0362", "error", "Tile `tiles` missing or not positive"),
            Code("NS0363", "error", "ArgMax `top_k` zero or larger than the axis"),
            Code(
                "NS0364",
                "error",
                "Split, Flatten, Reshape, or the forks' Transpose, Reverse, ReverseTime or Reorg, in place (Caffe refuses them)",
            ),
            Code("NS0365", "error", "InnerProduct `num_output` missing"),
            Code("NS0366", "error", "Embed `input_dim` / `num_output` missing"),
            Code("NS0367", "warning", "Softmax over an axis of size 1 (always 1)"),
            Code("NS0368", "warning", "an in-place Eltwise SUM drops bottom 0, as Caffe does"),
            Code(
                "NS0369", "error", "an in-place SUM/PROD Eltwise that reads its top again as a later bottom"
            ),
            Code("NS0370", "error", "a wrong number of axes (PReLU 2–4, recurrent inputs, 0-D loss bottoms)"),
            Code("NS0371", "error", "an Exp/Log base that is not positive (or Log base 1)"),
            Code("NS0372", "warning", "Clip min greater than max"),
            Code("NS0373", "warning", "`dropout_ratio` outside (0, 1)"),
            Code("NS0374", "warning", "a Power layer whose output ignores its input"),
            Code(
                "NS0375",
                "error/warning",
                "a data layer's size that only the data knows, or a Python layer's top, which its Python code sizes; pass `--input NAME=DIMS`",
            ),
            Code("NS0376", "error", "a required data-layer size missing or zero"),
            Code("NS0377", "error", "conflicting or miscounted data-layer fields"),
            Code("NS0378", "error", "`loss_weight` count differs from the tops"),
            Code("NS0379", "warning", "a two-top SoftmaxWithLoss, which BVLC Caffe cannot set up"),
            Code("NS0380", "error", "bottoms that disagree on the batch size"),
            Code("NS0381", "error", "a label count that does not match the predictions"),
            Code("NS0382", "error", "value or channel counts that differ"),
            Code("NS0383", "error", "a legacy axis that must be 1"),
            Code("NS0384", "error", "Accuracy `top_k` larger than the number of classes"),
            Code("NS0385", "error", "an infogain matrix missing or of the wrong size"),
            Code("NS0386", "error", "InfogainLoss with `loss_param.normalize`"),
            Code("NS0387", "error", "recurrent bottom/top counts"),
            Code("NS0388", "error", "recurrent shapes that do not match"),
            Code("NS0389", "error", "recurrent `num_output` missing"),
            Code(
                "NS0390",
                "error",
                "causal convolution with a time-axis pad, a stride other than 1, or on a Deconvolution",
            ),
            Code("NS0391", "error", "Unpooling mask shape differs from the values'"),
            Code(
                "NS0392",
                "error",
                "Unpooling output size given twice, incompletely, with scale 0, or smaller than the input",
            ),
            Code(
                "NS0393",
                "error",
                "Maxout: neither or both of `num_output`/`group_size`, or channels that do not divide",
            ),
            Code(
                "NS0394",
                "error",
                "Resize output size given no way or several, scales miscounted or ≤ 0, or an empty output",
            ),
            Code("NS0395", "error", "Resize `align_corners` with NEAREST"),
            Code("NS0396", "error", "an extension layer's (or PSPNet's BN's) input of a rank it cannot take"),
            Code(
                "NS0397",
                "error",
                "a blob (a top or a weight) of more than INT_MAX values, which Caffe's Blob::Reshape refuses",
            ),
            Code(
                "NS0398",
                "error",
                "a BN layer whose `bn_param` mixes Caffe-SegNet's fields with PSPNet's, or PSPNet's BN with more than one top",
            ),
            Code("NS0399", "error", "a bug inside netspec's shape rule (reported, never a traceback)"),
        ],
    ),
    (
        "NS04xx — weights and lowering",
        [
            Code(
                "NS0401",
                "info",
                "training-only layers (losses, Accuracy, Silence) left out of the inference graph",
            ),
            Code("NS0402", "error", "a layer type that is checked but cannot be compiled to ONNX"),
            Code(
                "NS0403",
                "error",
                "an inference graph with no outputs (`check` says it too): every value a deployed layer makes is read by another (a Silence), or only training layers read the inputs and none has a known shape",
            ),
            Code(
                "NS0404",
                "error",
                "an `--outputs` blob the net does not have (help: the nearest names), a blob only training layers compute, or a name given twice",
            ),
            Code(
                "NS0405",
                "info",
                "with `--outputs`, how many layers the named blobs do not need and are left out",
            ),
            Code(
                "NS0406",
                "warning",
                "an output that cannot keep its blob's name: an input rewritten in place and read as an output (the input keeps the name, the output is NAME/LAYER)",
            ),
            Code(
                "NS0410",
                "error",
                "a layer the spec has and the `.caffemodel` lacks (help: the nearest names in the file)",
            ),
            Code("NS0411", "error", "a blob count that differs from what the spec implies"),
            Code("NS0412", "error", "a blob shape that differs (layer, blob, expected and found)"),
            Code("NS0413", "info", "layers in the `.caffemodel` the spec does not have"),
            Code(
                "NS0414",
                "info",
                "layers with no filler in the spec, and the default used (He for weights, 0 for biases)",
            ),
            Code("NS0415", "error", "an unknown filler type"),
            Code(
                "NS0416",
                "error",
                "a filler that does not apply to the blob (bilinear on a non-square kernel, ...)",
            ),
            Code("NS0417", "error", "a filler parameter Caffe rejects (std ≤ 0, min > max, ...)"),
            Code(
                "NS0418",
                "error",
                "weights past protobuf's 2 GiB, which neither an ONNX model nor a `.caffemodel` can hold; help names the largest blob",
            ),
            Code(
                "NS0419",
                "error",
                "`--dynamic-batch` where the sizes do not follow the batch: checked again at one more than its batch, the net fails (a Reshape to a literal batch) or a layer's weights change size (an InnerProduct over the batch axis)",
            ),
            Code(
                "NS0420",
                "error",
                "compile: a layer name that a layer with weights shares with another layer (NS0203 in `check`): weights are held by layer name, so the two cannot get their own",
            ),
            Code(
                "NS0421",
                "error",
                "weights that leave some of the net's weighted layers without blobs: one verdict before the layer-by-layer errors, how many layers found their blobs by name, and where fewer than half did, that the file likely belongs to another net, with the closest names",
            ),
            Code(
                "NS0499",
                "error",
                "a bug inside netspec's lowering (reported, never a traceback), and any compile that fails without another error saying why",
            ),
        ],
    ),
    (
        "NS05xx — running",
        [
            Code("NS0500", "error", "`--provider cuda` where CUDA cannot load; says why and how to install"),
            Code("NS0501", "error", "an unknown provider"),
            Code("NS0502", "error", "an input file that is missing or unreadable"),
            Code("NS0503", "error", "an input name the model does not have"),
            Code(
                "NS0504",
                "error",
                "an input of the wrong shape, or a `--batch`/`--input NAME=DIMS` a compiled model's fixed sizes cannot take (says how to compile it); exit status 2, as every NS05xx but NS0511",
            ),
            Code("NS0505", "error", "an input of the wrong dtype"),
            Code("NS0507", "error", "a malformed `NAME=FILE`, or an input given twice"),
            Code("NS0508", "error", "model inputs not given"),
            Code("NS0509", "error", "a model onnxruntime cannot load"),
            Code("NS0510", "error", "`--repeat` below 1"),
            Code(
                "NS0511",
                "error",
                "onnxruntime failed while running: one line naming the Caffe layer (node names carry it) and onnxruntime's reason; an out-of-range index is said to be an input value the layer refuses",
                blames_spec=True,
            ),
            Code("NS0512", "error", "a random input too large to allocate (its shape and size shown)"),
            Code(
                "NS0513",
                "error",
                "an index input given with a value its layer cannot read (a ROI's batch index not an image of the batch, an Embed input past its table): its place and value, before onnxruntime runs",
            ),
        ],
    ),
    (
        "NS06xx — shapes of fork dialect layers (NS03xx is full)",
        [
            Code(
                "NS0600",
                "error",
                "Lstm: no `num_output`, an x that does not split into timesteps of `batch_size`, or a clip that is not (K,)/(K, 1, ...) with K ≥ T + N − 1",
            ),
            Code(
                "NS0601",
                "warning",
                "Lstm with several streams: the fork's CPU path gives every stream stream 0's recurrent input; netspec follows its GPU path",
            ),
            Code(
                "NS0602",
                "error",
                "Transpose: not one `dim` per axis, or a `dim` out of range or repeated; Reverse: an `axis` negative or out of range",
            ),
            Code(
                "NS0603",
                "error",
                "CTCGreedyDecoder: scores that are not (T, N, C), a `blank_index` past the classes, labels whose first axis is not the streams",
            ),
            Code(
                "NS0604",
                "error",
                "ROIPooling: `pooled_h` or `pooled_w` 0 (or not given), a feature map that is not (N, C, H, W), rois that are not one row of 5 values per ROI, (R, 5)",
            ),
            Code(
                "NS0605",
                "error",
                "SmoothL1Loss: three bottoms (the weights come in pairs), or a target or weight whose channels, height or width differ from the predictions', or a bottom of more than 4 axes",
            ),
            Code(
                "NS0606",
                "error",
                "PSROIPooling: `output_dim` or `group_size` 0 (or not given), no `spatial_scale`, score maps that are not (N, C, H, W) with C = output_dim · group_size², or rois that are not one row of 5 values per ROI, (R, 5)",
            ),
            Code(
                "NS0607",
                "error",
                "ReverseTime: x with fewer than 2 axes (T, N, ...), or lengths that are not one axis of one value per stream",
            ),
            Code(
                "NS0608",
                "warning",
                "ReverseTime without `copy_remaining`: the fork leaves the steps after each stream's length unwritten (zeros on a fresh blob's first pass, stale values after); netspec writes zeros",
            ),
            Code(
                "NS0609",
                "error",
                "DenseBlock: a bottom that is not (N, C, H, W), `numTransition` or `growthRate` below 1, or `param { }` entries (the fork's LayerSetUp writes its own and stops on any)",
            ),
            Code(
                "NS0610",
                "warning",
                "DenseBlock: `pad_h`, `pad_w`, `conv_verticalStride`, `conv_horizentalStride`, `filter_H` or `filter_W` other than 1, 1, 1, 1, 3, 3: the fork always convolves 3 × 3 with pad 1, stride 1, and so does netspec",
            ),
            Code(
                "NS0611",
                "error",
                "R-FCN's training layers: SmoothL1LossOHEM targets or weights whose channels, height or width differ from the predictions'; BoxAnnotatorOHEM without `roi_per_img`, or bottoms other than rois (R, 5), each ROI's loss (R, 1), labels (R, 1) and box-loss weights (R, C)",
            ),
            Code(
                "NS0612",
                "error",
                "Reorg: no `stride` (or 0), a bottom that is not (N, C, H, W), channels that are not a multiple of stride², or (without `reverse`) a height or width that is not a multiple of the stride",
            ),
        ],
    ),
]
CODES = {entry.code: entry for _, entries in SECTIONS for entry in entries}


def markdown() -> str:
    """docs/diagnostics.md."""
    parts = ["# Diagnostic codes", PREAMBLE]
    for title, entries in SECTIONS:
        rows = "\n".join(f"| {e.code} | {e.severity} | {e.explanation} |" for e in entries)
        parts.append(f"## {title}\n\n| code | severity | meaning |\n|---|---|---|\n{rows}")
    return "\n\n".join(parts) + "\n"


def explain(code: str) -> str | None:
    """The entry of `code` (NS0320, ns320 or 320) as plain text for a terminal, or None: its code,
    severity and title, then the rest of its explanation."""
    digits = re.sub(r"^NS", "", code.strip().upper())
    entry = CODES.get(f"NS{int(digits):04d}") if digits.isdigit() else None
    if entry is None:
        return None

    def plain(markdown: str) -> str:
        return re.sub(r"\*\*([^*]+)\*\*", r"\1", markdown.replace("\\|", "|"))

    title = plain(entry.title)
    head = f"{entry.code} ({plain(entry.severity)}): {title[0].upper()}{title[1:]}"
    rest = entry.explanation[len(entry.title) :].lstrip("; ")
    if not rest:
        return head + "\n"
    body = plain(rest)
    import textwrap  # here, not at the top: only `netspec explain` wraps text

    return f"{head}\n\n{textwrap.fill(body[0].upper() + body[1:].rstrip('.') + '.', width=88)}\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
