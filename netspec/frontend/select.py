"""Phase, stage and level selection: which layers a NetState keeps, as Caffe's Net::FilterNet."""

from __future__ import annotations

from netspec.proto import caffe_pb2

TRAIN, TEST = caffe_pb2.TRAIN, caffe_pb2.TEST


def state_meets_rule(state: caffe_pb2.NetState, rule: caffe_pb2.NetStateRule) -> bool:
    if rule.HasField("phase") and rule.phase != state.phase:
        return False
    if rule.HasField("min_level") and state.level < rule.min_level:
        return False
    if rule.HasField("max_level") and state.level > rule.max_level:
        return False
    stages = set(state.stage)
    if any(stage not in stages for stage in rule.stage):
        return False
    return not any(stage in stages for stage in rule.not_stage)


def layer_included(layer: caffe_pb2.LayerParameter, state: caffe_pb2.NetState) -> bool:
    """Caffe's rule: with include rules, any one must match; else no exclude rule may match."""
    if layer.include:
        return any(state_meets_rule(state, rule) for rule in layer.include)
    return not any(state_meets_rule(state, rule) for rule in layer.exclude)


def net_state(
    net: caffe_pb2.NetParameter, phase: int = TEST, level: int | None = None, stages: list[str] | None = None
) -> caffe_pb2.NetState:
    """The state a net is run in: the file's `state` with the caller's phase (and level, stages)."""
    state = caffe_pb2.NetState()
    state.CopyFrom(net.state)
    state.phase = phase
    if level is not None:
        state.level = level
    if stages is not None:
        del state.stage[:]
        state.stage.extend(stages)
    return state
