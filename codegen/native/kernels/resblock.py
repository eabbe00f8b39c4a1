"""Fused residual block (ResNet's basic block): conv2d k x k stride 1 "same" -> conv2d k x k
stride 1 "same" -> ADD with the block input, as one call that writes the sum over the input row by
row, the first conv's rows streamed through a ring of K rows (a graph pass; always, unless
``fuse="never"``: it needs the input, the ring and one row instead of the input and two whole
tensors). Each step is the TFLite reference op of its node."""
from __future__ import annotations

from . import Kernel, add as ADD
from ..cemit import init
from ..graph import Layer, consumers
from .conv2d import SCALARS as CONV_SCALARS
from .mm import groups, mm_arrays, mm_init

MAX_K = 7
FIELDS = (("ofa_conv2d_params", "a"), ("ofa_conv2d_params", "b"), ("ofa_add_params", "add"),
          ("int32_t", "x_first"), ("int32_t", "cols_bytes"), ("int32_t", "patch_bytes"), ("int32_t", "row_bytes"))


def _same_s1(l: Layer) -> bool:
    p = l.params
    k = p.get("kh")
    return (l.kernel == "conv2d" and k == p.get("kw") and k % 2 == 1 and k <= MAX_K and p["sh"] == p["sw"] == 1
            and (p["out_h"], p["out_w"]) == (p["in_h"], p["in_w"]) and p["pad_top"] == p["pad_left"] == k // 2)


def fuse(layers: list[Layer], graph_in: int, graph_out: int, policy: str) -> list[Layer]:
    """conv2d (x) -> conv2d -> add(x, .) => resblock, in place on x (not when x is the graph
    input or the sum the graph output)."""
    if policy == "never":
        return layers
    out = list(layers)
    i = 0
    while i < len(out) - 2:
        a, b, c = out[i], out[i + 1], out[i + 2]
        x = a.inputs[0]
        if not (_same_s1(a) and _same_s1(b) and b.inputs == [a.output] and c.kernel == "add"
                and sorted(c.inputs) == sorted([x, b.output]) and c.params["n_b"] == c.params["n"]
                and a.params["kh"] == b.params["kh"] and b.params["mm"]["out_c"] == a.params["in_c"]
                and len(consumers(out, a.output)) == 1 and len(consumers(out, b.output)) == 1
                and {id(l) for l in consumers(out, x)} == {id(a), id(c)} and x != graph_in
                and graph_out not in (x, a.output, b.output, c.output)):
            i += 1
            continue
        pa, pb = a.params, b.params
        k, w, ch, c1 = pa["kh"], pa["in_w"], pa["in_c"], pa["mm"]["out_c"]
        patch = max(pa["patch"], pb["patch"])
        cols = 16 * max(groups(k * k * ch), groups(k * k * c1))
        row = w * ch
        addp = dict(c.params, n=row, n_b=row)
        params = dict(a=pa, b=pb, add=addp, x_first=int(c.inputs[0] == x), cols_bytes=cols, patch_bytes=patch,
                      row_bytes=(row + 3) // 4 * 4)
        layer = Layer(index=0, kernel="resblock",
                      name=f"resblock conv{k}x{k} {ch}->{c1}->{ch} + add {pa['in_h']}x{w}", inputs=[x],
                      output=x, params=params,
                      consts={"a_" + n: v for n, v in a.consts.items()} | {"b_" + n: v for n, v in b.consts.items()}
                      | {"add_" + n: v for n, v in c.consts.items()},
                      macs=a.macs + b.macs + c.macs, ops=a.ops + b.ops + c.ops)
        layer.scratch_bytes = cols + 2 * patch + params["row_bytes"] + k * w * c1
        out[i:i + 3] = [layer]
        for l in out:  # readers of the add's output read x, where the sum now is
            l.inputs = [x if j == c.output else j for j in l.inputs]
            l.overlap = {(x if j == c.output else j): v for j, v in l.overlap.items()}
        i += 1
    return out


def _conv_init(p: dict, prefix: str) -> str:
    return init(p, CONV_SCALARS, {"mm": mm_init(p["mm"], prefix)})


def emit(l, cx):
    """``ofa_resblock(&p, x, scratch)`` (the output is x's bytes)."""
    pre = f"l{l.index}"
    part = {s: {n[len(s) + 1:]: v for n, v in l.consts.items() if n.startswith(s + "_")} for s in ("a", "b", "add")}
    decl = mm_arrays(part["a"], pre + "_a") + mm_arrays(part["b"], pre + "_b") + ADD.add_arrays(part["add"], pre + "_add")
    p = l.params
    decl += (f"static const ofa_resblock_params {pre}_p = {{.a = {_conv_init(p['a'], pre + '_a')},\n"
             f"    .b = {_conv_init(p['b'], pre + '_b')},\n    .add = {ADD.add_init(p['add'], pre + '_add')},\n"
             f"    .x_first = {p['x_first']}, .cols_bytes = {p['cols_bytes']}, .patch_bytes = {p['patch_bytes']}, "
             f".row_bytes = {p['row_bytes']}}};\n")
    return decl, f"ofa_resblock(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.scratch)});"


def features(l) -> dict:
    """Two full convolutions (the stem role) and the add."""
    p = l.params
    outs = p["a"]["out_h"] * p["a"]["out_w"]
    return {"stem_macs": l.macs - p["add"]["n"] * p["a"]["out_h"],
            "stem_out": outs * (p["a"]["mm"]["out_c"] + p["b"]["mm"]["out_c"]), "add_n": outs * p["a"]["in_c"]}


KERNEL = Kernel(name="resblock", c_file="resblock.c", fields=FIELDS, emit=emit, features=features, fuse=fuse,
                fuse_order=30, depends=("conv2d", "add", "mm"), c_types=f"#define OFA_RESBLOCK_MAX_K {MAX_K}\n",
                prototype="void ofa_resblock(const ofa_resblock_params *p, int8_t *x, int8_t *scratch)",
                doc="conv -> conv -> add over the block input, row by row")
