"""Fused MBConv front: a stride-1 1x1 expand and the depthwise conv on its output in one call
that streams expanded rows through a ring of K channel-major padded rows (plus a padding
row), so the expanded tensor never exists in full (a graph pass over conv1x1 -> dwconv;
``fuse="auto"`` fuses when it lowers the memory plan's bound)."""
from __future__ import annotations

from ofa_mcu.errors import UserError

from . import Kernel
from ..cemit import init
from ..graph import Layer, combined_bytes, consumers, live_after
from ..lowering import stream_distance
from .conv1x1 import KERNEL as PW, SCALARS as PW_SCALARS
from .dwconv import KERNEL as DW, PLANE_SLACK, dw_arrays, dw_features, dw_init
from .dwrow import specialised
from .mm import groups, mm_arrays, mm_init

FIELDS = (("ofa_conv1x1_params", "pw"), ("ofa_dwconv_params", "dw"), ("int32_t", "pad_row_bytes"))


def ring_layout(k: int, plane_w: int, m: int, ic: int) -> tuple[int, int]:
    """``(pad row bytes, scratch bytes)``: K slots of ``plane_w * m``, the padding row (with
    the row engine's slack, word-aligned), then two pixels' columns for the expand."""
    pad_row = (plane_w + PLANE_SLACK + 3) // 4 * 4
    ring = (k * plane_w * m + 3) // 4 * 4
    return pad_row, ring + pad_row + 16 * groups(ic)


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
                and pw.params["stride"] == 1 and len(consumers(out, pw.output)) == 1
                and specialised(dw.params["k"], dw.params["stride"])):
            i += 1
            continue
        x = pw.inputs[0]
        p = dw.params
        k, s, m, ic = p["k"], p["stride"], p["c"], pw.params["in_c"]
        in_size = p["in_h"] * p["in_w"] * ic
        mid_size = p["in_h"] * p["in_w"] * m
        out_size = p["out_h"] * p["out_w"] * m
        pad_row, ring = ring_layout(k, p["plane_w"], m, ic)
        d = stream_distance(p["out_h"], p["out_w"] * m, p["in_w"] * ic, p["in_h"], lambda r: r * s - p["pad_top"] + k)
        if not live_after(x, i + 1, out, graph_out):
            fused = combined_bytes(in_size, out_size, ("stream", d)) + ring
            unfused = max(combined_bytes(in_size, mid_size, pw.overlap.get(x)) + pw.scratch_bytes,
                          mid_size + dw.scratch_bytes)
        else:
            fused = in_size + out_size + ring
            unfused = in_size + mid_size + max(pw.scratch_bytes, dw.scratch_bytes)
        if policy == "auto" and fused >= unfused:
            i += 1
            continue
        edw = Layer(index=0, kernel="mbconv_edw", name=f"expand+dw{k}x{k}/s{s} {ic}->{m} {p['out_h']}x{p['out_w']}",
                    inputs=[x], output=dw.output,
                    params=dict(pw={**pw.params, "mm": {**pw.params["mm"], "step": p["plane_w"]}}, dw=dw.params,
                                pad_row_bytes=pad_row),
                    consts={"pw_" + n: v for n, v in pw.consts.items()} | {"dw_" + n: v for n, v in dw.consts.items()},
                    macs=pw.macs + dw.macs, ops=pw.ops + dw.ops, overlap={x: ("stream", d)})
        edw.scratch_bytes = ring
        out[i:i + 2] = [edw]
        i += 1
    return out


def emit(l, cx):
    """``ofa_mbconv_edw(&p, in, out, ring)``."""
    pre = f"l{l.index}"
    pw = {k[3:]: v for k, v in l.consts.items() if k.startswith("pw_")}
    dw = {k[3:]: v for k, v in l.consts.items() if k.startswith("dw_")}
    decl = mm_arrays(pw, pre + "_pw") + dw_arrays(dw, pre + "_dw")
    pw_init = init(l.params["pw"], PW_SCALARS, {"mm": mm_init(l.params["pw"]["mm"], pre + "_pw")})
    decl += (f"static const ofa_mbconv_edw_params {pre}_p = {{.pw = {pw_init},\n    .dw = "
             f"{dw_init(l.params['dw'], pre + '_dw')},\n    .pad_row_bytes = {l.params['pad_row_bytes']}}};\n")
    return decl, f"ofa_mbconv_edw(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)}, {cx.ptr(l.scratch)});"


def features(l) -> dict:
    """Pointwise plus depthwise roles."""
    pw, dw = l.params["pw"], l.params["dw"]
    f = dw_features(dw)
    f.update(pw_macs=l.macs - f["dw_macs"], pw_out=pw["out_h"] * pw["out_w"] * pw["mm"]["out_c"],
             pw_pix=pw["out_h"] * pw["out_w"])
    return f


def config(layers) -> str:
    """The (K, stride, mode) variants of the fused layers."""
    from .dwrow import variants_config

    keys = [(l.params["dw"]["k"], l.params["dw"]["stride"], l.params["dw"]["mode"]) for l in layers]
    if any(not specialised(k, s) for k, s, _ in keys):
        raise UserError("internal error: a fused MBConv front without a compiled variant")
    return variants_config("OFA_EDW_VARIANTS", layers, lambda l: (l.params["dw"]["k"], l.params["dw"]["stride"],
                                                                  l.params["dw"]["mode"]))


KERNEL = Kernel(name="mbconv_edw", c_file="mbconv_edw.c", fields=FIELDS, emit=emit, features=features, fuse=fuse,
                fuse_order=20, depends=("conv1x1", "dwconv", "dwrow", "mm"), config=config,
                prototype="void ofa_mbconv_edw(const ofa_mbconv_edw_params *p, const int8_t *in, int8_t *out, "
                          "int8_t *ring)",
                doc="1x1 expand + depthwise, rows streamed through a ring")
