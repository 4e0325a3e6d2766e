"""The zoo's networks against hand-computed, published layer shapes and MAC counts."""

from __future__ import annotations

import pytest

from airchitect.workloads import OpType, WorkloadError
from airchitect.workloads.zoo import ZOO, get_network, list_networks


def _layer(net, name):
    return next(layer for layer in net.layers if layer.name == name)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_network_builds_with_batch_and_precision(name):
    net = get_network(name, batch=2, precision_bytes=1)
    assert net.name == name
    assert net.family in {"cnn", "mlp", "rl", "transformer", "llm"}
    assert all(layer.precision_bytes == 1 for layer in net.layers)
    assert net.macs == 2 * get_network(name).macs  # every layer scales with the batch


def test_list_networks_is_sorted_registry():
    names = list_networks()
    assert names == sorted(ZOO)
    assert {"alexnet", "alexnet_grouped", "resnet50", "mobilenet_v2", "llama", "gpt2"} <= set(names)


def test_unknown_network_lists_allowed_names():
    with pytest.raises(WorkloadError, match=r"unknown network 'resnet51'.*resnet50.*vgg16"):
        get_network("resnet51")


def test_alexnet_grouped_matches_eyeriss_at_batch_4():
    net = get_network("alexnet_grouped", batch=4)
    expected = {"conv1": 421.66e6, "conv2": 895.79e6, "conv3": 598.1e6, "conv4": 448.6e6,
                "conv5": 299.0e6}  # fmt: skip
    for name, macs in expected.items():
        assert _layer(net, name).macs == pytest.approx(macs, rel=1e-3), name
    conv2 = _layer(net, "conv2")
    assert (conv2.k, conv2.c, conv2.groups, conv2.p, conv2.r) == (256, 96, 2, 27, 5)
    assert conv2.op is OpType.GCONV
    assert _layer(net, "conv1").p == 55
    assert _layer(net, "fc6").c == 9216


def test_alexnet_torchvision_shapes():
    net = get_network("alexnet")
    assert [(lay.k, lay.p) for lay in net.layers[:5]] == [
        (64, 55), (192, 27), (384, 13), (256, 13), (256, 13)
    ]  # fmt: skip
    assert _layer(net, "fc6").c == 256 * 6 * 6
    assert net.macs == pytest.approx(714.2e6, rel=1e-3)


def test_vgg16_total_macs():
    net = get_network("vgg16")
    assert len(net) == 16
    assert net.macs == pytest.approx(15.47e9, rel=5e-3)
    assert _layer(net, "fc6").c == 25088


def test_resnet50_every_conv_and_fc():
    net = get_network("resnet50")
    convs = [layer for layer in net.layers if layer.op is OpType.CONV]
    assert len(convs) == 53  # 1 stem + 16 blocks x 3 + 4 projection shortcuts
    assert len(net) == 54  # plus the fc
    assert net.macs == pytest.approx(4.09e9, rel=0.02)
    down = _layer(net, "layer2.0.downsample.0")
    assert (down.c, down.k, down.r, down.stride, down.p) == (256, 512, 1, 2, 28)
    assert _layer(net, "layer2.0.conv2").stride == 2  # v1.5: the stride sits on the 3x3
    assert _layer(net, "layer4.2.conv3").p == 7
    assert _layer(net, "fc").c == 2048


def test_resnet18_shapes():
    net = get_network("resnet18")
    assert len(net) == 21  # 1 + 16 + 3 projections + fc
    assert "layer1.0.downsample.0" not in {layer.name for layer in net.layers}
    assert net.macs == pytest.approx(1.814e9, rel=0.01)


def test_mobilenet_v2():
    net = get_network("mobilenet_v2")
    assert net.macs == pytest.approx(300e6, rel=0.05)
    dws = [layer for layer in net.layers if layer.op is OpType.DWCONV]
    assert len(dws) == 17
    assert "block1.expand" not in {layer.name for layer in net.layers}  # t=1: no expansion
    expand = _layer(net, "block2.expand")
    assert (expand.c, expand.k, expand.p) == (16, 96, 112)
    assert _layer(net, "block2.dw").stride == 2
    assert _layer(net, "block17.project").k == 320
    assert _layer(net, "classifier").c == 1280


def test_dqn_nature_shapes():
    net = get_network("dqn")
    assert [layer.p for layer in net.layers[:3]] == [20, 9, 7]
    assert (_layer(net, "fc1").c, _layer(net, "fc1").k) == (3136, 512)
    assert _layer(net, "fc2").k == 18
    assert get_network("dqn", n_actions=4).layers[-1].k == 4
    assert net.family == "rl"


def test_mlp_configurable():
    net = get_network("mlp")
    assert [(lay.c, lay.k) for lay in net.layers] == [(784, 1024), (1024, 1024), (1024, 10)]
    assert len(get_network("mlp", sizes=(10, 20)).layers) == 1
    with pytest.raises(WorkloadError, match="sizes"):
        get_network("mlp", sizes=(10,))


def test_bert_base_projection_and_attention_shapes():
    net = get_network("bert_base", batch=2)
    assert len(net) == 12 * 8
    q = _layer(net, "encoder.11.attention.q_proj")
    assert (q.p, q.c, q.k, q.op) == (256, 768, 768, OpType.GEMM)  # M = 2 * 128
    scores = _layer(net, "encoder.0.attention.scores")
    assert (scores.groups, scores.p, scores.c_per_group, scores.k_per_group) == (24, 128, 64, 128)
    ctx = _layer(net, "encoder.0.attention.context")
    assert (ctx.groups, ctx.c_per_group, ctx.k_per_group) == (24, 128, 64)
    fc1 = _layer(net, "encoder.0.ffn.fc1")
    assert (fc1.c, fc1.k) == (768, 3072)
    # 12 x (4 x 768^2 + 2 x 768 x 3072) x 128 tokens + 12 x 2 x 12 x 128^2 x 64 per sequence
    assert net.macs == 2 * (12 * (4 * 768**2 + 2 * 768 * 3072) * 128 + 12 * 2 * 12 * 128**2 * 64)


def test_gpt2_small_shapes():
    net = get_network("gpt2")
    assert net.family == "llm"
    q = _layer(net, "layers.0.self_attn.q_proj")
    assert (q.p, q.c, q.k) == (1024, 768, 768)
    assert (_layer(net, "layers.11.mlp.fc1").k, _layer(net, "layers.11.mlp.fc2").k) == (3072, 768)
    head = _layer(net, "lm_head")
    assert (head.p, head.c, head.k) == (1024, 768, 50257)
    assert len(net) == 12 * 8 + 1


def test_llama_default_and_passthrough():
    net = get_network("llama")
    assert net.family == "llm"
    assert _layer(net, "layers.0.self_attn.q_proj").p == 512
    assert _layer(net, "layers.15.mlp.gate_proj").k == 8192  # Llama-3.2-1B: 16 layers
    decode = get_network("llama", phase="decode", seq_len=128)
    assert _layer(decode, "layers.0.self_attn.scores").k_per_group == 129
