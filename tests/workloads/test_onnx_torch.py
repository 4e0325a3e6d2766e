"""Real exports: a ViT-style block and an EfficientNet-style MBConv block, built from plain torch,
exported with ``torch.onnx.export`` and imported; MAC totals checked against hand-computed ones."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airchitect.workloads import OpType, onnx_shapes
from airchitect.workloads.importers import load_onnx

torch = pytest.importorskip("torch")
nn = torch.nn


class ViTBlock(nn.Module):
    """timm's layout: patch embedding, fused qkv, ``q @ k^T``, softmax, ``a @ v``, proj, MLP."""

    def __init__(self, dim=64, heads=4, mlp=128, patch=8):
        super().__init__()
        self.heads = heads
        self.patch = nn.Conv2d(3, dim, patch, patch)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)  # (B, T, C)
        b, t, c = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(b, t, 3, self.heads, c // self.heads)
        qkv = qkv.permute(2, 0, 3, 1, 4)  # (3, B, heads, T, C / heads)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)).softmax(-1)
        x = x + self.proj((attn @ v).transpose(1, 2).reshape(b, t, c))
        return x + self.mlp(self.norm2(x))


class MBConv(nn.Module):
    """Expand 1x1, depthwise 3x3 stride 2, squeeze-and-excitation, project 1x1; then a grouped
    3x3 conv (4 groups) so every conv kind appears."""

    def __init__(self, cin=16, expand=4, cout=24, squeeze=4):
        super().__init__()
        mid = cin * expand
        self.expand = nn.Sequential(nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid))
        self.dw = nn.Sequential(
            nn.Conv2d(mid, mid, 3, 2, 1, groups=mid, bias=False), nn.BatchNorm2d(mid)
        )
        self.se_reduce, self.se_expand = nn.Conv2d(mid, squeeze, 1), nn.Conv2d(squeeze, mid, 1)
        self.project = nn.Sequential(nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.grouped = nn.Conv2d(cout, 2 * cout, 3, 1, 1, groups=4)

    def forward(self, x):
        x = nn.functional.silu(self.dw(nn.functional.silu(self.expand(x))))
        s = x.mean((2, 3), keepdim=True)
        s = torch.sigmoid(self.se_expand(nn.functional.silu(self.se_reduce(s))))
        return self.grouped(self.project(x * s))


def _export(module, shape, path):
    module.eval()
    torch.onnx.export(
        module, (torch.zeros(*shape),), str(path), dynamo=False, input_names=["x"],
        dynamic_axes={"x": {0: "batch"}},
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("torch_onnx")
    torch.manual_seed(0)
    return {
        "vit": _export(ViTBlock(), (1, 3, 32, 32), root / "vit.onnx"),
        "mbconv": _export(MBConv(), (1, 16, 32, 32), root / "mbconv.onnx"),
    }


#: 32x32 image, 8x8 patches: 16 tokens of width 64, 4 heads of 16, MLP 128.
VIT_MACS = {
    "patch": 64 * 3 * 8 * 8 * 16,
    "qkv": 16 * 64 * 192,
    "scores": 4 * 16 * 16 * 16,  # per head (16 x 16) @ (16 x 16)
    "context": 4 * 16 * 16 * 16,
    "proj": 16 * 64 * 64,
    "mlp": 2 * 16 * 64 * 128,
}
#: 16 -> 64 channels at 32x32; depthwise stride 2 to 16x16; SE 64 -> 4 -> 64 on 1x1; 64 -> 24;
#: grouped 24 -> 48 in 4 groups of 6 input channels.
MBCONV_MACS = {
    "expand": 64 * 16 * 32 * 32,
    "dw": 64 * 9 * 16 * 16,
    "se": 4 * 64 + 64 * 4,
    "project": 24 * 64 * 16 * 16,
    "grouped": 48 * 6 * 9 * 16 * 16,
}


def test_vit_block_imports_with_attention_products(exported):
    net = load_onnx(exported["vit"])
    assert net.macs == sum(VIT_MACS.values())
    bmm = [layer for layer in net.layers if layer.op is OpType.BMM]
    assert [(x.groups, x.p, x.c_per_group, x.k_per_group) for x in bmm] == [(4, 16, 16, 16)] * 2
    gemms = [layer for layer in net.layers if layer.op is OpType.GEMM]
    assert sorted((x.p, x.c, x.k) for x in gemms) == sorted(
        [(16, 64, 192), (16, 64, 64), (16, 64, 128), (16, 128, 64)]
    )
    # the dynamic batch pinned to 2 doubles every layer
    assert load_onnx(exported["vit"], batch=2).macs == 2 * net.macs


def test_mbconv_block_depthwise_grouped_and_se(exported):
    net = load_onnx(exported["mbconv"])
    assert net.macs == sum(MBCONV_MACS.values())
    ops = [layer.op for layer in net.layers]
    assert ops == [OpType.CONV, OpType.DWCONV, OpType.CONV, OpType.CONV, OpType.CONV, OpType.GCONV]
    dw, grouped = net.layers[1], net.layers[5]
    assert (dw.groups, dw.k, dw.c, dw.p, dw.stride) == (64, 64, 64, 16, 2)
    assert (grouped.groups, grouped.k, grouped.c) == (4, 48, 24)
    se_reduce = net.layers[2]
    assert (se_reduce.k, se_reduce.c, se_reduce.p, se_reduce.q) == (4, 64, 1, 1)


def test_vit_block_imports_by_running_on_zeros(exported, monkeypatch):
    """With the symbolic step unavailable, one run on zeros still finds every shape."""

    def unavailable(model):
        raise RuntimeError("no symbolic inference here")

    monkeypatch.setattr(onnx_shapes, "_symbolic", unavailable)
    assert load_onnx(exported["vit"]).macs == sum(VIT_MACS.values())
    assert load_onnx(exported["vit"], batch=3).macs == 3 * sum(VIT_MACS.values())


def test_importing_an_export_does_not_import_torch(exported):
    """The shape inference steps (onnxruntime's symbolic one included) run without torch."""
    code = (
        "import sys; from airchitect.workloads.importers import load_onnx; "
        f"n = load_onnx({str(exported['vit'])!r}); "
        "assert 'torch' not in sys.modules, 'torch imported'; print(n.macs)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == sum(VIT_MACS.values())
