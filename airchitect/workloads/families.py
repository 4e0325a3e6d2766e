"""Parametric network families: one builder per family, one real network per named variant.

A family is a :class:`Family` in :data:`FAMILIES`: the names of its variants and a function
``build(variant, *, batch, precision_bytes, **kwargs) -> Network``. Adding a family is adding an
entry (``FAMILIES["mine"] = Family(("a", "b"), build_mine)``); nothing else needs to know.

The shipped families, every one with the layer shapes of its reference implementation:

- ``efficientnet`` B0-B7: compound scaling of width, depth and resolution (Tan & Le 2019, the
  coefficients of the official ``efficientnet_builder.py``); MBConv blocks with expansion,
  depthwise kxk and squeeze-and-excitation (two small fully connected layers on the pooled map).
- ``mobilenet_v2``: width multiplier x input resolution, the 22 published checkpoints of the
  TF-slim MobileNetV2 table (:func:`mobilenet_v2_scaled` also takes a depth multiplier).
- ``resnet`` 18/34/50/101/152: torchvision's ResNet (v1.5 bottlenecks), as in the zoo.
- ``vit`` Ti/S/B/L at patch 16 on 224x224: patch-embedding convolution, per encoder block the
  Q/K/V projections, the score and context batched matmuls, the output projection and the MLP,
  then the classifier on the class token.
- ``bert``: the BERT encoder sizes of Turc et al. 2019 (tiny to base) and BERT-large, at a
  ``seq_len`` argument (default 128).

Like the zoo, only MAC-carrying layers appear. The transformer families list one encoder block
with ``repeats`` equal to the depth (its layers are named ``encoder.0-11...``): every block has
the same shapes, so the network stays short and its costs and MACs count every block.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from airchitect.workloads.layer import Layer, WorkloadError, conv2d, fully_connected
from airchitect.workloads.llm import attention_layers, mlp_layers
from airchitect.workloads.network import Network
from airchitect.workloads.zoo import _basic_block, _bottleneck, _resnet, _Stack

#: ``build(variant, *, batch=1, precision_bytes=2, **kwargs) -> Network``
FamilyBuilder = Callable[..., Network]


@dataclass(frozen=True)
class Family:
    """A family of networks: the variant names a user may ask for, and the builder of each."""

    variants: tuple[str, ...]
    build: FamilyBuilder
    description: str = ""


# -- EfficientNet ----------------------------------------------------------------------------------

#: (width, depth, resolution) per variant, from the official ``efficientnet_builder.py``.
_EFFICIENTNET_SCALING = {
    "b0": (1.0, 1.0, 224), "b1": (1.0, 1.1, 240), "b2": (1.1, 1.2, 260), "b3": (1.2, 1.4, 300),
    "b4": (1.4, 1.8, 380), "b5": (1.6, 2.2, 456), "b6": (1.8, 2.6, 528), "b7": (2.0, 3.1, 600),
}  # fmt: skip

#: The B0 stages: (kernel, first stride, expansion, output channels, repeats); SE ratio 0.25.
_EFFICIENTNET_STAGES = ((3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
                        (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1))  # fmt: skip


def _round_channels(channels: float, divisor: int = 8) -> int:
    """The TF reference's rounding of scaled channel counts: nearest multiple of ``divisor``,
    never more than 10 % below the unrounded value."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


def _fc_on(st: _Stack, name: str, in_features: int, out: int) -> None:
    """A fully connected layer on a pooled ``in_features`` vector; the stack's shape is kept."""
    st.layers.append(
        fully_connected(
            name,
            in_features=in_features,
            out_features=out,
            batch=st.batch,
            precision_bytes=st.precision_bytes,
        )
    )


def _mbconv(st: _Stack, prefix: str, kernel: int, stride: int, expand: int, out: int) -> None:
    """Expand 1x1, depthwise kxk, squeeze-and-excitation on the pooled map, project 1x1."""
    block_in = st.channels
    if expand != 1:
        st.conv(f"{prefix}.expand", block_in * expand, 1)
    st.conv(f"{prefix}.dw", st.channels, kernel, stride, kernel // 2, groups=st.channels)
    squeezed = max(1, int(block_in * 0.25))  # the SE ratio applies to the block's input width
    _fc_on(st, f"{prefix}.se.reduce", st.channels, squeezed)
    _fc_on(st, f"{prefix}.se.expand", squeezed, st.channels)
    st.conv(f"{prefix}.project", out, 1)


def efficientnet(variant: str, *, batch: int = 1, precision_bytes: int = 2) -> Network:
    """EfficientNet-B0..B7 at its own resolution (B0 at 224x224, B7 at 600x600)."""
    width, depth, resolution = _EFFICIENTNET_SCALING[variant]
    st = _Stack(3, resolution, batch, precision_bytes)
    st.conv("stem", _round_channels(32 * width), 3, stride=2, padding=1)
    index = 1
    for kernel, stride, expand, out, repeats in _EFFICIENTNET_STAGES:
        for i in range(math.ceil(depth * repeats)):
            out_channels = _round_channels(out * width)
            _mbconv(st, f"block{index}", kernel, stride if i == 0 else 1, expand, out_channels)
            index += 1
    st.conv("head", _round_channels(1280 * width), 1)
    st.hw = 1  # global average pool
    st.fc("classifier", 1000)
    return st.network(f"efficientnet_{variant}", "cnn")


# -- MobileNetV2 -----------------------------------------------------------------------------------

#: (expansion t, output channels c, repeats n, first stride s), from the MobileNetV2 paper.
_MBV2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip
_MBV2_WIDTHS = ("1.4", "1.3", "1.0", "0.75", "0.5", "0.35")
_MBV2_RESOLUTIONS = (224, 192, 160, 128, 96)
#: The published TF-slim checkpoints: every width at 224, the widths up to 1.0 at every resolution.
_MBV2_VARIANTS = tuple(
    f"{w}_{r}" for w in _MBV2_WIDTHS for r in _MBV2_RESOLUTIONS if r == 224 or float(w) <= 1.0
)


def mobilenet_v2_scaled(
    width: float = 1.0,
    resolution: int = 224,
    depth: float = 1.0,
    *,
    batch: int = 1,
    precision_bytes: int = 2,
    name: str | None = None,
) -> Network:
    """MobileNetV2 with a width multiplier, an input resolution and a depth multiplier.

    Channels scale as in the TF-slim reference (multiples of 8); as in the paper, the last 1x1
    convolution keeps 1280 channels for widths below 1. ``depth`` scales every stage's repeats
    (rounded up); the published checkpoints all have depth 1.
    """
    for field, value in (("width", width), ("depth", depth), ("resolution", resolution)):
        if not value > 0:
            raise WorkloadError(
                f"network 'mobilenet_v2': field {field!r} must be > 0, got {value!r}"
            )
    if int(resolution) != resolution:
        raise WorkloadError(f"network 'mobilenet_v2': field 'resolution' must be a whole number "
                            f"of pixels, got {resolution!r}")  # fmt: skip
    # plain Python numbers: numpy scalars (a sweep's values) would reach the layer shapes
    width, depth, resolution = float(width), float(depth), int(resolution)
    st = _Stack(3, resolution, batch, precision_bytes)
    st.conv("conv1", _round_channels(32 * width), 3, stride=2, padding=1)
    index = 1
    for t, c, n, s in _MBV2_BLOCKS:
        for i in range(math.ceil(n * depth)):
            prefix = f"block{index}"
            if t != 1:  # the first block has no expansion convolution
                st.conv(f"{prefix}.expand", st.channels * t, 1)
            st.conv(f"{prefix}.dw", st.channels, 3, s if i == 0 else 1, 1, groups=st.channels)
            st.conv(f"{prefix}.project", _round_channels(c * width), 1)
            index += 1
    st.conv("conv_last", _round_channels(1280 * max(width, 1.0)), 1)
    st.hw = 1  # global average pool
    st.fc("classifier", 1000)
    return st.network(name or f"mobilenet_v2_{width}_{resolution}", "cnn")


def mobilenet_v2(variant: str, *, batch: int = 1, precision_bytes: int = 2) -> Network:
    """A published checkpoint's shapes, named ``WIDTH_RESOLUTION`` (``"0.75_160"``)."""
    width, resolution = variant.split("_")
    return mobilenet_v2_scaled(
        float(width),
        int(resolution),
        batch=batch,
        precision_bytes=precision_bytes,
        name=f"mobilenet_v2_{variant}",
    )


# -- ResNet ----------------------------------------------------------------------------------------

#: Blocks per stage and block type per depth, from the ResNet paper's Table 1.
_RESNET_DEPTHS = {"18": (_basic_block, (2, 2, 2, 2)), "34": (_basic_block, (3, 4, 6, 3)),
                  "50": (_bottleneck, (3, 4, 6, 3)), "101": (_bottleneck, (3, 4, 23, 3)),
                  "152": (_bottleneck, (3, 8, 36, 3))}  # fmt: skip


def resnet(variant: str, *, batch: int = 1, precision_bytes: int = 2) -> Network:
    """torchvision's ResNet-``variant`` on 224x224 (the zoo's resnet18 and resnet50 exactly)."""
    block, depths = _RESNET_DEPTHS[variant]
    return _resnet(f"resnet{variant}", block, depths, batch, precision_bytes)


# -- transformer encoders --------------------------------------------------------------------------


def _encoder_blocks(
    depth: int, *, batch: int, tokens: int, hidden: int, heads: int, mlp: int, pb: int
) -> list[Layer]:
    """One encoder block (self-attention, then a plain MLP); it runs ``depth`` times."""
    prefix, rows = f"encoder.0-{depth - 1}", batch * tokens
    return [
        *attention_layers(
            f"{prefix}.attention",
            rows=rows,
            seqs=batch,
            tokens=tokens,
            kv_len=tokens,
            hidden=hidden,
            heads=heads,
            kv_heads=heads,
            head_dim=hidden // heads,
            precision_bytes=pb,
        ),
        *mlp_layers(
            f"{prefix}.ffn", rows=rows, hidden=hidden, inner=mlp, gated=False, precision_bytes=pb
        ),
    ]


def _with_repeats(
    name: str, head: list[Layer], blocks: list[Layer], depth: int, tail: list[Layer]
) -> Network:
    layers = (*head, *blocks, *tail)
    repeats = (1.0,) * len(head) + (float(depth),) * len(blocks) + (1.0,) * len(tail)
    return Network(name, "transformer", layers, repeats)


#: (hidden, depth, heads, MLP width), from the ViT paper's Table 1 and DeiT's Ti/S.
_VIT_SIZES = {"ti16": (192, 12, 3, 768), "s16": (384, 12, 6, 1536), "b16": (768, 12, 12, 3072),
              "l16": (1024, 24, 16, 4096)}  # fmt: skip


def vit(variant: str, *, batch: int = 1, precision_bytes: int = 2) -> Network:
    """ViT-Ti/S/B/L at patch 16 on 224x224: 196 patches plus the class token."""
    hidden, depth, heads, mlp = _VIT_SIZES[variant]
    patch, image = 16, 224
    embed = conv2d(
        "patch_embed",
        in_channels=3,
        out_channels=hidden,
        in_hw=image,
        kernel=patch,
        stride=patch,
        batch=batch,
        precision_bytes=precision_bytes,
    )
    tokens = embed.p * embed.q + 1
    blocks = _encoder_blocks(
        depth, batch=batch, tokens=tokens, hidden=hidden, heads=heads, mlp=mlp, pb=precision_bytes
    )
    head = fully_connected(
        "head", in_features=hidden, out_features=1000, batch=batch, precision_bytes=precision_bytes
    )
    return _with_repeats(f"vit_{variant}", [embed], blocks, depth, [head])


#: (hidden, depth), from the BERT miniatures (Turc et al. 2019) and BERT's own base and large;
#: heads are hidden / 64 and the feed-forward width 4 x hidden in all of them.
_BERT_SIZES = {"tiny": (128, 2), "mini": (256, 4), "small": (512, 4), "medium": (512, 8),
               "base": (768, 12), "large": (1024, 24)}  # fmt: skip


def bert(variant: str, *, batch: int = 1, precision_bytes: int = 2, seq_len: int = 128) -> Network:
    """The BERT encoder at ``seq_len`` tokens per sequence (embeddings, pooler, heads omitted)."""
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len <= 0:
        raise WorkloadError(
            f"network 'bert_{variant}': field 'seq_len' must be a positive integer, got {seq_len!r}"
        )
    hidden, depth = _BERT_SIZES[variant]
    blocks = _encoder_blocks(
        depth,
        batch=batch,
        tokens=seq_len,
        hidden=hidden,
        heads=hidden // 64,
        mlp=4 * hidden,
        pb=precision_bytes,
    )
    return _with_repeats(f"bert_{variant}", [], blocks, depth, [])


# -- registry --------------------------------------------------------------------------------------

FAMILIES: dict[str, Family] = {
    "efficientnet": Family(tuple(_EFFICIENTNET_SCALING), efficientnet,
                           "EfficientNet B0-B7, compound scaling"),
    "mobilenet_v2": Family(_MBV2_VARIANTS, mobilenet_v2,
                           "MobileNetV2, width multiplier x input resolution"),
    "resnet": Family(tuple(_RESNET_DEPTHS), resnet, "ResNet depths 18-152 (torchvision)"),
    "vit": Family(tuple(_VIT_SIZES), vit, "ViT Ti/S/B/L, patch 16, 224x224"),
    "bert": Family(tuple(_BERT_SIZES), bert, "BERT encoder sizes at a sequence length"),
}  # fmt: skip


def list_families() -> list[str]:
    """Names accepted by :func:`family_variants` and :func:`build_variant`, sorted."""
    return sorted(FAMILIES)


def _family(family: str) -> Family:
    try:
        return FAMILIES[family]
    except KeyError:
        raise WorkloadError(
            f"unknown network family {family!r}; allowed: {', '.join(list_families())}"
        ) from None


def family_variants(family: str) -> list[str]:
    """The variants of ``family`` in the family's own order (smallest or canonical first)."""
    return list(_family(family).variants)


def build_variant(family: str, variant: str, **kwargs) -> Network:
    """Build one variant; ``kwargs`` (``batch``, ``precision_bytes``, ...) pass to the builder."""
    fam = _family(family)
    if variant not in fam.variants:
        raise WorkloadError(
            f"unknown variant {variant!r} of network family {family!r}; "
            f"allowed: {', '.join(fam.variants)}"
        )
    return fam.build(variant, **kwargs)


__all__ = [
    "FAMILIES",
    "Family",
    "FamilyBuilder",
    "build_variant",
    "family_variants",
    "list_families",
    "mobilenet_v2_scaled",
]
