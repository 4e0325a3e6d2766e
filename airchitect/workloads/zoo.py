"""Real networks with their published layer shapes, and a registry to look them up by name.

Only MAC-carrying layers appear (convolutions, fully connected layers, GEMMs, batched matmuls);
pooling, normalisation, activations and element-wise additions are tracked only for the shapes
they change. Every builder takes keyword-only ``batch`` and ``precision_bytes``.
"""

from __future__ import annotations

from collections.abc import Callable

from airchitect.workloads.layer import (
    Layer,
    WorkloadError,
    conv2d,
    conv_output_size,
    fully_connected,
)
from airchitect.workloads.llm import attention_layers, build_llm, load_llm_config, mlp_layers
from airchitect.workloads.network import Network


class _Stack:
    """Tracks channels and spatial size through a feed-forward stack of layers."""

    def __init__(self, channels: int, hw: int, batch: int, precision_bytes: int) -> None:
        self.channels, self.hw = channels, hw
        self.batch, self.precision_bytes = batch, precision_bytes
        self.layers: list[Layer] = []

    def conv(
        self, name: str, out: int, kernel: int, stride: int = 1, padding: int = 0, groups: int = 1
    ) -> Layer:
        """Append a convolution on the current tensor and advance the tracked shape."""
        layer = conv2d(
            name, in_channels=self.channels, out_channels=out, in_hw=self.hw, kernel=kernel,
            stride=stride, padding=padding, groups=groups, batch=self.batch,
            precision_bytes=self.precision_bytes,
        )  # fmt: skip
        self.layers.append(layer)
        self.channels, self.hw = out, layer.p
        return layer

    def pool(self, kernel: int, stride: int, padding: int = 0) -> None:
        """A pooling window: no MACs, only a new spatial size."""
        self.hw = conv_output_size(self.hw, kernel, stride, padding)

    def fc(self, name: str, out: int) -> None:
        """A fully connected layer on the flattened current tensor."""
        self.layers.append(
            fully_connected(
                name,
                in_features=self.channels * self.hw * self.hw,
                out_features=out,
                batch=self.batch,
                precision_bytes=self.precision_bytes,
            )
        )
        self.channels, self.hw = out, 1

    def network(self, name: str, family: str) -> Network:
        return Network(name, family, tuple(self.layers))


# -- CNNs ------------------------------------------------------------------------------------------


def alexnet(*, batch: int = 1, precision_bytes: int = 2) -> Network:
    """torchvision's single-tower AlexNet on a 224x224 input."""
    st = _Stack(3, 224, batch, precision_bytes)
    st.conv("conv1", 64, 11, stride=4, padding=2)
    st.pool(3, 2)
    st.conv("conv2", 192, 5, padding=2)
    st.pool(3, 2)
    st.conv("conv3", 384, 3, padding=1)
    st.conv("conv4", 256, 3, padding=1)
    st.conv("conv5", 256, 3, padding=1)
    st.pool(3, 2)  # 13 -> 6; the adaptive average pool to 6x6 is then the identity
    for name, out in (("fc6", 4096), ("fc7", 4096), ("fc8", 1000)):
        st.fc(name, out)
    return st.network("alexnet", "cnn")


def alexnet_grouped(*, batch: int = 1, precision_bytes: int = 2) -> Network:
    """The original two-GPU AlexNet (Krizhevsky 2012) on 227x227, as tabulated by Eyeriss."""
    st = _Stack(3, 227, batch, precision_bytes)
    st.conv("conv1", 96, 11, stride=4)
    st.pool(3, 2)
    st.conv("conv2", 256, 5, padding=2, groups=2)
    st.pool(3, 2)
    st.conv("conv3", 384, 3, padding=1)
    st.conv("conv4", 384, 3, padding=1, groups=2)
    st.conv("conv5", 256, 3, padding=1, groups=2)
    st.pool(3, 2)
    for name, out in (("fc6", 4096), ("fc7", 4096), ("fc8", 1000)):
        st.fc(name, out)
    return st.network("alexnet_grouped", "cnn")


_VGG16_STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def vgg16(*, batch: int = 1, precision_bytes: int = 2) -> Network:
    """VGG-16 (configuration D) on 224x224: 13 3x3 convolutions and 3 fully connected layers."""
    st = _Stack(3, 224, batch, precision_bytes)
    for stage, (width, depth) in enumerate(_VGG16_STAGES, start=1):
        for i in range(1, depth + 1):
            st.conv(f"conv{stage}_{i}", width, 3, padding=1)
        st.pool(2, 2)
    for name, out in (("fc6", 4096), ("fc7", 4096), ("fc8", 1000)):
        st.fc(name, out)
    return st.network("vgg16", "cnn")


def _resnet_stem(st: _Stack) -> None:
    st.conv("conv1", 64, 7, stride=2, padding=3)
    st.pool(3, 2, padding=1)


def _downsample(st: _Stack, prefix: str, out: int, stride: int, block_in: tuple[int, int]) -> None:
    """The 1x1 projection shortcut; it reads the block's input, not the main path's output."""
    main = (st.channels, st.hw)
    st.channels, st.hw = block_in
    st.conv(f"{prefix}.downsample.0", out, 1, stride=stride)
    st.channels, st.hw = main


def _basic_block(st: _Stack, prefix: str, width: int, stride: int) -> None:
    block_in = (st.channels, st.hw)
    st.conv(f"{prefix}.conv1", width, 3, stride=stride, padding=1)
    st.conv(f"{prefix}.conv2", width, 3, padding=1)
    if stride != 1 or block_in[0] != width:
        _downsample(st, prefix, width, stride, block_in)


def _bottleneck(st: _Stack, prefix: str, width: int, stride: int) -> None:
    """torchvision's ResNet v1.5 bottleneck: the stride sits on the 3x3 convolution."""
    block_in = (st.channels, st.hw)
    st.conv(f"{prefix}.conv1", width, 1)
    st.conv(f"{prefix}.conv2", width, 3, stride=stride, padding=1)
    st.conv(f"{prefix}.conv3", 4 * width, 1)
    if stride != 1 or block_in[0] != 4 * width:
        _downsample(st, prefix, 4 * width, stride, block_in)


def _resnet(name: str, block: Callable, depths: tuple[int, ...], batch: int, pb: int) -> Network:
    st = _Stack(3, 224, batch, pb)
    _resnet_stem(st)
    for stage, depth in enumerate(depths):
        for i in range(depth):
            stride = 2 if stage > 0 and i == 0 else 1
            block(st, f"layer{stage + 1}.{i}", 64 * 2**stage, stride)
    st.hw = 1  # global average pool
    st.fc("fc", 1000)
    return st.network(name, "cnn")


def resnet18(*, batch: int = 1, precision_bytes: int = 2) -> Network:
    """ResNet-18 on 224x224, every convolution including the projection shortcuts, and the fc."""
    return _resnet("resnet18", _basic_block, (2, 2, 2, 2), batch, precision_bytes)


def resnet50(*, batch: int = 1, precision_bytes: int = 2) -> Network:
    """ResNet-50 (v1.5) on 224x224: 53 convolutions (4 of them projections) and the fc."""
    return _resnet("resnet50", _bottleneck, (3, 4, 6, 3), batch, precision_bytes)


#: (expansion t, output channels c, repeats n, first stride s), from the MobileNetV2 paper.
_MBV2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip


def mobilenet_v2(*, batch: int = 1, precision_bytes: int = 2) -> Network:
    """MobileNetV2, width 1.0, 224x224: expand 1x1, depthwise 3x3, project 1x1 per block."""
    st = _Stack(3, 224, batch, precision_bytes)
    st.conv("conv1", 32, 3, stride=2, padding=1)
    index = 1
    for t, c, n, s in _MBV2_BLOCKS:
        for i in range(n):
            prefix = f"block{index}"
            if t != 1:  # the first block has no expansion convolution
                st.conv(f"{prefix}.expand", st.channels * t, 1)
            st.conv(f"{prefix}.dw", st.channels, 3, s if i == 0 else 1, 1, groups=st.channels)
            st.conv(f"{prefix}.project", c, 1)
            index += 1
    st.conv("conv_last", 1280, 1)
    st.hw = 1  # global average pool
    st.fc("classifier", 1000)
    return st.network("mobilenet_v2", "cnn")


# -- MLP and RL ------------------------------------------------------------------------------------


def dqn(*, batch: int = 1, precision_bytes: int = 2, n_actions: int = 18) -> Network:
    """The Nature DQN (Mnih et al. 2015) on 4 stacked 84x84 frames; 18 actions is full Atari."""
    st = _Stack(4, 84, batch, precision_bytes)
    st.conv("conv1", 32, 8, stride=4)
    st.conv("conv2", 64, 4, stride=2)
    st.conv("conv3", 64, 3)
    st.fc("fc1", 512)  # 7 * 7 * 64 = 3136 inputs
    st.fc("fc2", n_actions)
    return st.network("dqn", "rl")


def mlp(
    *, batch: int = 1, precision_bytes: int = 2, sizes: tuple[int, ...] = (784, 1024, 1024, 10)
) -> Network:
    """A multilayer perceptron; ``sizes`` lists the input width then every layer's width."""
    if len(sizes) < 2:
        raise WorkloadError(f"network 'mlp': field 'sizes' needs at least 2 entries, got {sizes!r}")
    layers = tuple(
        fully_connected(
            f"fc{i}",
            in_features=fan_in,
            out_features=fan_out,
            batch=batch,
            precision_bytes=precision_bytes,
        )
        for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:], strict=False), start=1)
    )
    return Network("mlp", "mlp", layers)


# -- transformers ----------------------------------------------------------------------------------


def bert_base(*, batch: int = 1, precision_bytes: int = 2, seq_len: int = 128) -> Network:
    """BERT-base encoder: 12 layers, hidden 768, 12 heads, FFN 3072 (pooler and heads omitted)."""
    hidden, heads, rows = 768, 12, batch * seq_len
    layers: list[Layer] = []
    for i in range(12):
        layers += attention_layers(
            f"encoder.{i}.attention", rows=rows, seqs=batch, tokens=seq_len, kv_len=seq_len,
            hidden=hidden, heads=heads, kv_heads=heads, head_dim=hidden // heads,
            precision_bytes=precision_bytes,
        )  # fmt: skip
        layers += mlp_layers(
            f"encoder.{i}.ffn", rows=rows, hidden=hidden, inner=4 * hidden, gated=False,
            precision_bytes=precision_bytes,
        )  # fmt: skip
    return Network("bert_base", "transformer", tuple(layers))


def gpt2(
    *, batch: int = 1, precision_bytes: int = 2, seq_len: int = 1024, phase: str = "prefill",
    context_len: int | None = None,
) -> Network:  # fmt: skip
    """GPT-2 small (124M): 12 layers, hidden 768, 12 heads, 50257-token LM head."""
    return build_llm(
        load_llm_config("gpt2"), phase, batch, seq_len, context_len,
        precision_bytes=precision_bytes, name="gpt2",
    )  # fmt: skip


def llama(
    *, batch: int = 1, precision_bytes: int = 2, seq_len: int = 512, phase: str = "prefill",
    context_len: int | None = None, config: str = "llama-3.2-1b",
) -> Network:  # fmt: skip
    """A Llama-style decoder (default Llama-3.2-1B, prefill of 512 tokens)."""
    return build_llm(
        load_llm_config(config), phase, batch, seq_len, context_len,
        precision_bytes=precision_bytes, name="llama",
    )  # fmt: skip


# -- registry --------------------------------------------------------------------------------------

ZOO: dict[str, Callable[..., Network]] = {
    "alexnet": alexnet,
    "alexnet_grouped": alexnet_grouped,
    "vgg16": vgg16,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "mobilenet_v2": mobilenet_v2,
    "dqn": dqn,
    "mlp": mlp,
    "bert_base": bert_base,
    "gpt2": gpt2,
    "llama": llama,
}


def list_networks() -> list[str]:
    """Names accepted by :func:`get_network`, sorted."""
    return sorted(ZOO)


def get_network(name: str, **kwargs) -> Network:
    """Build a zoo network by name; ``kwargs`` (``batch``, ``precision_bytes``, ...) pass on."""
    try:
        builder = ZOO[name]
    except KeyError:
        raise WorkloadError(
            f"unknown network {name!r}; allowed: {', '.join(list_networks())}"
        ) from None
    return builder(**kwargs)
