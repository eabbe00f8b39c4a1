"""Render a planned :class:`Graph` as C99: const arrays, const parameter structs, one static
arena and one kernel call per layer. Pure string building; files are written by
:mod:`codegen.native.emit`."""
from __future__ import annotations

import numpy as np

from .graph import Graph, Layer
from .memory import MemoryPlan

CONV_FIELDS = ("in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k", "stride", "pad_top", "pad_left",
               "in_offset", "out_offset", "act_min", "act_max")
DW_FIELDS = ("in_h", "in_w", "c", "out_h", "out_w", "k", "stride", "pad_top", "pad_left", "plane_h", "plane_w",
             "pad_value", "out_offset", "act_min", "act_max")
ADD_FIELDS = ("n", "n_b", "in1_offset", "in2_offset", "out_offset", "in1_mult", "in2_mult", "out_mult",
              "in1_shift", "in2_shift", "out_shift", "left_shift", "act_min", "act_max")
MUL_FIELDS = ("n", "n_b", "in1_offset", "in2_offset", "out_offset", "out_mult", "out_shift", "act_min", "act_max")
MEAN_FIELDS = ("hw", "c", "in_zp", "out_zp", "mult", "shift")
POOL_FIELDS = ("in_h", "in_w", "c", "out_h", "out_w", "filter_h", "filter_w", "stride_h", "stride_w", "pad_top",
               "pad_left", "act_min", "act_max")
FC_FIELDS = ("in_n", "out_n", "out_offset", "act_min", "act_max")

_CTYPES = {np.dtype(np.int8): "int8_t", np.dtype(np.int32): "int32_t", np.dtype(np.uint8): "uint8_t"}


def c_array(name: str, arr: np.ndarray, per_line: int = 24) -> str:
    """``static const T name[n] = {...};`` for an int8/int32 array."""
    a = np.ascontiguousarray(arr).reshape(-1)
    ctype = _CTYPES[a.dtype]
    vals = a.tolist()
    lines = [", ".join(str(v) for v in vals[i:i + per_line]) for i in range(0, len(vals), per_line)]
    body = ",\n    ".join(lines) if lines else "0"
    return f"static const {ctype} {name}[{max(len(vals), 1)}] = {{\n    {body}\n}};\n"


def _init(p: dict, fields, ptrs: dict | None = None) -> str:
    items = [f".{f} = {int(p[f])}" for f in fields]
    items += [f".{k} = {v}" for k, v in (ptrs or {}).items()]
    return "{" + ", ".join(items) + "}"


class _Ctx:
    def __init__(self, graph: Graph, plan: MemoryPlan):
        self.g, self.plan = graph, plan

    def ptr(self, buf: int) -> str:
        return f"ofa_arena + {self.plan.offsets[buf]}"


def _params_struct(ctype: str, fields, name: str, p: dict, consts: dict, prefix: str) -> str:
    """The weight/bias/mult/shift arrays and the ``ctype`` params struct pointing at them."""
    d = ""
    for n in ("weight", "bias", "mult", "shift"):
        d += c_array(f"{prefix}_{n}", consts[n])
    ptrs = {n: f"{prefix}_{n}" for n in ("weight", "bias", "mult", "shift")}
    return d + f"static const {ctype} {name} = {_init(p, fields, ptrs)};\n"


def _conv_struct(name: str, p: dict, consts: dict, prefix: str) -> str:
    return _params_struct("ofa_conv_params", CONV_FIELDS, name, p, consts, prefix)


def _dw_struct(name: str, p: dict, consts: dict, prefix: str) -> str:
    return _params_struct("ofa_dw_params", DW_FIELDS, name, p, consts, prefix)


def _fc_init(p: dict, prefix: str) -> str:
    return _init(p, FC_FIELDS, {n: f"{prefix}_{n}" for n in ("weight", "bias", "mult", "shift")})


def emit_conv2d(l: Layer, cx: _Ctx):
    pre = f"l{l.index}"
    decl = _conv_struct(f"{pre}_p", l.params, l.consts, pre)
    return decl, f"ofa_conv2d(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)});"


def emit_conv1x1(l: Layer, cx: _Ctx):
    pre = f"l{l.index}"
    decl = _conv_struct(f"{pre}_p", l.params, l.consts, pre)
    pix = cx.ptr(l.scratch) if cx.plan.overlaps.get(l.index) else "NULL"
    return decl, f"ofa_conv1x1(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)}, {pix});"


def emit_dwconv(l: Layer, cx: _Ctx):
    pre = f"l{l.index}"
    decl = _dw_struct(f"{pre}_p", l.params, l.consts, pre)
    return decl, f"ofa_dwconv(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)}, {cx.ptr(l.scratch)});"


def emit_mbconv_edw(l: Layer, cx: _Ctx):
    pre = f"l{l.index}"
    pw = {k[3:]: v for k, v in l.consts.items() if k.startswith("pw_")}
    dw = {k[3:]: v for k, v in l.consts.items() if k.startswith("dw_")}
    decl = _conv_struct(f"{pre}_pw", l.params["pw"], pw, pre + "_pw") + _dw_struct(f"{pre}_dw", l.params["dw"], dw,
                                                                                 pre + "_dw")
    return decl, (f"ofa_mbconv_edw(&{pre}_pw, &{pre}_dw, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)}, "
                  f"{cx.ptr(l.scratch)});")


def _binary(l: Layer, cx: _Ctx, ctype: str, fields, fn: str):
    pre = f"l{l.index}"
    decl = ""
    if "b" in l.consts:
        decl += c_array(f"{pre}_b", l.consts["b"])
        b = f"{pre}_b"
    else:
        b = cx.ptr(l.inputs[1])
    decl += f"static const {ctype} {pre}_p = {_init(l.params, fields)};\n"
    return decl, f"{fn}(&{pre}_p, {cx.ptr(l.inputs[0])}, {b}, {cx.ptr(l.output)});"


def emit_add(l: Layer, cx: _Ctx):
    return _binary(l, cx, "ofa_add_params", ADD_FIELDS, "ofa_add")


def emit_mul(l: Layer, cx: _Ctx):
    return _binary(l, cx, "ofa_mul_params", MUL_FIELDS, "ofa_mul")


def emit_mean(l: Layer, cx: _Ctx):
    pre = f"l{l.index}"
    decl = f"static const ofa_mean_params {pre}_p = {_init(l.params, MEAN_FIELDS)};\n"
    return decl, f"ofa_mean_hw(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)});"


def emit_avgpool(l: Layer, cx: _Ctx):
    pre = f"l{l.index}"
    decl = f"static const ofa_avgpool_params {pre}_p = {_init(l.params, POOL_FIELDS)};\n"
    return decl, f"ofa_avgpool(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)});"


def emit_fc(l: Layer, cx: _Ctx):
    pre = f"l{l.index}"
    decl = "".join(c_array(f"{pre}_{n}", l.consts[n]) for n in ("weight", "bias", "mult", "shift"))
    decl += f"static const ofa_fc_params {pre}_p = {_fc_init(l.params, pre)};\n"
    return decl, f"ofa_fc(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)});"


def emit_se(l: Layer, cx: _Ctx):
    pre = f"l{l.index}"
    p = l.params
    decl = ""
    for part in ("reduce", "expand"):
        decl += "".join(c_array(f"{pre}_{part}_{n}", l.consts[f"{part}_{n}"])
                        for n in ("weight", "bias", "mult", "shift"))
    gates = []
    for g in p["gate"]:
        if g["kind"] == "mul":
            gates.append(f"{{.op = OFA_GATE_MUL, .constant = {g['constant']}, .mul = {_init(g['params'], MUL_FIELDS)}}}")
        else:
            gates.append(f"{{.op = OFA_GATE_ADD, .constant = {g['constant']}, .add = {_init(g['params'], ADD_FIELDS)}}}")
    gate_init = "{" + ", ".join(gates) + "}" if gates else "{{0}}"
    decl += (f"static const ofa_se_params {pre}_p = {{.hw = {p['hw']}, .c = {p['c']}, .c_mid = {p['c_mid']},\n"
             f"    .mean = {_init(p['mean'], MEAN_FIELDS)},\n"
             f"    .reduce = {_fc_init(p['reduce'], pre + '_reduce')},\n"
             f"    .expand = {_fc_init(p['expand'], pre + '_expand')},\n"
             f"    .n_gate = {len(gates)}, .gate = {gate_init},\n"
             f"    .scale = {_init(p['scale'], MUL_FIELDS)}}};\n")
    return decl, f"ofa_se(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.scratch)});"


EMITTERS = {
    "conv2d": emit_conv2d, "conv1x1": emit_conv1x1, "dwconv": emit_dwconv, "mbconv_edw": emit_mbconv_edw,
    "add": emit_add, "mul": emit_mul, "mean": emit_mean, "avgpool": emit_avgpool, "fc": emit_fc, "se": emit_se,
}


def render_layers(graph: Graph, plan: MemoryPlan) -> list[dict]:
    """Per layer: its comment, const declarations and the kernel call."""
    cx = _Ctx(graph, plan)
    out = []
    for l in graph.layers:
        decl, call = EMITTERS[l.kernel](l, cx)
        out.append(dict(index=l.index, name=l.name, kernel=l.kernel, macs=l.macs, ops=l.ops, decl=decl, call=call))
    return out


def flash_bytes(graph: Graph) -> int:
    """Bytes of const data (weights, biases, multipliers, shifts) the model file holds."""
    return sum(int(np.asarray(v).nbytes) for l in graph.layers for v in l.consts.values())
