"""Bring your own model: lower an ONNX graph into the op set and save/load workload files.

Lowering (after binding symbolic dims and running onnx.shape_inference):
  MatMul / Gemm            -> MatMul (weight = initializer operand; two activations -> a
                              batched MatMul with per-batch operands, i.e. attention-like
                              Q K^T and P V products)
  Conv                     -> MatMul by im2col (m = N*Ho*Wo, n = Cout/g, k = Cin/g*kh*kw, groups
                              g), activation traffic of implicit GEMM (blocks.ConvMatMul)
  Gather on an initializer -> EmbeddingGather (rows = data.shape[0], row = the rest)
  elementwise / norm / softmax / pooling ops -> Elementwise over the output elements
  shape-only ops (Reshape, Transpose, Shape, ...) -> nothing (layout, fused by compilers)
A workload file is JSON: {"format": "tapeout.workload/1", "name", "meta", "ops": [{"type":
<op class>, <dataclass fields>}]}; `load_workload` rebuilds the OpGraph.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from ..errors import TapeoutError
from ..ops import Attention, Collective, Elementwise, EmbeddingGather, FixedFunction, MatMul, Op, OpGraph
from .blocks import ConvMatMul

FORMAT = "tapeout.workload/1"
OP_TYPES = {c.__name__: c for c in (MatMul, ConvMatMul, Attention, Elementwise, EmbeddingGather, Collective, FixedFunction)}

ELEMENTWISE_FLOPS = {
    "Add": 1, "Sub": 1, "Mul": 1, "Div": 1, "Relu": 1, "LeakyRelu": 2, "PRelu": 2, "Sigmoid": 4, "Tanh": 4, "Erf": 8,
    "Gelu": 8, "Softmax": 5, "LogSoftmax": 5, "LayerNormalization": 5, "BatchNormalization": 2, "InstanceNormalization": 5,
    "GroupNormalization": 5, "Sqrt": 1, "Pow": 1, "Exp": 1, "Log": 1, "Neg": 1, "Abs": 1, "Clip": 1, "Max": 1, "Min": 1,
    "ReduceMean": 1, "ReduceSum": 1, "ReduceMax": 1, "GlobalAveragePool": 1, "AveragePool": 1, "MaxPool": 1, "Where": 1,
    "Cast": 0, "Concat": 0, "Resize": 2, "Upsample": 2, "Pad": 0, "HardSigmoid": 3, "HardSwish": 4, "Silu": 5,
    "Equal": 1, "Less": 1, "Greater": 1, "Not": 1, "And": 1, "Or": 1, "DequantizeLinear": 2, "QuantizeLinear": 2,
    "Gather": 0, "Slice": 0, "Split": 0, "Expand": 0, "Tile": 0, "Einsum": 0,
}
FREE_OPS = {"Reshape", "Transpose", "Shape", "Unsqueeze", "Squeeze", "Flatten", "Identity", "Constant", "ConstantOfShape",
            "Dropout", "Range", "Size", "NonZero"}
ONNX_DTYPES = {1: "fp32", 10: "fp16", 16: "bf16", 3: "int8", 2: "int8", 11: "fp32", 6: "fp32", 7: "fp32", 9: "int8"}


def _onnx():
    try:
        import onnx  # noqa: F401
        from onnx import numpy_helper, shape_inference  # noqa: F401
    except ImportError:  # pragma: no cover
        raise TapeoutError("the `onnx` package is needed for `tapeout import`; pip install onnx.") from None
    return onnx


def _bind_dims(model, dims: dict[str, int]) -> None:
    used = set()
    for vi in list(model.graph.input) + list(model.graph.output):
        for d in vi.type.tensor_type.shape.dim:
            if d.dim_param:
                if d.dim_param in dims:
                    v = dims[d.dim_param]
                    used.add(d.dim_param)
                    d.ClearField("dim_param")
                    d.dim_value = int(v)
    unknown = set(dims) - used
    if unknown:
        raise TapeoutError(f"--dim {', '.join(sorted(unknown))}: no input has a symbolic dimension of that name.")


def _shapes(model) -> tuple[dict[str, list[int]], dict[str, str]]:
    shapes, dtypes = {}, {}
    g = model.graph
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            continue
        dims = []
        for d in tt.shape.dim:
            if d.dim_value > 0:
                dims.append(int(d.dim_value))
            elif d.dim_param:
                dims.append(d.dim_param)
            else:
                dims.append(None)
        shapes[vi.name] = dims
        dtypes[vi.name] = ONNX_DTYPES.get(tt.elem_type, "fp32")
    for init in g.initializer:
        shapes[init.name] = list(init.dims)
        dtypes[init.name] = ONNX_DTYPES.get(init.data_type, "fp32")
    return shapes, dtypes


def _known(shape, what: str) -> list[int]:
    if shape is None or any(not isinstance(d, int) for d in shape):
        free = sorted({d for d in (shape or []) if isinstance(d, str)})
        hint = f" Bind {', '.join(f'--dim {d}=N' for d in free)}." if free else ""
        raise TapeoutError(f"{what}: shape {shape} is not fully known after shape inference.{hint}")
    return shape


def lower_onnx(path: str | Path, dims: dict[str, int] | None = None, precision: str | None = None, name: str | None = None) -> OpGraph:
    onnx = _onnx()
    from onnx import shape_inference

    p = Path(path)
    if not p.is_file():
        raise TapeoutError(f"ONNX file '{p}' not found.")
    try:
        model = onnx.load(str(p))
    except Exception as e:  # noqa: BLE001
        raise TapeoutError(f"{p}: not a readable ONNX model ({e}).") from None
    _bind_dims(model, dims or {})
    try:
        model = shape_inference.infer_shapes(model, strict_mode=False)
    except Exception as e:  # noqa: BLE001
        raise TapeoutError(f"{p}: ONNX shape inference failed ({e}).") from None
    shapes, dtypes = _shapes(model)
    inits = {i.name for i in model.graph.initializer}
    ops: list[Op] = []
    for i, node in enumerate(model.graph.node):
        t = node.op_type
        nm = node.name or f"{t}_{i}"
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        out = node.output[0] if node.output else None
        dt = precision or dtypes.get(node.input[0] if node.input else "", "fp32")
        dt = "bf16" if dt == "fp32" and precision is None else dt
        kw = dict(a_dtype=dt, w_dtype=dt, out_dtype=dt, math_dtype=dt)
        if t in ("MatMul", "Gemm"):
            a = _known(shapes.get(node.input[0]), f"{nm} input A")
            b = _known(shapes.get(node.input[1]), f"{nm} input B")
            if t == "Gemm":
                m, k = (a[1], a[0]) if attrs.get("transA") else (a[0], a[1])
                n = b[0] if attrs.get("transB") else b[1]
                ops.append(MatMul(name=nm, m=m, n=n, k=k, **kw))
                continue
            if len(b) == 1:
                b = b + [1]
            k, n = b[-2], b[-1]
            m = a[-2] if len(a) >= 2 else 1
            lead_a = math.prod(a[:-2]) if len(a) > 2 else 1
            if node.input[1] in inits or len(b) == 2:
                ops.append(MatMul(name=nm, m=m * lead_a, n=n, k=k, **kw))
            else:  # activation x activation (attention-like): per-batch operands
                lead = max(lead_a, math.prod(b[:-2]))
                ops.append(MatMul(name=nm, m=m, n=n, k=k, batch=lead, shared_weight=False, **kw))
        elif t == "Conv":
            x = _known(shapes.get(node.input[0]), f"{nm} input")
            w = _known(shapes.get(node.input[1]), f"{nm} weight")
            y = _known(shapes.get(out), f"{nm} output")
            g = int(attrs.get("group", 1))
            spatial = math.prod(y[2:])
            ops.append(ConvMatMul(name=nm, m=y[0] * spatial, n=w[0] // g, k=w[1] * math.prod(w[2:]), groups=g,
                                  input_elems=float(math.prod(x)), taps=math.prod(w[2:]), **kw))
        elif t == "Gather" and node.input[0] in inits:
            data = shapes[node.input[0]]
            idx = _known(shapes.get(node.input[1]), f"{nm} indices") if node.input[1] in shapes else [1]
            rows = data[0] if data else 0
            if rows <= 0:
                raise TapeoutError(f"{nm}: embedding table '{node.input[0]}' has 0 rows; a table needs rows > 0.")
            from ..precision import dtype_bytes

            row_elems = math.prod(data[1:]) if len(data) > 1 else 1
            ops.append(EmbeddingGather(name=nm, lookups=float(math.prod(idx) if idx else 1), rows=rows,
                                       row_bytes=row_elems * dtype_bytes(dtypes.get(node.input[0], "fp32")), dim=row_elems))
        elif t in FREE_OPS:
            continue
        elif t in ELEMENTWISE_FLOPS:
            if out not in shapes:
                continue
            y = _known(shapes.get(out), f"{nm} output")
            elems = math.prod(y) if y else 1
            if elems <= 0:
                continue
            reads = max(1, sum(1 for x in node.input if x and x not in inits))
            ops.append(Elementwise(name=nm, elems=float(elems), flops_per_elem=ELEMENTWISE_FLOPS[t], reads=reads,
                                   writes=1, dtype=dt if dt in ("bf16", "fp16", "fp32") else "bf16"))
        else:
            raise TapeoutError(f"{nm}: ONNX op '{t}' is not supported by the importer; supported: MatMul, Gemm, Conv, "
                               f"Gather, {', '.join(sorted(ELEMENTWISE_FLOPS))[:120]}...")
    if not ops:
        raise TapeoutError(f"{p}: no costable ops found in the ONNX graph.")
    batch = (dims or {}).get("batch", 1)
    return OpGraph(name or p.stem, ops, {"model": name or p.stem, "source": str(p), "dims": dims or {}, "batch": batch,
                                         "units": batch, "unit": "samples"})


def _op_to_dict(op: Op) -> dict:
    d = {"type": type(op).__name__}
    for f in dataclasses.fields(op):
        if f.init:
            d[f.name] = getattr(op, f.name)
    return d


def save_workload(graph: OpGraph, path: str | Path) -> Path:
    p = Path(path)
    doc = {"format": FORMAT, "name": graph.name, "meta": graph.meta, "ops": [_op_to_dict(o) for o in graph.ops]}
    p.write_text(json.dumps(doc, indent=1, default=str))
    return p


def load_workload(path: str | Path) -> OpGraph:
    from ..inputs import read_text

    p = Path(path)
    try:
        doc = json.loads(read_text(p, "workload file", "workload"))
    except json.JSONDecodeError as e:
        raise TapeoutError(f"{p}: not valid JSON ({e.msg} at line {e.lineno}); give a workload file from `tapeout import`.") from None
    if not isinstance(doc, dict):
        raise TapeoutError(f"{p}: not a workload file (a JSON object from `tapeout import`).")
    if doc.get("format") != FORMAT:
        raise TapeoutError(f"{p}: field 'format' must be '{FORMAT}' (write it with `tapeout import`).")
    ops = []
    for i, d in enumerate(doc.get("ops", [])):
        d = dict(d)
        cls = OP_TYPES.get(d.pop("type", None))
        if cls is None:
            raise TapeoutError(f"{p}: ops[{i}].type must be one of {', '.join(OP_TYPES)}.")
        try:
            ops.append(cls(**d))
        except TypeError as e:
            raise TapeoutError(f"{p}: ops[{i}] ({cls.__name__}): {e}.") from None
    if not ops:
        raise TapeoutError(f"{p}: field 'ops' is empty.")
    return OpGraph(doc.get("name", p.stem), ops, doc.get("meta", {}))
