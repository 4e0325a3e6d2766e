"""Static shapes for every tensor a MAC-carrying ONNX node reads, from what exporters write today.

onnx's own inference stops at shapes computed inside the graph (``Shape -> Gather -> Reshape``,
as ``torch.onnx.export`` writes for a ViT's attention), so three steps run in order, each only
while some operand of a ``Conv``/``Gemm``/``MatMul`` still lacks a static shape:

1. onnx shape inference with data propagation (constant-folds those small shape computations);
2. onnxruntime's symbolic shape inference;
3. one run of the model on zeros with onnxruntime, reading the operands' actual shapes (only when
   every graph input's shape is static once the batch is pinned, so the zeros are the real size).

A step that fails (unsupported operator, a model it cannot run) is skipped: the importer then
names the node and field whose shape is still unknown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airchitect.workloads.layer import WorkloadError

#: Operators whose first two inputs must have static shapes.
MAC_OPS = frozenset(("Conv", "Gemm", "MatMul"))


def _static(vi: Any) -> bool:
    tt = vi.type.tensor_type
    return tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim)


def unresolved(model: Any) -> list[str]:
    """Names of MAC-node operands with no static inferred shape, in graph order."""
    g = model.graph
    known = {vi.name for vi in [*g.input, *g.value_info, *g.output] if _static(vi)}
    known |= {init.name for init in g.initializer}
    out: list[str] = []
    for node in g.node:
        if node.op_type in MAC_OPS:
            out += [t for t in node.input[:2] if t and t not in known and t not in out]
    return out


def infer_shapes(model: Any, path: Any) -> Any:
    """``model`` with static shapes for its MAC operands wherever any of the steps finds them."""
    import onnx

    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:  # inference errors come from C++ with assorted types
        raise WorkloadError(f"{path}: ONNX shape inference failed: {exc}") from None
    for step in (_symbolic, _run_on_zeros):
        if not unresolved(model):
            break
        try:
            model = step(model)
        except Exception:  # noqa: BLE001 - a fallback that cannot help leaves the error to the node
            continue
    return model


def _symbolic(model: Any) -> Any:
    inferred = _symbolic_module().SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    if inferred is None:
        raise RuntimeError("symbolic shape inference gave up")
    return inferred


def _symbolic_module() -> Any:
    """onnxruntime's ``tools/symbolic_shape_infer.py``, loaded by path: importing it as
    ``onnxruntime.tools.symbolic_shape_infer`` runs the package's ``__init__``, which imports
    torch whenever it is installed (seconds, and the import path must stay free of torch)."""
    import importlib.util
    import sys

    name = "_airchitect_ort_symbolic_shape_infer"
    if name not in sys.modules:
        import onnxruntime

        path = Path(onnxruntime.__file__).parent / "tools" / "symbolic_shape_infer.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


def _run_on_zeros(model: Any) -> Any:
    """Run once on zero inputs and record the shapes of the still-unknown MAC operands."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import helper

    g = model.graph
    weights = {init.name for init in g.initializer}
    feeds = {}
    for vi in g.input:
        if vi.name in weights:
            continue
        if not _static(vi):  # zeros of a guessed size would give shapes of the wrong model
            raise RuntimeError(f"input {vi.name!r} has no static shape")
        tt = vi.type.tensor_type
        dtype = helper.tensor_dtype_to_np_dtype(tt.elem_type)
        feeds[vi.name] = np.zeros([d.dim_value for d in tt.shape.dim], dtype=dtype)
    wanted = unresolved(model)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    outputs = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.ValueInfoProto(name=n) for n in wanted if n not in outputs)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        probe.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    values = dict(
        zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True)
    )
    for name in wanted:
        array = np.asarray(values[name])
        elem = helper.np_dtype_to_tensor_dtype(array.dtype)
        g.value_info.append(helper.make_tensor_value_info(name, elem, list(array.shape)))
    return model
