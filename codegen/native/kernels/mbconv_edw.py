"""Fused MBConv front: a stride-1 1x1 expand and the depthwise conv on its output in one call
that streams expanded rows through a ring of k + 1 padded rows, so the expanded tensor never
exists in full (a graph pass over conv1x1 -> dwconv; ``fuse="auto"`` fuses when it lowers
the memory plan's bound)."""
from __future__ import annotations

from . import Kernel
from ..cemit import params_struct
from ..graph import Layer, combined_bytes, consumers, live_after
from ..lowering import stream_distance
from .conv1x1 import KERNEL as PW
from .dwconv import KERNEL as DW, dw_features


def fuse(layers: list[Layer], graph_in: int, graph_out: int, policy: str) -> list[Layer]:
    """conv1x1 (stride 1) -> dwconv on its output only => mbconv_edw, when it saves memory
    (``policy="auto"``), always, or never."""
    if policy == "never":
        return layers
    out = list(layers)
    i = 0
    while i < len(out) - 1:
        pw, dw = out[i], out[i + 1]
        if not (pw.kernel == PW.name and dw.kernel == DW.name and dw.inputs == [pw.output]
                and pw.params["stride"] == 1 and len(consumers(out, pw.output)) == 1):
            i += 1
            continue
        x = pw.inputs[0]
        p = dw.params
        k, s, m, ic = p["k"], p["stride"], p["c"], pw.params["in_c"]
        in_size = p["in_h"] * p["in_w"] * ic
        mid_size = p["in_h"] * p["in_w"] * m
        out_size = p["out_h"] * p["out_w"] * m
        ring = (k + 1) * p["plane_w"] * m
        d = stream_distance(p["out_h"], p["out_w"] * m, p["in_w"] * ic, p["in_h"], lambda r: r * s - p["pad_top"] + k)
        if not live_after(x, i + 1, out, graph_out):
            fused = combined_bytes(in_size, out_size, ("stream", d)) + ring
            unfused = max(combined_bytes(in_size, mid_size, pw.overlap.get(x)) + ic, mid_size + dw.scratch_bytes)
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


def emit(l, cx):
    """``ofa_mbconv_edw(&pw, &dw, in, out, ring)``."""
    pre = f"l{l.index}"
    pw = {k[3:]: v for k, v in l.consts.items() if k.startswith("pw_")}
    dw = {k[3:]: v for k, v in l.consts.items() if k.startswith("dw_")}
    decl = params_struct(PW, f"{pre}_pw", l.params["pw"], pw, pre + "_pw", ("weight", "bias", "mult", "shift"))
    decl += params_struct(DW, f"{pre}_dw", l.params["dw"], dw, pre + "_dw", ("weight", "bias", "mult", "shift"))
    return decl, (f"ofa_mbconv_edw(&{pre}_pw, &{pre}_dw, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)}, "
                  f"{cx.ptr(l.scratch)});")


def features(l) -> dict:
    """Pointwise plus depthwise roles."""
    pw, dw = l.params["pw"], l.params["dw"]
    f = dw_features(dw)
    f.update(pw_macs=l.macs - f["dw_macs"], pw_out=pw["out_h"] * pw["out_w"] * pw["out_c"],
             pw_pix=pw["out_h"] * pw["out_w"])
    return f


KERNEL = Kernel(name="mbconv_edw", c_file="mbconv_edw.c", emit=emit, features=features, fuse=fuse, fuse_order=20,
                depends=("conv1x1", "dwconv"),
                prototype="void ofa_mbconv_edw(const ofa_conv1x1_params *pw, const ofa_dwconv_params *dw, "
                          "const int8_t *in, int8_t *out, int8_t *ring)",
                doc="1x1 expand + depthwise, rows streamed through a ring")
