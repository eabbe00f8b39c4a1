"""The lowered network: buffers and kernel calls (:class:`Graph`), and :func:`lower_tflite`.

Each TFLite op becomes one kernel call (a :class:`Layer`) on activation buffers. Which kernel
lowers an op, and how, is each kernel module's business (``codegen.native.kernels``: one module
per kernel beside its C file); the driver here only walks the ops in order, runs the kernels'
fusion passes, and numbers buffers and scratch. Nothing in this module, the memory planner or
the C emission names a kernel.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ofa_mcu.errors import UserError


@dataclass
class Buffer:
    """A region of the static arena: an activation tensor or a layer's scratch."""

    id: int
    name: str
    shape: tuple[int, ...]
    size: int
    kind: str  # "input", "output", "act", "scratch"
    scale: float = 0.0
    zero_point: int = 0


@dataclass
class Layer:
    """One kernel call. ``overlap[in_id]`` says how the output may share bytes with that
    input when the input dies here: ``("stream", d)`` = output offset <= input offset - d,
    ``("same", 0)`` = identical offsets. ``output`` equal to an input means in place."""

    index: int
    kernel: str
    name: str
    inputs: list[int]
    output: int
    params: dict
    consts: dict = field(default_factory=dict)
    macs: int = 0
    ops: list[int] = field(default_factory=list)
    overlap: dict = field(default_factory=dict)
    scratch: int | None = None
    scratch_bytes: int = 0


@dataclass
class Graph:
    """The lowered network: buffers, layers in execution order, input and output buffers."""

    buffers: dict[int, Buffer]
    layers: list[Layer]
    input: int
    output: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    op_counts: dict = field(default_factory=dict)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the whole network."""
        return sum(l.macs for l in self.layers)


def combined_bytes(a: int, b: int, rule) -> int:
    """Bytes two buffers of ``a`` and ``b`` bytes take together at best under an overlap rule
    (the output is the second)."""
    if rule is None:
        return a + b
    kind, d = rule
    if kind == "same":
        return max(a, b)
    return min(a + b, max(d + a, b) if d >= 0 else max(a, -d + b))


def consumers(layers: list[Layer], buf: int) -> list[Layer]:
    """The layers that read ``buf``."""
    return [l for l in layers if buf in l.inputs]


def live_after(buf: int, index: int, layers: list[Layer], graph_out: int) -> bool:
    """Whether ``buf`` is still read after layer position ``index`` (or is the output)."""
    return buf == graph_out or any(buf in l.inputs for l in layers[index + 1:])


FUSE_POLICIES = ("auto", "always", "never")


def lower_tflite(tflite, fuse: str = "auto", choices: dict | None = None) -> Graph:
    """Lower a full-int8 TFLite model (bytes or a ``TfliteModel``) to a :class:`Graph` of native
    kernel calls.

    ``fuse`` is the policy of the fusions that trade compute for memory (the expand+depthwise
    MBConv front): ``"auto"`` (when it lowers memory), ``"always"`` or ``"never"``. ``choices``
    overrides the code generator's per-layer kernel choices (e.g. ``{"depthwise": "nhwc"}``; the
    kernels' ``accepts`` read them). An op no kernel lowers, or an op form no kernel takes, is a
    one-line UserError.
    """
    from ..tflite_model import TfliteModel, read_tflite
    from .kernels import fusion_passes, lowering_for, unsupported_ops_error
    from .lowering import LowerCtx, check_int8

    if fuse not in FUSE_POLICIES:
        raise UserError(f"unknown fuse policy {fuse!r}; choose {', '.join(FUSE_POLICIES)}")
    raw = None if isinstance(tflite, TfliteModel) else bytes(tflite)
    model = tflite if raw is None else read_tflite(raw)
    if model.n_subgraphs != 1:
        raise UserError(f"the model has {model.n_subgraphs} subgraphs; the native backend needs exactly one")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UserError(f"the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                        "the native backend needs one of each")
    for t in (model.tensors[model.inputs[0]], model.tensors[model.outputs[0]]):
        check_int8(t)
    missing = sorted({op.opcode for op in model.ops if lowering_for(op.opcode) is None})
    if missing:
        raise unsupported_ops_error(missing)
    ctx = LowerCtx(model, {"fuse": fuse, **(choices or {})}, raw)
    for op in model.ops:
        lowering_for(op.opcode)(ctx, op)
    for t in list(ctx.pads):  # a PAD whose consumer never came (the graph output is padded)
        ctx.act_in(t)
    in_id = ctx.resolve(model.inputs[0])
    out_id = ctx.resolve(model.outputs[0])
    layers = ctx.layers
    if not layers:
        raise UserError("the model has no compute ops; nothing to generate")
    if out_id == in_id or all(l.output != out_id for l in layers):
        raise UserError("the model's output is a reshape of its input; nothing to generate")
    for fuse_pass in fusion_passes():
        layers = fuse_pass(layers, in_id, out_id, fuse)
    buffers: dict[int, Buffer] = {}
    used = {in_id, out_id} | {b for l in layers for b in l.inputs + [l.output]}
    for b in sorted(used):
        t = model.tensors[b]
        kind = "input" if b == in_id else "output" if b == out_id else "act"
        buffers[b] = Buffer(b, t.name, tuple(t.shape[1:]) if len(t.shape) > 1 else tuple(t.shape), t.size, kind,
                            t.scale, t.zero_point)
    next_id = len(model.tensors)
    for i, l in enumerate(layers):
        l.index = i
        if l.scratch_bytes:
            buffers[next_id] = Buffer(next_id, f"scratch{i}", (l.scratch_bytes,), l.scratch_bytes, "scratch")
            l.scratch = next_id
            next_id += 1
    counts: dict[str, int] = {}
    for op in model.ops:
        counts[op.opcode] = counts.get(op.opcode, 0) + 1
    ti, to = model.tensors[in_id], model.tensors[out_id]
    return Graph(buffers, layers, in_id, out_id, tuple(ti.shape), tuple(to.shape), ti.scale, ti.zero_point,
                 to.scale, to.zero_point, counts)
