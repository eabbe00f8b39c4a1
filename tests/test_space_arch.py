"""Arch dicts: validation errors, canonical form, sampling and variation."""
import random

import numpy as np
import pytest

from ofa_mcu.config import FASHION_MNIST, VWW, SpaceConfig
from ofa_mcu.errors import UserError
from ofa_mcu.space import (active_slots, arch_key, canonical, crossover, largest_arch, mutate, sample_arch,
                           smallest_arch, validate_arch)
from ofa_mcu.space.arch import sample_arch_spread
from ofa_mcu.space.batch import (ArchBatch, crossover_batch, mutate_batch, sample_batch, sample_batch_spread,
                               shrink_batch)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update(ks=a["ks"][:19]), "has 19 entries; this space needs 20"),
    (lambda a: a["e"].__setitem__(4, 5), "e[4] = 5 is not in the space; choose one of [3, 4, 6]"),
    (lambda a: a.update(image_size=100), "'image_size' = 100 is not a resolution"),
    (lambda a: a.update(wid=3), "'wid' = 3 is not a width index"),
    (lambda a: a.pop("d"), "missing ['d']"),
    (lambda a: a.update(depth=[1]), "unknown keys ['depth']"),
    (lambda a: a["ks"].__setitem__(0, "3"), "ks[0] = '3' is not an int"),
])
def test_validate_rejects_with_one_line_message(change, message):
    arch = sample_arch(random.Random(0))
    change(arch)
    with pytest.raises(UserError) as exc:
        validate_arch(arch)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_canonical_ignores_skipped_slots():
    a = smallest_arch()  # one block in stage 1: slots 1 and 2 are skipped
    b = dict(a, ks=list(a["ks"]), e=list(a["e"]), d=list(a["d"]))
    b["ks"][1], b["e"][2], b["d"][5] = 7, 6, 2
    assert a != b
    assert canonical(a) == canonical(b)
    assert arch_key(a) == arch_key(b)
    b["ks"][0] = 7  # slot 0 runs: now a different network
    assert arch_key(a) != arch_key(b)


def test_active_slots_follow_depth():
    arch = smallest_arch()
    arch["d"] = [2, 0, 1, 0, 0, 0]
    act = active_slots(arch)
    assert act[:3] == [True, True, True]          # stage 1: base 1 + 2
    assert act[3:7] == [True, True, False, False]  # stage 2: base 2
    assert act[7:11] == [True, True, True, False]  # stage 3: base 2 + 1
    assert act[19] is True                        # stage 6 always runs
    assert sum(act) == 3 + 2 + 3 + 2 + 2 + 1


def test_sampling_mutation_crossover_stay_in_space():
    rng = random.Random(1)
    for _ in range(200):
        a, b = sample_arch(rng), sample_arch(rng)
        validate_arch(mutate(a, rng, prob=0.5))
        validate_arch(crossover(a, b, rng))
    assert validate_arch(largest_arch())["wid"] == 2
    # the lab draws only widths 0.5 and 0.75 in the VWW space
    assert {sample_arch(rng)["wid"] for _ in range(100)} == {0, 1}


def _size_index(batch: ArchBatch, cfg) -> np.ndarray:
    """Per arch: the mean position (0 smallest .. 1 largest) of its kernel, expand and depth choices."""
    pos = [np.searchsorted(sorted(opts), getattr(batch, name)) / (len(opts) - 1)
           for name, opts in (("ks", cfg.ks_list), ("e", cfg.expand_ratio_list), ("d", cfg.depth_list))]
    return np.concatenate(pos, axis=1).mean(axis=1)


def test_spread_sampler_covers_the_sizes_uniform_sampling_bunches():
    """Uniform draws average twenty slots into middle sizes; spread draws reach both ends, and the
    scalar and vectorized spread samplers draw the same distribution."""
    cfg = FASHION_MNIST
    rng = random.Random(0)
    spread = [sample_arch_spread(rng, cfg) for _ in range(3000)]
    assert spread[:5] == [sample_arch_spread(r, cfg) for r in [random.Random(0)] for _ in range(5)]
    for a in spread[:50]:
        validate_arch(a, cfg)
    scalar = _size_index(ArchBatch.from_dicts(spread, cfg), cfg)
    vector = _size_index(sample_batch_spread(np.random.default_rng(0), 3000, cfg), cfg)
    uniform = _size_index(sample_batch(np.random.default_rng(0), 3000, cfg), cfg)
    assert abs(scalar.mean() - 0.5) < 0.03 and abs(vector.mean() - 0.5) < 0.03
    assert abs(scalar.std() - vector.std()) < 0.02
    assert scalar.std() > 3 * uniform.std()  # about 0.30 against 0.08
    for sizes in (scalar, vector):
        assert (sizes < 0.1).mean() > 0.05 and (sizes > 0.9).mean() > 0.05
    assert (uniform < 0.1).mean() < 0.001 and (uniform > 0.9).mean() < 0.001
    wids = ArchBatch.from_dicts(spread, cfg).wid
    assert set(np.unique(wids)) == set(cfg.sample_wids)
    assert set(sample_batch_spread(np.random.default_rng(1), 200, cfg, wids=(1,)).wid) == {1}
    assert {a["image_size"] for a in spread} == set(cfg.resolutions)


def test_mutation_probability_is_respected():
    rng = random.Random(2)
    a = sample_arch(rng)
    changed = sum(m != o for _ in range(500) for m, o in zip(mutate(a, rng, prob=0.1)["ks"], a["ks"]))
    # a gene is redrawn with p=0.1 and keeps its value 1/3 of the time: 500*20*0.1*2/3 = 667
    assert 500 < changed < 850


def test_batch_roundtrip_and_vectorized_variation():
    rng = np.random.default_rng(0)
    b = sample_batch(rng, 300)
    archs = b.to_dicts()
    assert ArchBatch.from_dicts(archs).to_dicts() == archs
    for out in (mutate_batch(b, rng, prob=0.3), crossover_batch(b, sample_batch(rng, 300), rng),
                shrink_batch(b, rng)):
        for a in out.to_dicts():
            validate_arch(a)
    keys = b.keys()
    assert [tuple(k) for k in keys[:20]] == [
        (c["wid"], *c["ks"], *c["e"], *c["d"], c["image_size"]) for c in (canonical(a) for a in archs[:20])]


def test_shrinking_reaches_the_smallest_arch():
    rng = np.random.default_rng(0)
    b = sample_batch(rng, 50)
    for _ in range(60):
        b = shrink_batch(b, rng, prob=0.3)
    small = ArchBatch.from_dicts([smallest_arch()] * 50).keys()
    assert (b.keys()[:, :-1] == small[:, :-1]).all()


def test_config_roundtrip_and_fashion_mnist_space():
    assert SpaceConfig.from_dict(VWW.to_dict()) == VWW
    assert FASHION_MNIST.n_classes == 10 and FASHION_MNIST.in_channels == 1
    validate_arch(sample_arch(random.Random(0), FASHION_MNIST), FASHION_MNIST)
    with pytest.raises(UserError, match="unknown space config keys"):
        SpaceConfig.from_dict({"nope": 1})
