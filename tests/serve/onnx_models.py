"""Small ONNX models built in memory, for tests that upload one."""

from __future__ import annotations

import numpy as np


def tiny_cnn_onnx(with_unsupported: bool = False) -> bytes:
    """A 3x3 conv (8 -> 16 channels on 14x14) and a 16*14*14 -> 10 fully connected layer, as
    serialized ONNX bytes; ``with_unsupported`` adds a ConvTranspose the importer skips."""
    from onnx import TensorProto, helper, numpy_helper

    def weight(name: str, *shape: int):
        return numpy_helper.from_array(np.zeros(shape, dtype=np.float32), name)

    x = "x"
    nodes, inits = [], [weight("w1", 16, 8, 3, 3), weight("w2", 10, 16 * 14 * 14)]
    if with_unsupported:
        inits.append(weight("wt", 8, 8, 1, 1))
        nodes.append(helper.make_node("ConvTranspose", ["x", "wt"], ["t"], name="up"))
        x = "t"
    nodes += [
        helper.make_node("Conv", [x, "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Flatten", ["r1"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w2"], ["y"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 8, 14, 14])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])], initializer=inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()
