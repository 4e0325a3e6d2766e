"""ONNX and layer-table importers, on small models and tables written to a tmp dir."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from airchitect.workloads import OpType, WorkloadError
from airchitect.workloads.importers import load_layers_table, load_onnx

# -- ONNX ------------------------------------------------------------------------------------------


def _weight(name: str, *shape: int):
    return numpy_helper.from_array(np.zeros(shape, dtype=np.float32), name)


def _save(tmp_path, nodes, inputs, outputs, inits=(), name="m.onnx"):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def _vi(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


@pytest.fixture
def cnn_path(tmp_path):
    """Grouped conv -> relu -> flatten -> Gemm(transB) -> MatMul with a weight."""
    nodes = [
        helper.make_node(
            "Conv",
            ["x", "w1"],
            ["c1"],
            name="conv1",
            kernel_shape=[3, 3],
            strides=[2, 2],
            pads=[1, 1, 1, 1],
            group=2,
        ),  # fmt: skip
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Flatten", ["r1"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w2", "b2"], ["g"], name="fc", transB=1),
        helper.make_node("MatMul", ["g", "w3"], ["y"]),
    ]
    inits = [_weight("w1", 16, 4, 3, 3), _weight("w2", 10, 16 * 4 * 4), _weight("b2", 10),
             _weight("w3", 10, 5)]  # fmt: skip
    return _save(tmp_path, nodes, [_vi("x", ["N", 8, 8, 8])], [_vi("y", None)], inits)


def test_conv_gemm_matmul(cnn_path):
    net = load_onnx(cnn_path, batch=3)
    assert net.name == "m" and net.family == "onnx"
    conv, fc, mm = net.layers  # the Relu and Flatten carry no MACs
    assert (conv.n, conv.k, conv.c, conv.p, conv.q, conv.r, conv.s) == (3, 16, 8, 4, 4, 3, 3)
    assert (conv.stride, conv.groups, conv.op) == (2, 2, OpType.GCONV)
    assert (fc.name, fc.op, fc.p, fc.c, fc.k) == ("fc", OpType.GEMM, 3, 256, 10)
    assert (mm.name, mm.p, mm.c, mm.k) == ("matmul_4", 3, 10, 5)
    assert conv.precision_bytes == 4  # float32 model
    assert load_onnx(cnn_path, precision_bytes=2).layers[0].precision_bytes == 2


def test_symbolic_batch_defaults_to_one(cnn_path):
    assert load_onnx(cnn_path).layers[0].n == 1


def test_depthwise_conv(tmp_path):
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="dw", group=8, pads=[1, 1, 1, 1])
    path = _save(tmp_path, [node], [_vi("x", [2, 8, 6, 6])], [_vi("y", None)],
                 [_weight("w", 8, 1, 3, 3)])  # fmt: skip
    (layer,) = load_onnx(path).layers
    assert (layer.op, layer.groups, layer.n, layer.p) == (OpType.DWCONV, 8, 2, 6)


def test_matmul_batched_and_tall(tmp_path):
    nodes = [
        helper.make_node("MatMul", ["q", "kt"], ["s"], name="scores"),
        helper.make_node("MatMul", ["s", "w"], ["y"], name="proj"),
    ]
    inputs = [_vi("q", [2, 12, 16, 64]), _vi("kt", [2, 12, 64, 16])]
    path = _save(tmp_path, nodes, inputs, [_vi("y", None)], [_weight("w", 16, 32)])
    scores, proj = load_onnx(path).layers
    assert scores.op is OpType.BMM
    assert (scores.groups, scores.p, scores.c_per_group, scores.k_per_group) == (24, 16, 64, 16)
    assert proj.op is OpType.GEMM
    assert (proj.p, proj.c, proj.k) == (2 * 12 * 16, 16, 32)  # weight operand: one tall GEMM


def test_gemm_trans_a(tmp_path):
    node = helper.make_node("Gemm", ["a", "b"], ["y"], name="g", transA=1)
    path = _save(tmp_path, [node], [_vi("a", [7, 5]), _vi("b", [7, 3])], [_vi("y", None)])
    (layer,) = load_onnx(path).layers
    assert (layer.p, layer.c, layer.k) == (5, 7, 3)


def test_malformed_onnx_names_the_path(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"this is not an onnx model\x00\xff\x01")
    with pytest.raises(WorkloadError, match=r"broken\.onnx"):
        load_onnx(path)
    with pytest.raises(WorkloadError, match=r"absent\.onnx"):
        load_onnx(tmp_path / "absent.onnx")


def test_no_supported_ops(tmp_path):
    node = helper.make_node("Relu", ["x"], ["y"])
    path = _save(tmp_path, [node], [_vi("x", [1, 4])], [_vi("y", None)])
    with pytest.raises(WorkloadError, match="no supported operators"):
        load_onnx(path)


def test_unlowered_mac_ops_warn(tmp_path):
    nodes = [
        helper.make_node("ConvTranspose", ["x", "w"], ["t"], name="up"),
        helper.make_node("MatMul", ["t", "m"], ["y"], name="mm"),
    ]
    inits = [_weight("w", 4, 2, 2, 2), _weight("m", 3, 5)]
    path = _save(tmp_path, nodes, [_vi("x", [1, 4, 2, 2])], [_vi("y", None)], inits)
    with pytest.warns(UserWarning, match=r"skipped MAC-carrying.*ConvTranspose"):
        net = load_onnx(path)
    assert [layer.name for layer in net.layers] == ["mm"]


def test_uninferable_shape_names_node_and_field(tmp_path):
    node = helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")
    path = _save(tmp_path, [node], [_vi("a", [4, "K"]), _vi("b", None)], [_vi("y", None)])
    with pytest.raises(WorkloadError, match=r"MatMul node 'mm': field 'A'"):
        load_onnx(path)


# -- layer tables ----------------------------------------------------------------------------------

CSV_OK = """name,op,n,k,c,p,q,r,s,stride,groups
conv1,conv,1,64,3,112,112,7,7,2,
dw,dwconv,1,32,32,56,56,3,3,1,32
fc,fc,4,10,512,,,,,,
"""


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_table(tmp_path):
    net = load_layers_table(_write(tmp_path, "layers.csv", CSV_OK))
    assert (net.name, net.family, len(net)) == ("layers", "custom", 3)
    conv1, dw, fc = net.layers
    assert (conv1.k, conv1.p, conv1.stride, conv1.groups, conv1.dilation) == (64, 112, 2, 1, 1)
    assert (dw.op, dw.groups) == (OpType.DWCONV, 32)
    assert (fc.op, fc.n, fc.p, fc.precision_bytes) == (OpType.FC, 4, 1, 2)


def test_csv_negative_dim_names_row_layer_and_field(tmp_path):
    text = "name,n,k,c\nconv1,1,8,3\nconv2,1,-4,8\n"
    path = _write(tmp_path, "layers.csv", text)
    msg = r"layers\.csv row 3 \(layer 'conv2'\): field 'k' must be a positive integer, got '-4'"
    with pytest.raises(WorkloadError, match=msg):
        load_layers_table(path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("name,n,k,c\nconv1,1,0,3\n", r"row 2 \(layer 'conv1'\): field 'k'.*got '0'"),
        ("name,n,k\nconv1,1,8\n", r"row 2 \(layer 'conv1'\): missing required field 'c'"),
        ("name,op,n,k,c\nconv1,pool,1,8,3\n", r"field 'op' must be one of .*got 'pool'"),
        ("name,n,k,c\nconv1,1,8,2.5\n", r"field 'c' must be a positive integer, got '2.5'"),
        ("name,n,k,c,color\nconv1,1,8,3,red\n", r"unknown field\(s\) \['color'\]"),
        ("name,n,k,c,groups\nconv1,1,8,3,2\n", r"\(layer 'conv1'\).*not divisible by groups"),
        ("name,n,k,c\nconv1,1,8,3\nconv1,1,8,3\n", "duplicate layer names"),
        ("name,n,k,c\n", "'layers' is empty"),
    ],
)
def test_csv_errors(tmp_path, text, match):
    with pytest.raises(WorkloadError, match=match):
        load_layers_table(_write(tmp_path, "t.csv", text))


YAML_OK = """
name: tiny
family: cnn
layers:
  - {name: conv1, n: 1, k: 16, c: 3, p: 32, q: 32, r: 3, s: 3}
  - name: proj
    op: gemm
    n: 1
    k: 64
    c: 128
    p: 256
    precision_bytes: 1
"""


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_yaml_table(tmp_path, suffix):
    net = load_layers_table(_write(tmp_path, f"t{suffix}", YAML_OK))
    assert (net.name, net.family) == ("tiny", "cnn")
    assert net.layers[1].op is OpType.GEMM
    assert net.layers[1].precision_bytes == 1


def test_yaml_plain_list(tmp_path):
    net = load_layers_table(_write(tmp_path, "l.yaml", "- {name: a, n: 1, k: 2, c: 3}\n"))
    assert (net.name, net.family, net.macs) == ("l", "custom", 6)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("layers:\n  - name: a\n    n: 1\n    k: 2\n    k: 3\n    c: 4\n", "duplicate key 'k'"),
        ("name: x\nname: y\nlayers: []\n", "duplicate key 'name'"),
        ("layers:\n  - {name: a, n: 1, k: 2, c: 3, kernel: 3}\n", r"entry 1 \(layer 'a'\).*kernel"),
        ("layers: []\nshape: 3\n", r"unknown top-level key\(s\) \['shape'\]"),
        (
            "layers:\n  - {name: a, n: 1, k: 2, c: 3}\n  - {name: b, n: 1, k: 0, c: 3}\n",
            r"entry 2 \(layer 'b'\): field 'k' must be a positive integer, got 0",
        ),  # fmt: skip
        ("layers:\n  - {name: a, n: 1, k: 2, c: 3, stride: true}\n", "field 'stride'"),
        ("layers:\n  - {name: a, n: 1, k: 2, c: 3, precision_bytes: 3}\n", "precision_bytes"),
        ("layers: [1, 2]\n", r"entry 1: expected a mapping"),
        ("layers: {a: 1}\n", "must be a list"),
        ("layers: [\n", "invalid YAML"),
    ],
)
def test_yaml_errors(tmp_path, text, match):
    with pytest.raises(WorkloadError, match=match):
        load_layers_table(_write(tmp_path, "bad.yaml", text))


def test_unsupported_extension_and_missing_file(tmp_path):
    with pytest.raises(WorkloadError, match="unsupported extension"):
        load_layers_table(_write(tmp_path, "t.json", "[]"))
    with pytest.raises(WorkloadError, match=r"nope\.csv"):
        load_layers_table(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "group", "fragment"),
    [
        ([1, 8, 6, 6], [16, 3, 3, 3], 1, "field 'W' has 3 input channels per group"),
        ([1, 8, 6, 6], [16, 2, 3, 3], 2, "field 'W' has 2 input channels per group"),
        ([1, 8, 6, 6], [15, 4, 3, 3], 2, "field 'group'=2 does not divide"),
    ],
)
def test_conv_weight_channels_must_match_input(tmp_path, x_shape, w_shape, group, fragment):
    """A weight whose channels disagree with the input is refused, naming node and field
    (issue 19): the layer it would make has MACs of neither."""
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="bad", group=group)
    y = _vi("y", [1, w_shape[0], 4, 4])
    path = _save(tmp_path, [node], [_vi("x", x_shape)], [y], [_weight("w", *w_shape)])
    with pytest.raises(WorkloadError, match=r"Conv node 'bad': " + fragment.replace("(", r"\(")):
        load_onnx(path)


def test_gemm_inner_dimensions_must_match(tmp_path):
    node = helper.make_node("Gemm", ["a", "b"], ["y"], name="g")
    path = _save(tmp_path, [node], [_vi("a", [7, 5]), _vi("b", [6, 3])], [_vi("y", [7, 3])])
    with pytest.raises(WorkloadError, match=r"Gemm node 'g': field 'B' has inner dimension 6"):
        load_onnx(path)
