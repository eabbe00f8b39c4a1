"""Static memory plan: every activation and scratch buffer gets an offset in one arena.

Lifetimes run over the layer order (the input is live from the start, the output to the
end, a scratch buffer only during its layer). Offsets are assigned greedily (several
orderings, first fit at the lowest valid offset, the best plan wins) under each layer's
overlap rule: an output may share bytes with an input that dies in that layer when the
kernel's write order allows it (in-place depthwise and elementwise ops, row-streamed convs).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from ofa_mcu.errors import UserError

from .graph import Graph, combined_bytes as _combined

ALIGN = 4


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class MemoryPlan:
    """Offsets of every buffer in the arena, with the lifetimes they were planned from."""

    offsets: dict[int, int]
    sizes: dict[int, int]
    lifetimes: dict[int, tuple[int, int]]
    names: dict[int, str]
    kinds: dict[int, str]
    peak_bytes: int
    lower_bound: int
    n_layers: int
    strategy: str = ""
    overlaps: dict = field(default_factory=dict)  # layer index -> True when its output overlaps its input

    def live_bytes(self) -> list[int]:
        """Sum of live buffer sizes at each layer (before overlap credit)."""
        return [sum(s for b, s in self.sizes.items() if self.lifetimes[b][0] <= i <= self.lifetimes[b][1])
                for i in range(self.n_layers)]

    def plot(self, path, title: str | None = None) -> None:
        """Draw the plan: one rectangle per buffer, x = layer index, y = arena offset."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle

        from ofa_mcu.io import atomic_write_bytes
        import io

        colors = {"input": "tab:green", "output": "tab:red", "act": "tab:blue", "scratch": "tab:orange"}
        fig, ax = plt.subplots(figsize=(max(6.0, 0.25 * self.n_layers + 3), 4.5))
        for b, off in self.offsets.items():
            first, last = self.lifetimes[b]
            ax.add_patch(Rectangle((first - 0.45, off / 1024), last - first + 0.9, self.sizes[b] / 1024,
                                   facecolor=colors.get(self.kinds[b], "tab:gray"), edgecolor="black",
                                   linewidth=0.4, alpha=0.55))
        ax.axhline(self.peak_bytes / 1024, color="black", linestyle="--", linewidth=0.8)
        ax.set_xlim(-1, self.n_layers + 1)
        ax.set_ylim(0, self.peak_bytes / 1024 * 1.08 + 0.1)
        ax.set_xlabel("layer index")
        ax.set_ylabel("arena offset (KiB)")
        ax.set_title(title or f"native memory plan: peak {self.peak_bytes:,} B (lower bound {self.lower_bound:,} B)")
        handles = [Rectangle((0, 0), 1, 1, facecolor=c, alpha=0.55, edgecolor="black") for c in colors.values()]
        ax.legend(handles, list(colors), loc="upper right", fontsize=8)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120)
        plt.close(fig)
        atomic_write_bytes(path, buf.getvalue())


def lifetimes(graph: Graph) -> dict[int, tuple[int, int]]:
    """``buffer id -> (first layer, last layer)`` over the layer order, inclusive."""
    n = len(graph.layers)
    first: dict[int, int] = {graph.input: 0}
    last: dict[int, int] = {graph.output: n}
    for l in graph.layers:
        first.setdefault(l.output, l.index)
        for b in l.inputs + [l.output]:
            last[b] = max(last.get(b, 0), l.index)
        if l.scratch is not None:
            first[l.scratch] = last[l.scratch] = l.index
    return {b: (first[b], last[b]) for b in first}


def _rules(graph: Graph, life: dict) -> dict[tuple[int, int], tuple]:
    """``(output, input) -> rule`` for inputs that die in the layer producing the output."""
    rules = {}
    for l in graph.layers:
        if l.output in l.inputs:
            continue
        for b, rule in l.overlap.items():
            if b != graph.output and b in life and life[b][1] == l.index:
                rules[(l.output, b)] = rule
    return rules


def _ok(o_x: int, s_x: int, o_y: int, s_y: int, rule_xy, x_is_out: bool) -> bool:
    if o_x + s_x <= o_y or o_y + s_y <= o_x:
        return True
    if rule_xy is None:
        return False
    kind, d = rule_xy
    o_out, o_in = (o_x, o_y) if x_is_out else (o_y, o_x)
    return o_out == o_in if kind == "same" else o_out <= o_in - d


def _place(order: list[int], sizes, life, rules) -> dict[int, int]:
    placed: dict[int, int] = {}
    for x in order:
        fx, lx = life[x]
        conflicts = [y for y in placed if life[y][0] <= lx and fx <= life[y][1]]
        cands = {0}
        for y in conflicts:
            cands.add(placed[y] + sizes[y])
            for key, as_out in (((x, y), True), ((y, x), False)):
                r = rules.get(key)
                if r is not None:
                    kind, d = r
                    c = placed[y] if kind == "same" else (placed[y] - d if as_out else placed[y] + d)
                    # every buffer starts word-aligned (kernels load words; LDRD needs it): a
                    # streamed output may only move down, its input only up
                    c = c // ALIGN * ALIGN if as_out else -(-c // ALIGN) * ALIGN
                    if c >= 0:
                        cands.add(c)
        for c in sorted(cands):
            if all(_ok(c, sizes[x], placed[y], sizes[y], rules.get((x, y)) or rules.get((y, x)), (x, y) in rules)
                   for y in conflicts):
                placed[x] = c
                break
    return placed


def lower_bound(graph: Graph, life=None, sizes=None) -> int:
    """An independent lower bound on any plan: at each layer, the live bytes minus the best
    overlap credit one output/dying-input pair of that layer can take, plus its scratch."""
    life = life or lifetimes(graph)
    sizes = sizes or {b: graph.buffers[b].size for b in life}
    rules = _rules(graph, life)
    best = 0
    for l in graph.layers:
        live = sum(s for b, s in sizes.items() if life[b][0] <= l.index <= life[b][1])
        credit = 0
        for (o, i), r in rules.items():
            if o == l.output:
                credit = max(credit, sizes[o] + sizes[i] - _combined(sizes[i], sizes[o], r))
        best = max(best, live - credit)
    return best


def _improve(best, sizes, life, rules, lb: int, iters: int):
    """Local search over placement orders (seeded, so plans are reproducible): move a buffer
    that touches the peak, or a random one, earlier; keep the order when the peak drops.
    Stops at the lower bound."""
    rng = random.Random(0)
    peak, name, placed, order = best
    for it in range(iters):
        if peak <= lb:
            break
        cand = list(order)
        top = [b for b in cand if placed[b] + sizes[b] == peak]
        b = rng.choice(top) if top and rng.random() < 0.6 else rng.choice(cand)
        i = cand.index(b)
        cand.insert(rng.randrange(i + 1), cand.pop(i))
        p2 = _place(cand, sizes, life, rules)
        pk = max(p2[x] + sizes[x] for x in p2)
        if pk <= peak:
            if pk < peak:
                name = f"{best[1]}+search"
            peak, placed, order = pk, p2, cand
    return peak, name, placed, order


def plan_memory(graph: Graph, search_iters: int = 200) -> MemoryPlan:
    """Assign arena offsets to every buffer of ``graph``: the best of several greedy orders,
    then a seeded local search over orders (``search_iters`` steps, stopping at the lower
    bound)."""
    life = lifetimes(graph)
    sizes = {b: _align(graph.buffers[b].size) for b in life}
    rules = _rules(graph, life)
    orders = {
        "size": sorted(life, key=lambda b: (-sizes[b], life[b][0])),
        "size*time": sorted(life, key=lambda b: (-sizes[b] * (life[b][1] - life[b][0] + 1), life[b][0])),
        "first": sorted(life, key=lambda b: (life[b][0], -sizes[b])),
        "longest": sorted(life, key=lambda b: (-(life[b][1] - life[b][0]), -sizes[b])),
        # outputs before their inputs: a streamed output sits below its input, so placing the
        # later buffer first lets the earlier one go above it at the kernel's distance
        "reverse": sorted(life, key=lambda b: (-life[b][1], -life[b][0], -sizes[b])),
        "size-reverse": sorted(life, key=lambda b: (-sizes[b], -life[b][0])),
    }
    lb = lower_bound(graph, life, sizes)
    best = None
    for name, order in orders.items():
        placed = _place(order, sizes, life, rules)
        peak = max(placed[b] + sizes[b] for b in placed)
        if best is None or peak < best[0]:
            best = (peak, name, placed, order)
    peak, name, placed, order = _improve(best, sizes, life, rules, lb, search_iters)
    if len(placed) != len(life):
        raise UserError("memory planning failed to place every buffer; report this model")
    overlaps = {}
    for l in graph.layers:
        o = placed[l.output]
        overlaps[l.index] = any(not (o + sizes[l.output] <= placed[b] or placed[b] + sizes[b] <= o)
                                for b in l.inputs if b != l.output)
    return MemoryPlan(placed, sizes, life, {b: graph.buffers[b].name for b in life},
                      {b: graph.buffers[b].kind for b in life}, peak, lb,
                      len(graph.layers), name, overlaps)


def check_plan(graph: Graph, plan: MemoryPlan) -> list[str]:
    """Independent validity check: every buffer starts word-aligned and every pair of buffers
    live at the same time is disjoint unless the layer's overlap rule allows the overlap.
    Returns the violations."""
    rules = _rules(graph, plan.lifetimes)
    bad = [f"{plan.names[b]} starts at {o}, not on a {ALIGN}-byte boundary" for b, o in plan.offsets.items()
           if o % ALIGN]
    ids = list(plan.offsets)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            la, lb = plan.lifetimes[a], plan.lifetimes[b]
            if la[1] < lb[0] or lb[1] < la[0]:
                continue
            oa, ob, sa, sb = plan.offsets[a], plan.offsets[b], plan.sizes[a], plan.sizes[b]
            if oa + sa <= ob or ob + sb <= oa:
                continue
            if (a, b) in rules and _ok(oa, sa, ob, sb, rules[(a, b)], True):
                continue
            if (b, a) in rules and _ok(ob, sb, oa, sa, rules[(b, a)], True):
                continue
            bad.append(f"{plan.names[a]} [{oa},{oa + sa}) overlaps {plan.names[b]} [{ob},{ob + sb})")
    return bad
