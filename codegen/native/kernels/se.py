"""Squeeze-excite in one in-place call: the pattern MEAN(x) -> 1x1 conv -> 1x1 conv -> [MUL/ADD
by a constant scalar]* -> MUL(x, gate) of the converter's SE blocks (a graph pass; not when x
is the graph input or the product is the graph output). Each step is the TFLite reference op
of that node, so it stays bit-exact."""
from __future__ import annotations

from . import Kernel
from ..cemit import init, scalar_fields
from ..graph import Layer, consumers
from . import add as ADD, fc as FC, mean as MEAN, mul as MUL
from .mm import groups, mm_arrays, rq_array

MAX_GATE = 4
GATE_TYPES = (f"#define OFA_SE_MAX_GATE {MAX_GATE}\n"
              "enum { OFA_GATE_MUL = 1, OFA_GATE_ADD = 2 };\n"
              "typedef struct {\n    int32_t op;\n    int8_t constant;\n    ofa_mul_params mul;\n"
              "    ofa_add_params add;\n} ofa_gate_step;\n")
SE_FIELDS = (("int32_t", "hw"), ("int32_t", "c"), ("int32_t", "c_mid"), ("ofa_mean_params", "mean"),
             ("ofa_fc_params", "reduce"), ("ofa_fc_params", "expand"), ("int32_t", "n_gate"),
             ("ofa_gate_step", f"gate[{MAX_GATE}]"), ("ofa_mul_params", "scale"))


def _pw_as_fc(l: Layer) -> dict:
    return dict(params={"in_n": l.params["in_c"], "mm": l.params["mm"]}, consts=dict(l.consts))


def fuse(layers: list[Layer], graph_in: int, graph_out: int, policy: str) -> list[Layer]:
    """Replace each squeeze-excite pattern by one se layer (in place on x)."""
    out = list(layers)
    for mean in [l for l in layers if l.kernel == "mean"]:
        x = mean.inputs[0]
        users = consumers(out, x)
        if len(users) != 2 or mean not in users or x == graph_in:
            continue
        chain, cur = [mean], mean
        ok = True
        for _ in range(2):
            nxt = consumers(out, cur.output)
            if len(nxt) != 1 or nxt[0].kernel != "conv1x1" or nxt[0].params["out_h"] != 1 \
                    or nxt[0].params["out_w"] != 1:
                ok = False
                break
            chain.append(nxt[0])
            cur = nxt[0]
        if not ok:
            continue
        gates = []
        final = None
        while True:
            nxt = consumers(out, cur.output)
            if len(nxt) != 1 or cur.output == graph_out:
                break
            n = nxt[0]
            if n.kernel in ("mul", "add") and "b" in n.consts and n.params["n_b"] == 1 and len(gates) < MAX_GATE:
                gates.append(n)
                chain.append(n)
                cur = n
                continue
            if n.kernel == "mul" and set(n.inputs) == {x, cur.output} and n.params["n_b"] == mean.params["c"] \
                    and n.inputs[0] == x and n.output != graph_out:
                final = n
            break
        if final is None:
            continue
        red, exp = _pw_as_fc(chain[1]), _pw_as_fc(chain[2])
        c, c_mid = mean.params["c"], chain[1].params["mm"]["out_c"]
        se = Layer(index=0, kernel="se", name=f"se {c}->{c_mid}->{c}", inputs=[x], output=x,
                   params=dict(hw=mean.params["hw"], c=c, c_mid=c_mid, mean=mean.params, reduce=red["params"],
                               expand=exp["params"], gate=[dict(kind=g.kernel, params=g.params,
                                                                constant=int(g.consts["b"][0])) for g in gates],
                               scale=final.params),
                   consts={"reduce_" + k: v for k, v in red["consts"].items()}
                   | {"expand_" + k: v for k, v in exp["consts"].items()}
                   | {f"gate{j}_{k}": v for j, g in enumerate(gates) for k, v in g.consts.items() if k != "b"}
                   | {"scale_" + k: v for k, v in final.consts.items()},
                   macs=sum(l.macs for l in chain) + final.macs,
                   ops=sorted(o for l in chain + [final] for o in l.ops))
        se.scratch_bytes = 8 * groups(max(c, c_mid)) + 3 * c + c_mid
        pos = out.index(mean)
        for l in chain + [final]:
            out.remove(l)
        out.insert(pos, se)
        for l in out:  # readers of the MUL's output now read x
            l.inputs = [x if i == final.output else i for i in l.inputs]
            l.overlap = {(x if k == final.output else k): v for k, v in l.overlap.items()}
    return out


def emit(l, cx):
    """``ofa_se(&p, x, scratch)``."""
    pre = f"l{l.index}"
    p = l.params
    decl = ""
    for part in ("reduce", "expand"):
        decl += mm_arrays({n: l.consts[f"{part}_{n}"] for n in ("weight", "rq")}, f"{pre}_{part}")
    gates = []
    for j, g in enumerate(p["gate"]):
        gc = {k[len(f"gate{j}_"):]: v for k, v in l.consts.items() if k.startswith(f"gate{j}_")}
        if g["kind"] == "mul":
            decl += rq_array(f"{pre}_g{j}_rq", gc["rq"])
            gates.append(f"{{.op = OFA_GATE_MUL, .constant = {g['constant']}, "
                         f".mul = {MUL.mul_init(g['params'], f'{pre}_g{j}')}}}")
        else:
            decl += ADD.add_arrays(gc, f"{pre}_g{j}")
            gates.append(f"{{.op = OFA_GATE_ADD, .constant = {g['constant']}, "
                         f".add = {ADD.add_init(g['params'], f'{pre}_g{j}')}}}")
    decl += rq_array(f"{pre}_scale_rq", l.consts["scale_rq"])
    gate_init = "{" + ", ".join(gates) + "}" if gates else "{{0}}"
    decl += (f"static const ofa_se_params {pre}_p = {{.hw = {p['hw']}, .c = {p['c']}, .c_mid = {p['c_mid']},\n"
             f"    .mean = {init(p['mean'], scalar_fields(MEAN.KERNEL))},\n"
             f"    .reduce = {FC.fc_init(p['reduce'], pre + '_reduce')},\n"
             f"    .expand = {FC.fc_init(p['expand'], pre + '_expand')},\n"
             f"    .n_gate = {len(gates)}, .gate = {gate_init},\n"
             f"    .scale = {MUL.mul_init(p['scale'], pre + '_scale')}}};\n")
    return decl, f"ofa_se(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.scratch)});"


def features(l) -> dict:
    """The SE role of the latency model."""
    p = l.params
    return {"se_macs": 2 * p["c"] * p["c_mid"], "se_elems": p["hw"] * p["c"]}


KERNEL = Kernel(name="se", c_file="se.c", fields=SE_FIELDS, c_types=GATE_TYPES, emit=emit, features=features,
                fuse=fuse, fuse_order=10, depends=("mean", "fc", "mul", "add", "mm"),
                prototype="void ofa_se(const ofa_se_params *p, int8_t *x, int8_t *scratch)",
                doc="squeeze-excite in place; scratch: FC columns, then 3 c + c_mid bytes")
