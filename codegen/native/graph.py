"""Lower a full-int8 TFLite graph to native kernel calls.

Each TFLite op becomes one kernel call (a :class:`Layer`) on activation buffers; PAD ops are
folded into the following conv's padding, RESHAPE/SQUEEZE become aliases, the squeeze-excite
pattern (MEAN -> 1x1 conv -> 1x1 conv -> gate steps -> MUL) becomes one in-place ``se`` call,
and a 1x1 expand followed by a depthwise conv may become one fused ``mbconv_edw`` call that
streams rows through a small ring buffer. All quantization parameters are computed here with
TFLite's own arithmetic (:mod:`codegen.native.quant`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ofa_mcu.errors import UserError

from . import quant as Q
from ..tflite_model import TfliteModel, TOp, TTensor, read_tflite

SUPPORTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "PAD", "PADV2", "ADD", "MUL", "MEAN", "AVERAGE_POOL_2D",
                 "FULLY_CONNECTED", "RESHAPE", "SQUEEZE")


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
    scratch_when: str = "always"  # or "overlap": only needed when the output overlaps the input


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


# ---- helpers ---------------------------------------------------------------------------------


def _nhwc(t: TTensor) -> tuple[int, int, int]:
    if len(t.shape) != 4 or t.shape[0] != 1:
        raise UserError(f"tensor {t.name!r} has shape {t.shape}; the native backend needs batch-1 NHWC tensors")
    return t.shape[1], t.shape[2], t.shape[3]


def _same_pad(in_size: int, k: int, s: int) -> tuple[int, int]:
    out = (in_size + s - 1) // s
    total = max((out - 1) * s + k - in_size, 0)
    return out, total // 2


def _check_int8_act(t: TTensor) -> None:
    if t.dtype is not np.int8:
        raise UserError(f"tensor {t.name!r} is {np.dtype(t.dtype).name}; the native backend needs a full-int8 model "
                        "(int8 input and output, int8 activations)")


def _filter_scales(w: TTensor, n: int) -> np.ndarray:
    if len(w.zero_points) and np.any(w.zero_points != 0):
        raise UserError(f"weights {w.name!r} have non-zero zero points; expected symmetric int8 weights")
    return w.scales


def stream_distance(out_rows: int, row_out: int, row_in: int, in_rows: int, first_needed) -> int:
    """Smallest ``in_offset - out_offset`` for a kernel that writes output row ``r`` only
    when input rows below ``first_needed(r)`` are no longer needed."""
    d = -10**18
    for r in range(out_rows):
        need = min(max(first_needed(r), 0), in_rows)
        d = max(d, (r + 1) * row_out - need * row_in)
    return d


# ---- the lowering ----------------------------------------------------------------------------


class _Lowerer:
    def __init__(self, model: TfliteModel, fuse: str):
        self.m = model
        self.fuse = fuse
        self.alias: dict[int, int] = {}
        self.pads: dict[int, tuple[int, tuple[int, int, int, int]]] = {}
        self.layers: list[Layer] = []
        self.acts: set[int] = set()

    def t(self, i: int) -> TTensor:
        return self.m.tensors[i]

    def resolve(self, i: int) -> int:
        while i in self.alias:
            i = self.alias[i]
        return i

    def const(self, i: int) -> np.ndarray | None:
        return None if i < 0 else self.t(i).data

    def act_in(self, i: int) -> int:
        i = self.resolve(i)
        if i in self.pads:
            raise UserError(f"PAD output {self.t(i).name!r} feeds an op that is not a conv; the native backend "
                            "folds PAD only into CONV_2D and DEPTHWISE_CONV_2D")
        _check_int8_act(self.t(i))
        self.acts.add(i)
        return i

    def add_layer(self, **kw) -> Layer:
        layer = Layer(index=len(self.layers), **kw)
        self.layers.append(layer)
        self.acts.add(layer.output)
        return layer

    # -- ops --
    def lower(self) -> list[Layer]:
        missing = sorted({op.opcode for op in self.m.ops if not hasattr(self, "op_" + op.opcode)})
        if missing:
            what = f"op {missing[0]} is" if len(missing) == 1 else f"ops {', '.join(missing)} are"
            raise UserError(f"{what} not supported by the native backend (supported: {', '.join(SUPPORTED_OPS)}); "
                            "use --backend tflm for this model")
        for op in self.m.ops:
            getattr(self, "op_" + op.opcode)(op)
        return self.layers

    def op_RESHAPE(self, op: TOp) -> None:
        src, dst = self.resolve(op.inputs[0]), op.outputs[0]
        a, b = self.t(src), self.t(dst)
        if a.scale != b.scale or a.zero_point != b.zero_point:
            raise UserError(f"RESHAPE {b.name!r} changes quantization; re-export the model")
        if src in self.pads:
            raise UserError("a PAD output is reshaped; the native backend folds PAD only into convs")
        self.alias[dst] = src

    op_SQUEEZE = op_RESHAPE

    def op_PAD(self, op: TOp) -> None:
        src = self.act_in(op.inputs[0])
        pads = self.const(op.inputs[1])
        if pads is None or pads.shape != (4, 2) or np.any(pads[0] != 0) or np.any(pads[3] != 0):
            raise UserError(f"PAD op {op.index} pads batch or channels (or has non-constant paddings); "
                            "the native backend folds only spatial padding into convs")
        a, b = self.t(src), self.t(op.outputs[0])
        if a.scale != b.scale or a.zero_point != b.zero_point:
            raise UserError(f"PAD op {op.index} changes quantization; re-export the model")
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            v = self.const(op.inputs[2])
            if v is None or int(np.asarray(v).reshape(-1)[0]) != b.zero_point:
                raise UserError(f"PADV2 op {op.index} pads with a value other than the zero point; not supported")
        self.pads[op.outputs[0]] = (src, (int(pads[1, 0]), int(pads[1, 1]), int(pads[2, 0]), int(pads[2, 1])))

    op_PADV2 = op_PAD

    def _conv_geometry(self, op: TOp, k_h: int, k_w: int):
        xi = self.resolve(op.inputs[0])
        pt = pb = pl = pr = 0
        ops = [op.index]
        if xi in self.pads:
            src, (pt, pb, pl, pr) = self.pads.pop(xi)
            if len(self.m.consumers(xi)) != 1:
                raise UserError(f"PAD output {self.t(xi).name!r} has several consumers; not supported")
            xi = src
        x = self.t(self.act_in(xi))
        h, w, c = _nhwc(x)
        o = op.options
        s_h, s_w = int(o.get("strideH", 1)), int(o.get("strideW", 1))
        if int(o.get("dilationHFactor", 1)) != 1 or int(o.get("dilationWFactor", 1)) != 1:
            raise UserError(f"op {op.index} uses dilation; not supported by the native backend")
        if s_h != s_w or k_h != k_w:
            raise UserError(f"op {op.index} has a non-square kernel or stride; not supported by the native backend")
        hp, wp = h + pt + pb, w + pl + pr
        if int(o.get("padding", 1)) == 0:  # SAME
            oh, st = _same_pad(hp, k_h, s_h)
            ow, sl = _same_pad(wp, k_w, s_w)
        else:
            oh, ow, st, sl = (hp - k_h) // s_h + 1, (wp - k_w) // s_w + 1, 0, 0
        y = self.t(op.outputs[0])
        _check_int8_act(y)
        if _nhwc(y)[:2] != (oh, ow):
            raise UserError(f"op {op.index}: output shape {y.shape} does not match the computed {oh}x{ow}")
        return x, y, dict(in_h=h, in_w=w, out_h=oh, out_w=ow, k=k_h, stride=s_h, pad_top=pt + st,
                          pad_left=pl + sl), ops

    def _weights(self, op: TOp) -> tuple[TTensor, np.ndarray]:
        """The op's constant int8 weights (tensor and data)."""
        wdat = self.const(op.inputs[1])
        if wdat is None or wdat.dtype != np.int8:
            raise UserError(f"{op.opcode} op {op.index} has non-constant or non-int8 weights; not supported")
        return self.t(op.inputs[1]), wdat

    def _requant(self, op: TOp, x: TTensor, y: TTensor, wt: TTensor, n: int):
        """``(bias int32[n], mult, shift, act_min, act_max)`` of a per-channel conv."""
        bias = self.const(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        bias = np.zeros(n, np.int32) if bias is None else bias.astype(np.int32)
        mult, shift = Q.conv_multipliers(x.scale, _filter_scales(wt, n), y.scale, n)
        lo, hi = Q.activation_range(int(op.options.get("fusedActivationFunction", 0)), y.scale, y.zero_point)
        return bias, mult, shift, lo, hi

    def op_CONV_2D(self, op: TOp) -> None:
        wt, wdat = self._weights(op)
        oc, kh, kw, ic = wdat.shape
        x, y, geo, ops = self._conv_geometry(op, kh, kw)
        if x.shape[3] != ic:
            raise UserError(f"CONV_2D op {op.index} is a grouped conv; not supported by the native backend")
        bias, mult, shift, lo, hi = self._requant(op, x, y, wt, oc)
        in_off = -x.zero_point
        params = dict(in_c=ic, out_c=oc, **geo, in_offset=in_off, out_offset=y.zero_point, act_min=lo, act_max=hi)
        macs = geo["out_h"] * geo["out_w"] * oc * kh * kw * ic
        if kh == 1 and geo["pad_top"] == 0 and geo["pad_left"] == 0:
            consts = dict(weight=wdat.reshape(oc, ic), bias=Q.fold_bias(bias, wdat, in_off), mult=mult, shift=shift)
            layer = self.add_layer(kernel="conv1x1", name=f"conv1x1 {ic}->{oc} {geo['out_h']}x{geo['out_w']}",
                                   inputs=[x.index], output=y.index, params=params, consts=consts, macs=macs, ops=ops)
            layer.scratch_bytes, layer.scratch_when = ic, "overlap"
            if geo["stride"] == 1:
                hw = geo["out_h"] * geo["out_w"]
                d = hw * (oc - ic) if oc > ic else oc - ic
                layer.overlap = {x.index: ("stream", d)}
        else:
            consts = dict(weight=wdat, bias=bias, mult=mult, shift=shift)
            layer = self.add_layer(kernel="conv2d", name=f"conv{kh}x{kh}/s{geo['stride']} {ic}->{oc}",
                                   inputs=[x.index], output=y.index, params=params, consts=consts, macs=macs, ops=ops)
            d = stream_distance(geo["out_h"], geo["out_w"] * oc, geo["in_w"] * ic, geo["in_h"],
                                lambda r: r * geo["stride"] - geo["pad_top"])
            layer.overlap = {x.index: ("stream", d)}

    def op_DEPTHWISE_CONV_2D(self, op: TOp) -> None:
        wt, wdat = self._weights(op)
        _, kh, kw, c = wdat.shape
        x, y, geo, ops = self._conv_geometry(op, kh, kw)
        if x.shape[3] != c or int(op.options.get("depthMultiplier", 1)) not in (0, 1):
            raise UserError(f"DEPTHWISE_CONV_2D op {op.index} has a depth multiplier; not supported")
        bias, mult, shift, lo, hi = self._requant(op, x, y, wt, c)
        k, s = kh, geo["stride"]
        w_kkc = wdat.reshape(kh, kw, c)
        params = dict(c=c, **{n: geo[n] for n in ("in_h", "in_w", "out_h", "out_w", "k", "stride", "pad_top",
                                                    "pad_left")},
                      plane_h=(geo["out_h"] - 1) * s + k, plane_w=(geo["out_w"] - 1) * s + k,
                      pad_value=x.zero_point, out_offset=y.zero_point, act_min=lo, act_max=hi)
        consts = dict(weight=w_kkc, bias=Q.fold_bias(bias, w_kkc.reshape(-1, c).T, -x.zero_point),
                      mult=mult, shift=shift)
        layer = self.add_layer(kernel="dwconv", name=f"dw{k}x{k}/s{s} {c}ch {geo['out_h']}x{geo['out_w']}",
                               inputs=[x.index], output=y.index, params=params, consts=consts,
                               macs=geo["out_h"] * geo["out_w"] * c * k * k, ops=ops)
        layer.scratch_bytes = params["plane_h"] * params["plane_w"]
        layer.overlap = {x.index: ("same", 0)}

    def _binary(self, op: TOp):
        """(activation a, other b, b's constant data or None); a is always an activation."""
        i1, i2 = self.resolve(op.inputs[0]), self.resolve(op.inputs[1])
        c1, c2 = self.const(i1), self.const(i2)
        if c1 is not None and c2 is not None:
            raise UserError(f"{op.opcode} op {op.index} has two constant inputs; re-export the model")
        if c1 is not None:
            i1, i2, c1, c2 = i2, i1, c2, c1
        a = self.t(self.act_in(i1))
        b = self.t(i2)
        if c2 is None:
            self.act_in(i2)
        elif c2.dtype != np.int8:
            raise UserError(f"{op.opcode} op {op.index} has a non-int8 constant; not supported")
        return a, b, c2

    def op_ADD(self, op: TOp) -> None:
        a, b, cb = self._binary(op)
        y = self.t(op.outputs[0])
        _check_int8_act(y)
        n = a.size
        if b.size not in (1, n) or y.size != n:
            raise UserError(f"ADD op {op.index} broadcasts {a.shape} with {b.shape}; only elementwise or scalar adds "
                            "are supported")
        p = Q.add_params(a.scale, a.zero_point, b.scale, b.zero_point, y.scale, y.zero_point,
                         int(op.options.get("fusedActivationFunction", 0)))
        p.update(n=n, n_b=b.size)
        consts = {} if cb is None else {"b": cb.reshape(-1)}
        layer = self.add_layer(kernel="add", name=f"add {n}", inputs=[a.index] + ([] if cb is not None else [b.index]),
                               output=y.index, params=p, consts=consts, macs=n, ops=[op.index])
        layer.overlap = {a.index: ("stream", 0)}
        if cb is None and b.size == n:
            layer.overlap[b.index] = ("stream", 0)

    def op_MUL(self, op: TOp) -> None:
        a, b, cb = self._binary(op)
        if b.size > a.size:
            if cb is not None:
                raise UserError(f"MUL op {op.index} broadcasts an activation over a constant; not supported")
            a, b = b, a
        y = self.t(op.outputs[0])
        _check_int8_act(y)
        n = a.size
        chans = a.shape[-1] if a.shape else 1
        if b.size not in (1, n, chans) or y.size != n:
            raise UserError(f"MUL op {op.index} broadcasts {a.shape} with {b.shape}; only scalar, per-channel or "
                            "elementwise multiplies are supported")
        if b.size == chans and b.size not in (1, n) and (not b.shape or b.shape[-1] != chans):
            raise UserError(f"MUL op {op.index} broadcasts along a non-channel axis; not supported")
        p = Q.mul_params(a.scale, a.zero_point, b.scale, b.zero_point, y.scale, y.zero_point,
                         int(op.options.get("fusedActivationFunction", 0)))
        p.update(n=n, n_b=b.size)
        consts = {} if cb is None else {"b": cb.reshape(-1)}
        layer = self.add_layer(kernel="mul", name=f"mul {n}x{b.size}",
                               inputs=[a.index] + ([] if cb is not None else [b.index]), output=y.index, params=p,
                               consts=consts, macs=n, ops=[op.index])
        layer.overlap = {a.index: ("stream", 0)}
        if cb is None and b.size == n:
            layer.overlap[b.index] = ("stream", 0)

    def op_MEAN(self, op: TOp) -> None:
        x = self.t(self.act_in(op.inputs[0]))
        h, w, c = _nhwc(x)
        axes = self.const(op.inputs[1])
        if axes is None or sorted(int(v) % 4 for v in np.asarray(axes).reshape(-1)) != [1, 2]:
            raise UserError(f"MEAN op {op.index} reduces axes {axes}; only the spatial mean (axes 1, 2) is supported")
        y = self.t(op.outputs[0])
        _check_int8_act(y)
        p = Q.mean_params(x.scale, x.zero_point, y.scale, y.zero_point, h * w)
        p.update(hw=h * w, c=c)
        self.add_layer(kernel="mean", name=f"mean {h}x{w}x{c}", inputs=[x.index], output=y.index, params=p,
                       macs=h * w * c, ops=[op.index])

    def op_AVERAGE_POOL_2D(self, op: TOp) -> None:
        x = self.t(self.act_in(op.inputs[0]))
        y = self.t(op.outputs[0])
        _check_int8_act(y)
        if x.scale != y.scale or x.zero_point != y.zero_point:
            raise UserError(f"AVERAGE_POOL_2D op {op.index} changes quantization; not supported")
        h, w, c = _nhwc(x)
        o = op.options
        fh, fw = int(o["filterHeight"]), int(o["filterWidth"])
        sh, sw = int(o["strideH"]), int(o["strideW"])
        if int(o.get("padding", 1)) == 0:
            oh, pt = _same_pad(h, fh, sh)
            ow, pl = _same_pad(w, fw, sw)
        else:
            oh, ow, pt, pl = (h - fh) // sh + 1, (w - fw) // sw + 1, 0, 0
        lo, hi = Q.activation_range(int(o.get("fusedActivationFunction", 0)), y.scale, y.zero_point)
        p = dict(in_h=h, in_w=w, c=c, out_h=oh, out_w=ow, filter_h=fh, filter_w=fw, stride_h=sh, stride_w=sw,
                 pad_top=pt, pad_left=pl, act_min=lo, act_max=hi)
        self.add_layer(kernel="avgpool", name=f"avgpool {fh}x{fw} {c}ch", inputs=[x.index], output=y.index, params=p,
                       macs=oh * ow * c * fh * fw, ops=[op.index])

    def op_FULLY_CONNECTED(self, op: TOp) -> None:
        x = self.t(self.act_in(op.inputs[0]))
        wt, wdat = self._weights(op)
        if wdat.ndim != 2:
            raise UserError(f"FULLY_CONNECTED op {op.index} has {wdat.ndim}-D weights; not supported")
        on, inn = wdat.shape
        if x.size != inn:
            raise UserError(f"FULLY_CONNECTED op {op.index} has batch > 1; not supported by the native backend")
        y = self.t(op.outputs[0])
        _check_int8_act(y)
        bias, mult, shift, lo, hi = self._requant(op, x, y, wt, on)
        p = dict(in_n=inn, out_n=on, out_offset=y.zero_point, act_min=lo, act_max=hi)
        consts = dict(weight=wdat, bias=Q.fold_bias(bias, wdat, -x.zero_point), mult=mult, shift=shift)
        self.add_layer(kernel="fc", name=f"fc {inn}->{on}", inputs=[x.index], output=y.index, params=p, consts=consts,
                       macs=on * inn, ops=[op.index])


# ---- fusion passes ---------------------------------------------------------------------------


def _consumers(layers: list[Layer], buf: int) -> list[Layer]:
    return [l for l in layers if buf in l.inputs]


def _pw_as_fc(l: Layer) -> dict:
    p, c = l.params, l.consts
    return dict(params=dict(in_n=p["in_c"], out_n=p["out_c"], out_offset=p["out_offset"], act_min=p["act_min"],
                            act_max=p["act_max"]), consts=dict(c))


def _fuse_se(layers: list[Layer], graph_in: int, graph_out: int) -> list[Layer]:
    """MEAN(x) -> conv1x1 -> conv1x1 -> [MUL/ADD const scalar]* -> MUL(x, gate) => se(x) in place
    (not when x is the graph input or the product is the graph output)."""
    out = list(layers)
    for mean in [l for l in layers if l.kernel == "mean"]:
        x = mean.inputs[0]
        users = _consumers(out, x)
        if len(users) != 2 or mean not in users or x == graph_in:
            continue
        chain, cur = [mean], mean
        ok = True
        for want in ("conv1x1", "conv1x1"):
            nxt = _consumers(out, cur.output)
            if len(nxt) != 1 or nxt[0].kernel != want or nxt[0].params["out_h"] != 1 or nxt[0].params["out_w"] != 1:
                ok = False
                break
            chain.append(nxt[0])
            cur = nxt[0]
        if not ok:
            continue
        gates = []
        while True:
            nxt = _consumers(out, cur.output)
            if len(nxt) != 1 or cur.output == graph_out:
                ok = False
                break
            n = nxt[0]
            if n.kernel in ("mul", "add") and "b" in n.consts and n.params["n_b"] == 1:
                gates.append(n)
                chain.append(n)
                cur = n
                continue
            if n.kernel == "mul" and set(n.inputs) == {x, cur.output} and n.params["n_b"] == mean.params["c"] \
                    and n.inputs[0] == x and len(gates) <= 4 and n.output != graph_out:
                final = n
                break
            ok = False
            break
        if not ok:
            continue
        red, exp = _pw_as_fc(chain[1]), _pw_as_fc(chain[2])
        c, c_mid = mean.params["c"], chain[1].params["out_c"]
        se = Layer(index=0, kernel="se", name=f"se {c}->{c_mid}->{c}", inputs=[x], output=x,
                   params=dict(hw=mean.params["hw"], c=c, c_mid=c_mid, mean=mean.params, reduce=red["params"],
                               expand=exp["params"], gate=[dict(kind=g.kernel, params=g.params,
                                                                constant=int(g.consts["b"][0])) for g in gates],
                               scale=final.params),
                   consts={"reduce_" + k: v for k, v in red["consts"].items()}
                   | {"expand_" + k: v for k, v in exp["consts"].items()},
                   macs=sum(l.macs for l in chain) + final.macs,
                   ops=sorted(o for l in chain + [final] for o in l.ops))
        se.scratch_bytes = 3 * c + c_mid
        se.final_output = final.output  # the MUL's tensor, now an alias of x
        pos = out.index(mean)
        for l in chain + [final]:
            out.remove(l)
        out.insert(pos, se)
        for l in out:  # readers of the MUL's output now read x
            l.inputs = [x if i == final.output else i for i in l.inputs]
            l.overlap = {(x if k == final.output else k): v for k, v in l.overlap.items()}
    return out


def _combined(a: int, b: int, rule) -> int:
    """Bytes two buffers take together at best under an overlap rule."""
    if rule is None:
        return a + b
    kind, d = rule
    if kind == "same":
        return max(a, b)
    return min(a + b, max(d + a, b) if d >= 0 else max(a, -d + b))


def _fuse_expand_dw(layers: list[Layer], policy: str, live_after) -> list[Layer]:
    """conv1x1 (stride 1) -> dwconv on its output only => mbconv_edw, when it saves memory
    (``policy="auto"``), always, or never."""
    if policy == "never":
        return layers
    out = list(layers)
    i = 0
    while i < len(out) - 1:
        pw, dw = out[i], out[i + 1]
        if not (pw.kernel == "conv1x1" and dw.kernel == "dwconv" and dw.inputs == [pw.output]
                and pw.params["stride"] == 1 and len(_consumers(out, pw.output)) == 1):
            i += 1
            continue
        x = pw.inputs[0]
        p = dw.params
        k, s, m, ic = p["k"], p["stride"], p["c"], pw.params["in_c"]
        in_size = p["in_h"] * p["in_w"] * ic
        mid_size = p["in_h"] * p["in_w"] * m
        out_size = p["out_h"] * p["out_w"] * m
        ring = (k + 1) * p["plane_w"] * m
        d = stream_distance(p["out_h"], p["out_w"] * m, p["in_w"] * ic, p["in_h"],
                            lambda r: r * s - p["pad_top"] + k)
        x_dies = not live_after(x, i + 1, out)
        if x_dies:
            fused = _combined(in_size, out_size, ("stream", d)) + ring
            unfused = max(_combined(in_size, mid_size, pw.overlap.get(x)) + ic, mid_size + dw.scratch_bytes)
        else:
            fused = in_size + out_size + ring
            unfused = in_size + mid_size + max(ic, dw.scratch_bytes)
        if policy == "auto" and fused >= unfused:
            i += 1
            continue
        edw = Layer(index=0, kernel="mbconv_edw", name=f"expand+dw{k}x{k}/s{s} {ic}->{m} {p['out_h']}x{p['out_w']}",
                    inputs=[x], output=dw.output, params=dict(pw=pw.params, dw=dw.params),
                    consts={"pw_" + n: v for n, v in pw.consts.items()} | {"dw_" + n: v for n, v in dw.consts.items()},
                    macs=pw.macs + dw.macs, ops=pw.ops + dw.ops, overlap={x: ("stream", d)})
        edw.scratch_bytes = ring
        out[i:i + 2] = [edw]
        i += 1
    return out


def _live_after(buf: int, index: int, layers: list[Layer], graph_out: int) -> bool:
    return buf == graph_out or any(buf in l.inputs for l in layers[index + 1:])


def lower_tflite(tflite: bytes | TfliteModel, fuse: str = "auto") -> Graph:
    """Lower a full-int8 TFLite model to a :class:`Graph` of native kernel calls.

    ``fuse`` controls the expand+depthwise fusion: ``"auto"`` (when it lowers memory),
    ``"always"`` or ``"never"``. Unsupported ops raise a one-line UserError.
    """
    if fuse not in ("auto", "always", "never"):
        raise UserError(f"unknown fuse policy {fuse!r}; choose auto, always or never")
    model = tflite if isinstance(tflite, TfliteModel) else read_tflite(bytes(tflite))
    if model.n_subgraphs != 1:
        raise UserError(f"the model has {model.n_subgraphs} subgraphs; the native backend needs exactly one")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UserError(f"the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                        "the native backend needs one of each")
    low = _Lowerer(model, fuse)
    layers = low.lower()
    if low.pads:
        raise UserError("a PAD op is not followed by a conv; the native backend folds PAD only into convs")
    in_id = low.resolve(model.inputs[0])
    out_id = low.resolve(model.outputs[0])
    for t in (in_id, out_id):
        _check_int8_act(model.tensors[t])
    if not layers:
        raise UserError("the model has no compute ops; nothing to generate")
    layers = _fuse_se(layers, in_id, out_id)
    layers = _fuse_expand_dw(layers, fuse, lambda b, i, ls: _live_after(b, i, ls, out_id))
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
