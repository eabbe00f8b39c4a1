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
from ofa_mcu.predictor.pairs import index_digest, parse_pairs, split_by_file, split_indices
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


def test_split_by_file_holds_out_each_file_in_proportion():
    """One file splits exactly as split_indices; two files each hold out their own fifth, the
    first file's part unchanged by the second file's presence."""
    one = np.zeros(1000, dtype=np.int64)
    assert all(np.array_equal(a, b) for a, b in zip(split_by_file(one, 0.2, 5), split_indices(1000, 0.2, 5)))
    two = np.array([0] * 600 + [1] * 300)
    tr, va = split_by_file(two, 0.2, 5)
    assert np.array_equal(np.sort(np.concatenate([tr, va])), np.arange(900))
    assert (two[va] == 0).sum() == 120 and (two[va] == 1).sum() == 60
    assert np.array_equal(va[va < 600], split_indices(600, 0.2, 5)[1])
    assert np.array_equal(va[va >= 600] - 600, split_indices(300, 0.2, 5)[1])
    with pytest.raises(UserError, match="too small to hold out 0.2 of each"):
        split_by_file(np.arange(12) // 2, 0.2, 0)  # six files of two pairs: none holds one out


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


# ---- damaged predictor folders: one-line UserErrors at load, never a traceback later ----------
def _shipped_copy(tmp_path):
    """A copy of the shipped Fashion-MNIST predictor's model files in ``tmp_path/p``."""
    import shutil

    from ofa_mcu.predictor.model import PREDICTORS

    out = tmp_path / "p"
    out.mkdir()
    for name in ("model.json", "model.npz"):
        shutil.copy(PREDICTORS / "fashion_mnist" / name, out / name)
    return out


def _edit_json(change):
    def edit(d):
        spec = json.loads((d / "model.json").read_text())
        change(spec)
        (d / "model.json").write_text(json.dumps(spec))
    return edit


def _edit_npz(change):
    def edit(d):
        with np.load(d / "model.npz") as z:
            arrays = dict(z)
        change(arrays)
        np.savez(d / "model.npz", **arrays)
    return edit


def _write_npz(data: bytes):
    def edit(d):
        (d / "model.npz").write_bytes(data(d) if callable(data) else data)
    return edit


DAMAGE = {
    "npz truncated": (_write_npz(lambda d: (d / "model.npz").read_bytes()[:500]), "BadZipFile"),
    "npz empty": (_write_npz(b""), "EOFError"),
    "npz a single array": (lambda d: np.save(d / "model.npz.npy", np.zeros(3)) or
                           (d / "model.npz.npy").rename(d / "model.npz"), "a single array"),
    "n_layers 0": (_edit_json(lambda s: s.update(n_layers=0)), "n_layers is 0, not an integer in [1, 10,000]"),
    "n_layers a string": (_edit_json(lambda s: s.update(n_layers="3")), "n_layers is '3'"),
    "n_layers too few": (_edit_json(lambda s: s.update(n_layers=2)), "records 2 layers but model.npz holds W0, W1, W2"),
    "W2 missing": (_edit_npz(lambda a: a.pop("W2")), "records 3 layers but model.npz holds W0, W1"),
    "W1 wrong shape": (_edit_npz(lambda a: a.update(W1=np.zeros((5, 7), np.float32))),
                       "W1 has shape (5, 7), expected (128, m)"),
    "W0 not the encoding's width": (_edit_npz(lambda a: a.update(W0=a["W0"][:-1])),
                                    "W0 has shape (197, 128), expected (198, m), one row per encoding column"),
    "last layer two outputs": (_edit_npz(lambda a: a.update(W2=np.zeros((128, 2), np.float32))),
                               "b2 has shape (1,), expected (2,)"),
    "b0 wrong shape": (_edit_npz(lambda a: a.update(b0=a["b0"][:5])), "b0 has shape (5,), expected (128,)"),
    "skip wrong shape": (_edit_npz(lambda a: a.update(skip=a["skip"][:3])), "skip has shape (3,), expected (198,)"),
    "NaN weight": (_edit_npz(lambda a: a["W1"].__setitem__((0, 0), np.nan)), "W1 holds non-finite values"),
    "string weights": (_edit_npz(lambda a: a.update(b1=np.array(["x"] * 128))), "b1 holds <U1 values"),
    "target_scale NaN": (_edit_json(lambda s: s.update(target_scale=float("nan"))),
                         "target_scale is nan, not a finite number"),
    "target_scale 0": (_edit_json(lambda s: s.update(target_scale=0)), "target_scale is 0, not a finite number > 0"),
    "b2 missing": (_edit_npz(lambda a: a.pop("b2")), "lacks b2 (the other layers have biases)"),
    "target_shift infinite": (_edit_json(lambda s: s.update(target_shift=float("inf"))), "target_shift is inf"),
    "target_shift missing": (_edit_json(lambda s: s.pop("target_shift")), "lacks 'target_shift'"),
    "encoding unknown": (_edit_json(lambda s: s.update(encoding="nope")), "unknown encoding 'nope'"),
    "activation unknown": (_edit_json(lambda s: s.update(activation="tanh")), "unknown activation 'tanh'"),
    "space a list": (_edit_json(lambda s: s.update(space=[1])), "'space' is not a space config"),
    "space keys unknown": (_edit_json(lambda s: s["space"].update(bogus=1)), "the space config is unusable"),
    "meta a list": (_edit_json(lambda s: s.update(meta=[])), "'meta' is a JSON list, not an object"),
    "metrics a list": (_edit_json(lambda s: s["meta"].update(metrics=[1, 2])), "meta.metrics is a JSON list"),
    "mae a string": (_edit_json(lambda s: s["meta"]["metrics"].update(mae="0.1")),
                     "meta.metrics.mae is '0.1', not a finite number"),
    "mae negative": (_edit_json(lambda s: s["meta"]["metrics"].update(mae=-1)), "meta.metrics.mae is -1"),
    "nested metric NaN": (_edit_json(lambda s: s["meta"]["metrics"]["kendall_tau_by_resolution"].update({"32": "x"})),
                          "meta.metrics.kendall_tau_by_resolution.32 is 'x'"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_predictor_folder_is_a_one_line_error_at_load(tmp_path, case):
    damage, message = DAMAGE[case]
    d = _shipped_copy(tmp_path)
    load_predictor(d)  # the copy itself loads
    damage(d)
    with pytest.raises(UserError) as exc:
        load_predictor(d)
    text = str(exc.value)
    assert text.startswith(f"predictor in {str(d)!r} is damaged (") and "\n" not in text
    assert text.endswith("re-run 'ofa-mcu predictor fit'") and message in text, text


def test_layers_that_do_not_chain_are_refused_at_construction():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 4)).astype(np.float32)
    for layers, message in (([], "no layers"), ([(W, None)], "the last layer has 4 outputs"),
                            ([(W, None), (np.ones((5, 1), np.float32), None)], "W1 has shape (5, 1), expected (4, m)")):
        with pytest.raises(UserError, match="do not form an MLP") as exc:
            AccuracyPredictor(layers, "features", FASHION_MNIST)
        assert message in str(exc.value)
    with pytest.raises(UserError, match=r"skip has shape \(2,\), expected \(3,\)"):
        AccuracyPredictor([(np.ones((3, 1), np.float32), None)], "features", FASHION_MNIST, skip=np.ones(2))


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("pairs_digest"), "meta.data lacks 'pairs_digest'"),
    (lambda d: d.update(files="a.json"), "meta.data.files is 'a.json', not a list of file names"),
    (lambda d: d.update(val_fraction=1.5), "meta.data.val_fraction is 1.5, not a finite number in (0, 1)"),
    (lambda d: d.update(seed=-1), "meta.data.seed is -1, not an integer in [0, 4,294,967,295]"),
    (lambda d: d.update(val_digest=None), "meta.data.val_digest is None, not a digest string"),
    (lambda d: d.update(split="shuffle"), "meta.data.split is 'shuffle', not one of random, by_file"),
])
def test_damaged_split_record_is_a_one_line_error(change, message):
    from ofa_mcu.predictor.fit import held_out, split_record

    pred = load_predictor("fashion_mnist")
    assert split_record(pred)["n_val"] == 326
    data = dict(pred.meta["data"])
    change(data)
    pred.meta["data"] = data
    with pytest.raises(UserError) as exc:
        held_out(pred, None)  # refused before the pairs are looked at
    text = str(exc.value)
    assert message in text and "evaluate without --held-out" in text and "\n" not in text
    pred.meta["data"] = [1]
    with pytest.raises(UserError, match="meta.data is a JSON list"):
        split_record(pred)


# ---- pair files: each file once, each network once ------------------------------------------
def _pair_file(path, archs, acc=88.0):
    path.write_text(json.dumps([[a, acc + 0.01 * i] for i, a in enumerate(archs)]))
    return path


def _distinct_archs(n, cfg=VWW):
    b = sample_batch(np.random.default_rng(5), n, cfg)
    assert len(np.unique(b.keys(cfg), axis=0)) == n
    return b.to_dicts()


def test_the_same_pair_file_twice_is_refused(tmp_path):
    from ofa_mcu.predictor import load_pairs

    f = _pair_file(tmp_path / "f.json", _distinct_archs(12))
    assert len(load_pairs([f], VWW)) == 12
    with pytest.raises(UserError) as exc:
        load_pairs([f, f], VWW)
    assert str(exc.value).startswith(f"pair file {str(f)!r} is given twice; give each file once")
    (tmp_path / "link.json").symlink_to(f)
    with pytest.raises(UserError, match=r"'.*link.json' is given twice \(also as '.*f.json'\)"):
        load_pairs([f, tmp_path / "link.json"], VWW)


def test_a_network_measured_twice_is_refused(tmp_path):
    from ofa_mcu.predictor import load_pairs

    archs = _distinct_archs(12)
    a = _pair_file(tmp_path / "a.json", archs[:6])
    b = _pair_file(tmp_path / "b.json", archs[6:] + [archs[2]])
    with pytest.raises(UserError) as exc:
        load_pairs([a, b], VWW)
    text = str(exc.value)
    assert text.startswith(f"{b}: pair #6 measures the same network as pair #2 of {a}; give each arch once")
    assert "\n" not in text
    # the same network in another spelling (a skipped slot's choices differ): the canonical form decides
    twin = dict(archs[0], d=[0] * VWW.n_depth)
    other = dict(twin, ks=list(twin["ks"]))
    skipped = next(i for i in range(VWW.n_slots) if not ArchBatch.from_dicts([twin]).active(VWW)[0][i])
    other["ks"][skipped] = 7 if twin["ks"][skipped] != 7 else 3
    c = _pair_file(tmp_path / "c.json", [twin, other])
    with pytest.raises(UserError, match=r"c.json: pair #1 measures the same network as pair #0;"):
        load_pairs([c], VWW)
