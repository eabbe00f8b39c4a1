"""Accuracy predictor building blocks: encodings, pair parsing, split, metrics, model files."""
import json
import random

import numpy as np
import pytest
from scipy.stats import kendalltau

from ofa_mcu.config import FASHION_MNIST, VWW
from ofa_mcu.errors import UserError
from ofa_mcu.predictor import AccuracyPredictor, load_predictor
from ofa_mcu.predictor.metrics import regression_metrics
from ofa_mcu.predictor.pairs import index_digest, parse_pairs, split_indices
from ofa_mcu.predictor.recipes import get_recipe
from ofa_mcu.predictor.train import effective_epochs
from ofa_mcu.space import sample_arch
from ofa_mcu.space.batch import ArchBatch, sample_batch
from ofa_mcu.space.encoding import encode, features, features_reference, onehot, onehot_dim, onehot_reference


@pytest.mark.parametrize("cfg", [VWW, FASHION_MNIST])
def test_fast_encodings_equal_the_plain_ones(cfg):
    b = sample_batch(np.random.default_rng(1), 3000, cfg, wids=tuple(range(len(cfg.width_mult_list))))
    assert np.array_equal(onehot(b, cfg), onehot_reference(b, cfg))
    assert np.array_equal(features(b, cfg), features_reference(b, cfg))  # bit-identical: shipped models
    assert onehot(b, cfg).shape == (3000, onehot_dim(cfg))
    assert features(b, cfg).dtype == np.float32
    b.image_size[:7] = 999  # not a resolution of the space: no resolution bit set, like the plain form
    assert np.array_equal(onehot(b, cfg), onehot_reference(b, cfg))
    assert np.array_equal(features(b, cfg), features_reference(b, cfg))


def test_onehot_is_the_labs_128_layout():
    arch = sample_arch(random.Random(3))
    x = encode([arch], VWW, "onehot")[0]
    assert x.shape == (128,) and x.dtype == np.float32
    assert x[:5].tolist() == [float(r == arch["image_size"]) for r in VWW.resolutions]
    assert x[5:8].tolist() == [float(w == arch["wid"]) for w in range(3)]
    act = ArchBatch.from_dicts([arch]).active(VWW)[0]
    ks = x[8:68].reshape(20, 3)
    assert ks.sum(axis=1).tolist() == act.astype(float).tolist()
    for slot in np.flatnonzero(act):
        assert ks[slot, VWW.ks_list.index(arch["ks"][slot])] == 1.0
    assert features(ArchBatch.from_dicts([arch]), VWW)[0, :128].tolist() == x.tolist()


def _pair():
    return [sample_arch(random.Random(0)), 88.5]


@pytest.mark.parametrize("data, message", [
    ({"a": 1}, "expected a JSON list of [arch_dict, top1_percent] pairs"),
    ([], "the pair list is empty"),
    ([[1, 2, 3]], "pair #0 is not a two-element list"),
    ([_pair(), [dict(_pair()[0], wid=7), 88.0]], "pair #1: arch field 'wid' = 7"),
    ([[_pair()[0], "88"]], "accuracy '88' is not a number in [0, 100]"),
    ([[_pair()[0], 130.0]], "accuracy 130.0 is not a number in [0, 100]"),
    ([[_pair()[0], 0.9]] * 12, "looks like fractions"),
])
def test_bad_pairs_are_one_line_user_errors(data, message):
    with pytest.raises(UserError) as exc:
        parse_pairs(data, VWW, "f.json")
    assert message in str(exc.value) and str(exc.value).startswith("f.json")
    assert "\n" not in str(exc.value)


def test_split_is_seeded_disjoint_and_complete():
    tr, va = split_indices(1000, 0.2, 5)
    assert len(va) == 200 and len(tr) == 800
    assert np.array_equal(np.sort(np.concatenate([tr, va])), np.arange(1000))
    tr2, va2 = split_indices(1000, 0.2, 5)
    assert np.array_equal(va, va2) and index_digest(va) == index_digest(va2)
    assert index_digest(split_indices(1000, 0.2, 6)[1]) != index_digest(va)
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(UserError, match="--val-fraction"):
            split_indices(1000, bad, 0)
    with pytest.raises(UserError, match="too few"):
        split_indices(2, 0.2, 0)


def test_metrics_match_scipy_and_hand_arithmetic():
    rng = np.random.default_rng(0)
    true = rng.normal(90, 1, 600)
    pred = true + rng.normal(0, 0.3, 600)
    res = np.repeat([96, 128, 160], 200)
    m = regression_metrics(pred, true, res)
    assert m["mae"] == pytest.approx(np.mean(np.abs(pred - true)))
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((pred - true) ** 2)))
    assert m["kendall_tau"] == pytest.approx(kendalltau(pred, true).statistic)
    assert set(m["kendall_tau_by_resolution"]) == {"96", "128", "160"}
    taus = [kendalltau(pred[res == r], true[res == r]).statistic for r in (96, 128, 160)]
    assert m["kendall_tau_by_resolution"]["128"] == pytest.approx(taus[1])
    assert m["mean_kendall_tau_within_resolution"] == pytest.approx(np.mean(taus))
    perfect = regression_metrics(true, true, res)
    assert perfect["mae"] == 0 and perfect["kendall_tau"] == pytest.approx(1.0)
    json.dumps(m, allow_nan=False)  # strict JSON
    const = regression_metrics(np.full(600, 90.0), true, res)  # a constant predictor ranks nothing
    assert const["kendall_tau"] is None and const["mean_kendall_tau_within_resolution"] is None
    json.dumps(const, allow_nan=False)


def test_small_data_gets_a_minimum_number_of_steps():
    lab = get_recipe("lab").model
    assert effective_epochs(lab, 40_000) == 10  # the lab's recipe, unchanged on its own data
    assert effective_epochs(lab, 500) * 2 >= lab.min_steps  # 2 steps per epoch on 500 pairs
    default = get_recipe("default").model
    assert effective_epochs(default, 800) * 4 >= default.min_steps


def test_model_files_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    dim = features(sample_batch(rng, 1, FASHION_MNIST), FASHION_MNIST).shape[1]
    layers = [(rng.standard_normal((dim, 16)).astype(np.float32), rng.standard_normal(16).astype(np.float32)),
              (rng.standard_normal((16, 1)).astype(np.float32), np.zeros(1, np.float32))]
    p = AccuracyPredictor(layers, "features", FASHION_MNIST, 0.7, 88.0, meta={"recipe": {"name": "x"}},
                          skip=rng.standard_normal(dim).astype(np.float32))
    p.save(tmp_path / "m")
    q = load_predictor(tmp_path / "m")
    assert q.space == FASHION_MNIST and q.encoding == "features" and q.meta == p.meta
    b = sample_batch(rng, 500, FASHION_MNIST)
    assert np.array_equal(p.predict_batch(b), q.predict_batch(b))
    assert q.predict_batch(b).dtype == np.float64
    arch = b.take([3]).to_dicts()[0]
    assert q.predict(arch) == pytest.approx(q.predict_batch(b)[3])
    # the numpy forward pass is the plain formula
    x = features(b, FASHION_MNIST).astype(np.float64)
    h = np.maximum(x @ layers[0][0] + layers[0][1], 0)
    ref = ((h @ layers[1][0])[:, 0] + x @ p.skip) * 0.7 + 88.0
    assert np.allclose(q.predict_batch(b), ref, atol=1e-3)
    with pytest.raises(UserError, match="expects 3 encoding columns"):
        AccuracyPredictor([(np.ones((3, 1), np.float32), None)], "features", FASHION_MNIST).predict_batch(b)


def test_load_predictor_errors(tmp_path):
    with pytest.raises(UserError, match="no predictor 'nope'"):
        load_predictor("nope")
    (tmp_path / "model.json").write_text('{"format": "other"}')
    with pytest.raises(UserError, match="is not an ofa-mcu accuracy predictor"):
        load_predictor(tmp_path)
