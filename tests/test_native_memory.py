"""Native memory plan: valid (no live buffers clash except where a kernel's write order
allows it), optimal on a small graph (equals an exhaustive search and the independent lower
bound), in-place depthwise, and the lifetime plot."""
from __future__ import annotations

import pytest

from codegen.native.graph import Buffer, Graph, Layer
from codegen.native.memory import check_plan, lifetimes, lower_bound, plan_memory

UNIT = 4


def _small_graph() -> Graph:
    """stem -> depthwise (in place) -> project -> expand -> project -> residual add -> fc,
    sizes in multiples of 4 bytes (one unit)."""
    sizes = {0: 3, 1: 6, 2: 6, 3: 2, 4: 8, 5: 2, 6: 2, 7: 1}
    bufs = {b: Buffer(b, f"t{b}", (s * UNIT,), s * UNIT, "act") for b, s in sizes.items()}
    bufs[0].kind, bufs[7].kind = "input", "output"
    bufs[8] = Buffer(8, "scratch1", (UNIT,), UNIT, "scratch")
    L = [
        Layer(0, "conv2d", "stem", [0], 1, {}, overlap={0: ("stream", 2 * UNIT)}),
        Layer(1, "dwconv", "dw", [1], 2, {}, overlap={1: ("same", 0)}, scratch=8, scratch_bytes=UNIT),
        Layer(2, "conv1x1", "project", [2], 3, {}, overlap={2: ("stream", -4 * UNIT)}),
        Layer(3, "conv1x1", "expand", [3], 4, {}, overlap={3: ("stream", 6 * UNIT)}),
        Layer(4, "conv1x1", "project", [4], 5, {}, overlap={4: ("stream", -6 * UNIT)}),
        Layer(5, "add", "add", [3, 5], 6, {}, overlap={3: ("stream", 0), 5: ("stream", 0)}),
        Layer(6, "fc", "fc", [6], 7, {}),
    ]
    return Graph(bufs, L, 0, 7, (1, 3 * UNIT), (1, UNIT), 1.0, 0, 1.0, 0)


def _allowed(o_out, s_out, o_in, s_in, rule) -> bool:
    if o_out + s_out <= o_in or o_in + s_in <= o_out:
        return True
    if rule is None:
        return False
    kind, d = rule
    return o_out == o_in if kind == "same" else o_out <= o_in - d


def _exhaustive_peak(g: Graph) -> int:
    """Smallest arena over every assignment of unit-aligned offsets (branch and bound),
    with its own reading of the overlap rules (independent of the planner)."""
    life = lifetimes(g)
    rule = {}
    for l in g.layers:
        for b, r in l.overlap.items():
            if life[b][1] == l.index and b != g.output:
                rule[(l.output, b)] = r
    ids = sorted(life, key=lambda b: -g.buffers[b].size)
    size = {b: g.buffers[b].size for b in ids}
    best = [sum(size.values())]

    def ok(b, o, placed):
        for c, oc in placed.items():
            if life[b][1] < life[c][0] or life[c][1] < life[b][0]:
                continue
            if (b, c) in rule:
                good = _allowed(o, size[b], oc, size[c], rule[(b, c)])
            elif (c, b) in rule:
                good = _allowed(oc, size[c], o, size[b], rule[(c, b)])
            else:
                good = o + size[b] <= oc or oc + size[c] <= o
            if not good:
                return False
        return True

    def rec(i, placed, peak):
        if peak >= best[0]:
            return
        if i == len(ids):
            best[0] = peak
            return
        b = ids[i]
        for o in range(0, best[0] - size[b] + 1, UNIT):
            if ok(b, o, placed):
                placed[b] = o
                rec(i + 1, placed, max(peak, o + size[b]))
                del placed[b]

    rec(0, {}, 0)
    return best[0]


def test_small_graph_plan_is_optimal_and_valid():
    g = _small_graph()
    plan = plan_memory(g)
    assert check_plan(g, plan) == []
    brute = _exhaustive_peak(g)
    assert plan.peak_bytes == brute == lower_bound(g)
    # the overlaps are what make it small: without them the arena could not be below the live peak
    assert plan.peak_bytes < max(plan.live_bytes())


def test_check_plan_catches_a_clash():
    g = _small_graph()
    plan = plan_memory(g)
    # move the residual input (live from layer 2 to 5) onto the expand output (layer 3 to 4)
    plan.offsets[3] = plan.offsets[4] + UNIT
    assert check_plan(g, plan)


def test_lifetimes_cover_input_to_end():
    g = _small_graph()
    life = lifetimes(g)
    assert life[0] == (0, 0) and life[7] == (6, 7) and life[3] == (2, 5) and life[8] == (1, 1)


@pytest.mark.slow
def test_depthwise_runs_in_place_and_plot(tmp_path):
    from codegen.native import emit_native, testmodels as tm

    model, shape = tm.mbconv_model(k=3, stride=1, hw=12, cin=8, expand=3, se=True, seed=4)
    res = emit_native(tm.convert(model, shape), tmp_path / "proj", board="qemu-mps2-an386", fuse="never", plot=True)
    g, plan = res.graph, res.plan
    dw = [l for l in g.layers if l.kernel == "dwconv"][0]
    assert plan.offsets[dw.output] == plan.offsets[dw.inputs[0]]  # written over its input
    assert check_plan(g, plan) == []
    assert plan.lower_bound <= plan.peak_bytes
    png = res.paths["memory_plan.png"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    live = plan.live_bytes()
    assert len(live) == len(g.layers) and max(live) >= plan.lower_bound
