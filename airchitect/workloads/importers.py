"""Networks from files: ONNX models, and hand-written layer tables in CSV or YAML.

Only MAC-carrying operators become layers. From ONNX those are ``Conv`` (1-D and 2-D; grouped and
depthwise too), ``Gemm`` and ``MatMul`` (attention's products as batched matmuls); every other
operator is skipped. Shapes come from :mod:`airchitect.workloads.onnx_shapes`, which resolves
what ``torch.onnx.export`` writes today. A layer table lists the canonical nest's fields
directly (see :data:`TABLE_FIELDS`).
"""

from __future__ import annotations

import csv
import math
import re
import warnings
from pathlib import Path
from typing import Any

from airchitect.limits import brief
from airchitect.readers import InputFileError, load_yaml, read_text
from airchitect.workloads.layer import (
    Layer,
    OpType,
    WorkloadError,
    batched_matmul,
    gemm,
)
from airchitect.workloads.network import Network
from airchitect.workloads.onnx_shapes import infer_shapes

# -- ONNX ------------------------------------------------------------------------------------------

#: ONNX ``TensorProto`` element types -> bytes: FLOAT, FLOAT16, BFLOAT16, UINT8, INT8 and the
#: four FLOAT8 types; anything else (double, int32, ...) counts as 4.
_ONNX_PRECISION = {1: 4, 10: 2, 16: 2, 2: 1, 3: 1, 17: 1, 18: 1, 19: 1, 20: 1}
#: Operators that do carry MACs but have no lowering here; skipping them undercounts, so warn.
_ONNX_UNLOWERED = frozenset(
    ("ConvTranspose", "ConvInteger", "QLinearConv", "MatMulInteger", "QLinearMatMul", "Einsum")
    + ("LSTM", "GRU", "RNN", "Attention")
)

_Shape = tuple[int | None, ...]


class _Graph:
    """Inferred shapes and element types of every named tensor, plus error context."""

    def __init__(self, graph: Any, path: Path) -> None:
        self.path = path
        self.info: dict[str, tuple[_Shape | None, int]] = {}
        for vi in [*graph.input, *graph.value_info, *graph.output]:
            tt = vi.type.tensor_type
            dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
            self.info[vi.name] = (dims if tt.HasField("shape") else None, tt.elem_type)
        for init in graph.initializer:
            self.info[init.name] = (tuple(init.dims), init.data_type)

    def fail(self, node: Any, name: str, message: str) -> WorkloadError:
        return WorkloadError(f"{self.path}: {node.op_type} node {name!r}: {message}")

    def shape(self, node: Any, name: str, index: int, field: str, output: bool = False) -> _Shape:
        """The static shape of one operand; a missing or symbolic one names the field."""
        names = node.output if output else node.input
        tensor = names[index] if index < len(names) else ""
        dims, _ = self.info.get(tensor, (None, 0))
        if not tensor or dims is None or any(d is None or d <= 0 for d in dims):
            raise self.fail(
                node, name, f"field {field!r} (tensor {tensor!r}) has no inferred static shape"
            )
        return dims

    def precision(self, node: Any) -> int:
        return _ONNX_PRECISION.get(self.info.get(node.input[0], (None, 1))[1], 4)


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _single(g: _Graph, node: Any, name: str, field: str, values: list[int]) -> int:
    """The nest has one stride and one dilation for both axes."""
    if len(set(values)) > 1:
        raise g.fail(node, name, f"field {field!r}={values} differs between axes (unsupported)")
    return values[0] if values else 1


def _conv_layer(g: _Graph, node: Any, name: str, pb: int) -> Layer:
    x, w = g.shape(node, name, 0, "X"), g.shape(node, name, 1, "W")
    y = g.shape(node, name, 0, "Y", output=True)
    if len(x) not in (3, 4):
        raise g.fail(node, name, f"field 'X' has rank {len(x)}; only 1-D and 2-D convs supported")
    x, w, y = (t + (1,) * (4 - len(t)) for t in (x, w, y))  # 1-D: a width-1 2-D conv
    attrs = _attrs(node)
    groups = attrs.get("group", 1)
    if groups < 1 or x[1] % groups or w[0] % groups:
        raise g.fail(node, name, f"field 'group'={groups} does not divide the input channels "
                                 f"{x[1]} and the output channels {w[0]}")  # fmt: skip
    if w[1] * groups != x[1]:
        raise g.fail(node, name, f"field 'W' has {w[1]} input channels per group; the input "
                                 f"'X' has {x[1]} channels in {groups} group(s)")  # fmt: skip
    if y[1] != w[0]:
        raise g.fail(node, name, f"field 'Y' has {y[1]} channels; the weight 'W' makes {w[0]}")
    if groups == 1:
        op = OpType.CONV
    elif groups == x[1] == w[0]:
        op = OpType.DWCONV
    else:
        op = OpType.GCONV
    return Layer(
        name, n=x[0], k=w[0], c=x[1], p=y[2], q=y[3], r=w[2], s=w[3],
        stride=_single(g, node, name, "strides", list(attrs.get("strides", [1]))),
        dilation=_single(g, node, name, "dilations", list(attrs.get("dilations", [1]))),
        groups=groups, precision_bytes=pb, op=op,
    )  # fmt: skip


def _gemm_layer(g: _Graph, node: Any, name: str, pb: int) -> Layer:
    a, b = g.shape(node, name, 0, "A"), g.shape(node, name, 1, "B")
    attrs = _attrs(node)
    m, k = (a[1], a[0]) if attrs.get("transA", 0) else (a[0], a[1])
    k_b, n = (b[1], b[0]) if attrs.get("transB", 0) else (b[0], b[1])
    if k_b != k:
        raise g.fail(node, name, f"field 'B' has inner dimension {k_b}; 'A' has {k}")
    return gemm(name, m=m, k=k, n=n, precision_bytes=pb)


def _matmul_layer(g: _Graph, node: Any, name: str, pb: int) -> Layer:
    """numpy ``matmul`` semantics: a shared 2-D right operand (a weight) is one tall GEMM."""
    a, b = g.shape(node, name, 0, "A"), g.shape(node, name, 1, "B")
    a = (1, *a) if len(a) == 1 else a
    b = (*b, 1) if len(b) == 1 else b
    if a[-1] != b[-2]:
        raise g.fail(node, name, f"field 'B' has inner dimension {b[-2]}; 'A' has {a[-1]}")
    if math.prod(b[:-2]) == 1:
        return gemm(name, m=math.prod(a[:-1]), k=a[-1], n=b[-1], precision_bytes=pb)
    import numpy as np

    try:
        batch = math.prod(np.broadcast_shapes(a[:-2], b[:-2]))
    except ValueError:
        raise g.fail(node, name, f"batch dims of 'A' {a} and 'B' {b} do not broadcast") from None
    return batched_matmul(name, batch=batch, m=a[-2], k=a[-1], n=b[-1], precision_bytes=pb)


_ONNX_HANDLERS = {"Conv": _conv_layer, "Gemm": _gemm_layer, "MatMul": _matmul_layer}


def _read_onnx(path: Path, batch: int | None) -> Any:
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf raises its own DecodeError; all mean "not a model"
        raise WorkloadError(f"{path}: cannot read ONNX model: {exc}") from None
    _fix_batch(model.graph, batch)
    return infer_shapes(model, path)


def _fix_batch(graph: Any, batch: int | None) -> None:
    """Pin the leading dim of every real input: to ``batch`` if given, else a symbolic one to 1."""
    weights = {init.name for init in graph.initializer}
    for vi in graph.input:
        dims = vi.type.tensor_type.shape.dim
        if vi.name in weights or not dims:
            continue
        if batch is not None or not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1 if batch is None else batch


def load_onnx(
    path: str | Path,
    batch: int | None = None,
    *,
    precision_bytes: int | None = None,
    name: str | None = None,
    family: str = "onnx",
) -> Network:
    """A network with one layer per ``Conv``/``Gemm``/``MatMul`` node of an ONNX model.

    ``batch`` overrides the leading dim of the graph inputs (a symbolic one becomes 1 when no
    batch is given). ``precision_bytes`` defaults to each node's input element size.
    """
    path = Path(path)
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch <= 0):
        raise WorkloadError(f"{path}: field 'batch' must be a positive integer, got {batch!r}")
    graph = _read_onnx(path, batch).graph
    g = _Graph(graph, path)
    layers: list[Layer] = []
    used: set[str] = set()
    skipped: set[str] = set()
    for index, node in enumerate(graph.node):
        handler = _ONNX_HANDLERS.get(node.op_type)
        if handler is None:  # activations, pooling, reshapes, ...: no MACs in the nest
            skipped.update({node.op_type} & _ONNX_UNLOWERED)
            continue
        layer_name = _unique(node.name or f"{node.op_type.lower()}_{index}", used)
        try:
            layers.append(handler(g, node, layer_name, precision_bytes or g.precision(node)))
        except WorkloadError as exc:
            msg = str(exc)
            raise WorkloadError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    if skipped:
        warnings.warn(
            f"{path}: skipped MAC-carrying nodes of unsupported types {sorted(skipped)}",
            stacklevel=2,
        )
    if not layers:
        raise WorkloadError(f"{path}: no supported operators ({', '.join(_ONNX_HANDLERS)}) found")
    return Network(name or path.stem, family, tuple(layers))


def _unique(name: str, used: set[str]) -> str:
    candidate, i = name, 1
    while candidate in used:
        candidate, i = f"{name}_{i}", i + 1
    used.add(candidate)
    return candidate


# -- layer tables ----------------------------------------------------------------------------------

#: Columns (CSV) or keys (YAML) of a layer table; ``name``, ``n``, ``k``, ``c`` are required.
TABLE_FIELDS = ("name", "op", "n", "k", "c", "p", "q", "r", "s", "stride", "dilation", "groups",
                "precision_bytes")  # fmt: skip
_REQUIRED = ("name", "n", "k", "c")
_INT_FIELDS = tuple(f for f in TABLE_FIELDS if f not in ("name", "op"))
_YAML_TOP_KEYS = ("name", "family", "layers")
_INT_RE = re.compile(r"[+-]?\d+")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _parse_int(where: str, field: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
        if len(value.strip()) > 40:  # int() of thousands of digits is slow or refused outright
            raise WorkloadError(f"{where}: field {field!r} is a {len(value.strip())}-digit "
                                "number, far beyond its limit")  # fmt: skip
        number = int(value)
    else:
        number = 0  # neither an int nor an integer literal: report it as not positive
    if number <= 0:
        raise WorkloadError(
            f"{where}: field {field!r} must be a positive integer, got {brief(value)}"
        )
    return number


def _parse_op(where: str, value: Any) -> OpType:
    allowed = [o.value for o in OpType]
    text = str(value).strip().lower()
    if text not in allowed:
        raise WorkloadError(
            f"{where}: field 'op' must be one of {', '.join(allowed)}, got {brief(value)}"
        )
    return OpType(text)


def _row_to_layer(where: str, row: dict[str, Any]) -> Layer:
    """One table row -> Layer; ``where`` locates the row in every error message."""
    label = "" if _blank(row.get("name")) else f" (layer {brief(str(row['name']).strip())})"
    where = where + label
    unknown = sorted(str(key)[:60] for key in row if key not in TABLE_FIELDS)
    if unknown:
        raise WorkloadError(
            f"{where}: unknown field(s) {brief(unknown)}; allowed: {', '.join(TABLE_FIELDS)}"
        )
    missing = [f for f in _REQUIRED if _blank(row.get(f))]
    if missing:
        raise WorkloadError(f"{where}: missing required field {missing[0]!r}")
    kwargs: dict[str, Any] = {
        f: _parse_int(where, f, row[f]) for f in _INT_FIELDS if not _blank(row.get(f))
    }
    if not _blank(row.get("op")):
        kwargs["op"] = _parse_op(where, row["op"])
    try:
        return Layer(str(row["name"]).strip(), **kwargs)
    except WorkloadError as exc:  # cross-field checks (divisibility, precision) live in Layer
        raise WorkloadError(f"{where}: {exc}") from None


def _read_csv(path: Path) -> tuple[list[Layer], dict[str, str]]:
    # utf-8-sig: spreadsheet exports start with a byte-order mark, which is not part of a name
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in reader.fieldnames or []]
        if not header:
            raise WorkloadError(f"{path}: empty file, expected a header row")
        repeated = sorted({h for h in header if header.count(h) > 1})
        if repeated:  # DictReader would keep the last of them silently
            raise WorkloadError(f"{path} row 1: header repeats column(s) {brief(repeated)}")
        reader.fieldnames = header
        layers = []
        for row in reader:
            where = f"{path} row {reader.line_num}"
            if None in row:  # DictReader files surplus cells under the key None
                raise WorkloadError(f"{where}: more cells than the {len(header)} header columns")
            layers.append(_row_to_layer(where, row))
    return layers, {}


def _read_yaml(path: Path) -> tuple[list[Layer], dict[str, str]]:
    try:
        doc = load_yaml(read_text(path, "layer table"), str(path))
    except InputFileError as exc:
        raise WorkloadError(str(exc)) from None
    if isinstance(doc, list):
        doc = {"layers": doc}
    if not isinstance(doc, dict):
        raise WorkloadError(f"{path}: expected a list of layers or a mapping with 'layers'")
    unknown = sorted(str(key)[:60] for key in doc if key not in _YAML_TOP_KEYS)
    if unknown:
        raise WorkloadError(
            f"{path}: unknown top-level key(s) {brief(unknown)}; "
            f"allowed: {', '.join(_YAML_TOP_KEYS)}"
        )
    rows = doc.get("layers")
    if not isinstance(rows, list):
        raise WorkloadError(f"{path}: field 'layers' must be a list of layer mappings")
    layers = []
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise WorkloadError(f"{path} entry {i}: expected a mapping, got {brief(row)}")
        layers.append(_row_to_layer(f"{path} entry {i}", row))
    return layers, {key: str(doc[key]) for key in ("name", "family") if key in doc}


def load_layers_table(path: str | Path) -> Network:
    """A network from a CSV (``.csv``) or YAML (``.yaml``/``.yml``) layer table.

    CSV rows are located by their line number (the header is row 1), YAML layers by their
    1-based position in ``layers``. A YAML file may also give ``name`` and ``family``; otherwise
    the network is named after the file and its family is ``custom``.
    """
    path = Path(path)
    readers = {".csv": _read_csv, ".yaml": _read_yaml, ".yml": _read_yaml}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise WorkloadError(f"{path}: unsupported extension {path.suffix!r}; use .csv, .yaml, .yml")
    try:
        layers, top = reader(path)
    except (OSError, csv.Error) as exc:
        raise WorkloadError(f"{path}: cannot read layer table: {exc}") from None
    except UnicodeDecodeError as exc:
        raise WorkloadError(f"{path}: layer table is not UTF-8 text ({exc.reason} at byte "
                            f"{exc.start} of a chunk)") from None  # fmt: skip
    if not layers:
        raise WorkloadError(f"{path}: field 'layers' is empty")
    try:
        return Network(top.get("name", path.stem), top.get("family", "custom"), tuple(layers))
    except WorkloadError as exc:  # duplicate layer names
        raise WorkloadError(f"{path}: {exc}") from None
