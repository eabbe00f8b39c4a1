"""Data layer: splits, preprocessing, Fashion-MNIST (the real Debian files), loaders, image folders."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ofa_mcu.data import (
    Augment,
    ImageFolderDataset,
    Preprocess,
    evenly_spaced,
    get_dataset,
    interleaved_split,
    make_loader,
    normalize,
    resize_batch,
    scan_image_folder,
)
from ofa_mcu.data import fashion_mnist as fm
from ofa_mcu.errors import UserError

FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


# ---- splits -------------------------------------------------------------------------------
def test_interleaved_split_is_the_labs_every_second_image_rule():
    kept, held = interleaved_split(7)
    assert held.tolist() == [1, 3, 5]  # the lab's split=1 holdout
    assert kept.tolist() == [0, 2, 4, 6]  # the lab's split=0 real validation
    kept6, held6 = interleaved_split(60000, 6, 5)
    assert len(held6) == 10000 and len(kept6) == 50000
    assert np.intersect1d(kept6, held6).size == 0
    assert np.array_equal(np.sort(np.concatenate([kept6, held6])), np.arange(60000))
    with pytest.raises(UserError):
        interleaved_split(10, 1, 0)
    with pytest.raises(UserError):
        interleaved_split(10, 2, 2)


def test_evenly_spaced_covers_class_sorted_data():
    labels = np.repeat(np.arange(4), 25)  # class-sorted, like an ImageFolder
    idx = evenly_spaced(100, 8)
    assert len(set(idx.tolist())) == 8 and idx.max() < 100
    assert np.bincount(labels[idx], minlength=4).tolist() == [2, 2, 2, 2]
    assert evenly_spaced(5, 10).tolist() == [0, 1, 2, 3, 4]
    assert evenly_spaced(5, 0).size == 0


# ---- preprocessing ------------------------------------------------------------------------
def test_preprocess_round_trip_and_validation():
    p = Preprocess(resolution=40, channels=1, mean=(0.286,), std=(0.353,), source_size=28)
    d = p.to_dict()
    assert d == {"resolution": 40, "channels": 1, "mean": [0.286], "std": [0.353], "interpolation": "bilinear", "source_size": 28}
    assert Preprocess.from_dict(d) == p
    assert p.with_resolution(48).resolution == 48
    with pytest.raises(UserError):
        Preprocess(resolution=32, channels=3, mean=(0.5,), std=(0.5,))
    with pytest.raises(UserError):
        Preprocess(resolution=32, channels=1, mean=(0.5,), std=(0.0,))
    with pytest.raises(UserError):
        Preprocess.from_dict({**d, "colour": "yes"})


def test_preprocess_call_and_int8_input_map_match_the_float_path():
    p = Preprocess(resolution=6, channels=3, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    img = torch.randint(0, 256, (3, 4, 4), dtype=torch.uint8)
    x = p(img)
    assert x.shape == (3, 6, 6) and x.dtype == torch.float32
    ref = (img.float() / 255 - torch.tensor(p.mean).view(3, 1, 1)) / torch.tensor(p.std).view(3, 1, 1)
    assert torch.allclose(x, F.interpolate(ref[None], size=(6, 6), mode="bilinear", align_corners=False)[0], atol=1e-6)
    # quantize((pixel/255 - mean)/std) == round(pixel * a + b) for every pixel value
    scale, zp = 0.02, -3
    m = p.input_scale_zero_point(scale, zp)
    pix = np.arange(256, dtype=np.float64)
    for c in range(3):
        direct = np.round((pix / 255 - p.mean[c]) / p.std[c] / scale) + zp
        folded = np.round(pix * m["a"][c] + m["b"][c])
        assert np.abs(direct - folded).max() <= 1  # equal except float ties at .5
        assert np.mean(direct == folded) > 0.99


def test_normalize_values():
    img = torch.tensor([[[0, 255], [51, 102]]], dtype=torch.uint8)
    out = normalize(img, (0.2,), (0.4,))
    expected = (torch.tensor([[[0.0, 1.0], [0.2, 0.4]]]) - 0.2) / 0.4
    assert torch.allclose(out, expected, atol=1e-6)


def test_resize_batch_matches_pillow_and_interpolate():
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    x = torch.from_numpy(arr).float()[None, None]
    assert resize_batch(x, 64) is x
    down = resize_batch(x, 24)[0, 0]
    pil = np.asarray(Image.fromarray(arr).resize((24, 24), Image.BILINEAR), dtype=np.float32)
    assert down.shape == (24, 24)
    assert np.abs(down.numpy() - pil).max() <= 2.0  # torch's antialias filter is Pillow's
    up = resize_batch(x[..., :28, :28], (48, 40))
    assert up.shape == (1, 1, 48, 40)
    assert torch.equal(up, F.interpolate(x[..., :28, :28], size=(48, 40), mode="bilinear", align_corners=False))


def test_augment_shifts_and_flips_within_the_padded_image():
    torch.manual_seed(0)
    imgs = torch.arange(2 * 1 * 5 * 5, dtype=torch.int64).remainder(250).add(1).to(torch.uint8).view(2, 1, 5, 5)
    imgs = imgs.repeat(50, 1, 1, 1)  # 100 images
    out = Augment(crop_padding=2, hflip=True)(imgs)
    assert out.shape == imgs.shape and out.dtype == torch.uint8
    padded = F.pad(imgs, (2, 2, 2, 2))
    shifts, flips = set(), 0
    for i in range(len(imgs)):
        found = False
        for flip in (False, True):
            src = padded[i].flip(-1) if flip else padded[i]
            for oy in range(5):
                for ox in range(5):
                    if torch.equal(src[:, oy:oy + 5, ox:ox + 5], out[i]):
                        found = True
                        shifts.add((oy, ox))
                        flips += flip
                        break
                if found:
                    break
            if found:
                break
        assert found, f"image {i} is not a shifted/flipped window of its padded input"
    assert len(shifts) > 5 and 20 < flips < 80
    assert torch.equal(Augment(crop_padding=0, hflip=False)(imgs), imgs)


# ---- Fashion-MNIST (the installed Debian package) -----------------------------------------
def test_fashion_mnist_files_load_with_expected_shapes_and_statistics():
    arrays = fm.load_fashion_mnist()
    assert arrays["train_images"].shape == (60000, 28, 28) and arrays["train_images"].dtype == np.uint8
    assert arrays["test_images"].shape == (10000, 28, 28)
    assert arrays["train_labels"].min() == 0 and arrays["train_labels"].max() == 9
    assert np.bincount(arrays["test_labels"]).tolist() == [1000] * 10
    hist = np.bincount(arrays["train_images"].ravel(), minlength=256).astype(np.float64)
    v = np.arange(256) / 255
    mean = (hist * v).sum() / hist.sum()
    std = np.sqrt((hist * (v - mean) ** 2).sum() / hist.sum())
    assert abs(mean - fm.MEAN[0]) < 1e-4 and abs(std - fm.STD[0]) < 1e-4


def test_fashion_mnist_splits_and_loader():
    ds = get_dataset("fashion_mnist")
    assert ds.num_classes == 10 and ds.channels == 1 and ds.class_names[9] == "Ankle boot"
    assert (len(ds.train), len(ds.holdout), len(ds.test), len(ds.calib)) == (50000, 10000, 10000, 2000)
    assert np.intersect1d(ds.train.indices, ds.holdout.indices).size == 0
    assert ds.holdout.indices[:3].tolist() == [5, 11, 17]
    assert np.isin(ds.calib.indices, ds.train.indices).all()
    assert ds.train.augment is not None and ds.holdout.augment is None and ds.calib.augment is None
    assert ds.preprocess.to_dict()["source_size"] == 28 and ds.preprocess_for(32).resolution == 32
    assert ds.source == str(FMNIST_DIR)

    x, y = ds.holdout[0]
    raw = fm.load_fashion_mnist()["train_images"][5]
    assert x.shape == (1, 28, 28) and y == int(fm.load_fashion_mnist()["train_labels"][5])
    assert torch.allclose(x[0], (torch.from_numpy(raw.astype(np.float32)) / 255 - 0.2860) / 0.3530, atol=1e-6)

    loader = make_loader(ds.test, batch_size=1000, shuffle=False)
    labels, total = [], 0.0
    for xb, yb in loader:
        assert xb.shape[1:] == (1, 28, 28) and xb.dtype == torch.float32 and yb.dtype == torch.int64
        labels.append(yb)
        total += float(xb.mean()) * len(xb)
    assert torch.equal(torch.cat(labels), ds.test.labels)
    assert abs(total / 10000) < 0.05  # normalised with the training statistics


def test_make_loader_shuffles_deterministically_and_batch_path_matches_samples():
    ds = get_dataset("fashion_mnist", augment=False).holdout.subset(range(103))
    first = [yb for _, yb in make_loader(ds, 10, shuffle=True, seed=3)]
    again = [yb for _, yb in make_loader(ds, 10, shuffle=True, seed=3)]
    other = [yb for _, yb in make_loader(ds, 10, shuffle=True, seed=4)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))
    assert sorted(torch.cat(first).tolist()) == sorted(ds.labels.tolist())
    assert [len(b) for b in first] == [10] * 10 + [3]
    assert len(list(make_loader(ds, 10, shuffle=True, drop_last=True))) == 10
    xb, yb = ds[[4, 0, 7]]
    for k, i in enumerate([4, 0, 7]):
        xi, yi = ds[i]
        assert torch.equal(xb[k], xi) and int(yb[k]) == yi
    with pytest.raises(UserError):
        make_loader(ds, 0)


def test_fashion_mnist_missing_or_broken_files_give_the_install_hint(tmp_path, monkeypatch):
    with pytest.raises(UserError, match=r"apt-get install dataset-fashion-mnist.*--data DIR"):
        get_dataset("fashion_mnist", root=tmp_path / "nowhere")
    monkeypatch.setenv(fm.ENV_VAR, str(tmp_path))
    with pytest.raises(UserError, match=r"Fashion-MNIST not found at .*OFA_MCU_FASHION_MNIST"):
        fm.find_fashion_mnist()
    # A folder set through the variable is used: here a tiny but valid copy.
    def idx(arr, code):
        header = bytes([0, 0, code, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
        return gzip.compress(header + arr.tobytes())

    imgs = np.random.default_rng(0).integers(0, 256, (12, 28, 28), dtype=np.uint8)
    labs = (np.arange(12) % 10).astype(np.uint8)
    for key, name in fm.FILES.items():
        (tmp_path / name).write_bytes(idx(imgs, 8) if key.endswith("images") else idx(labs, 8))
    ds = get_dataset("fashion_mnist")
    assert ds.source == str(tmp_path) and len(ds.holdout) == 2 and len(ds.train) == 10
    assert torch.equal(ds.test.uint8_images()[:, 0], torch.from_numpy(imgs))
    (tmp_path / fm.FILES["test_labels"]).write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (12).to_bytes(4, "big") + b"\x00" * 5))
    with pytest.raises(UserError, match="holds 5 data bytes, expected 12"):
        get_dataset("fashion_mnist")
    (tmp_path / fm.FILES["test_labels"]).write_bytes(gzip.compress(b"PK\x03\x04junk"))
    with pytest.raises(UserError, match="not an IDX file"):
        get_dataset("fashion_mnist")
    (tmp_path / fm.FILES["test_labels"]).write_bytes(b"not gzip at all")
    with pytest.raises(UserError, match="cannot read"):
        get_dataset("fashion_mnist")
    with pytest.raises(UserError, match="resize_batch"):
        get_dataset("fashion_mnist", root=FMNIST_DIR, image_size=32)


# ---- image folders ------------------------------------------------------------------------
def _write_png(path: Path, value, size=(20, 10), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path)


def _make_folder_tree(root: Path):
    """train/{cat,dog}: 3+2 images; val/{cat,dog}: 3+3 images, solid colours encode identity."""
    for split, counts in (("train", (3, 2)), ("val", (3, 3))):
        for c, (name, n) in enumerate(zip(("cat", "dog"), counts)):
            for i in range(n):
                _write_png(root / split / name / f"img{i}.png", (10 * i, 100 + c, 200 if split == "val" else 50))
    (root / "train" / "cat" / "notes.txt").write_text("not an image")


def test_scan_image_folder_uses_imagefolder_semantics(tmp_path):
    _make_folder_tree(tmp_path)
    (tmp_path / "train" / "dog" / "sub").mkdir()
    _write_png(tmp_path / "train" / "dog" / "sub" / "deep.JPG", (1, 2, 3))
    classes, samples = scan_image_folder(tmp_path / "train")
    assert classes == ("cat", "dog")
    names = [(p.relative_to(tmp_path / "train").as_posix(), lab) for p, lab in samples]
    assert names == [("cat/img0.png", 0), ("cat/img1.png", 0), ("cat/img2.png", 0),
                     ("dog/img0.png", 1), ("dog/img1.png", 1), ("dog/sub/deep.JPG", 1)]
    with pytest.raises(UserError, match="no class subfolders"):
        scan_image_folder(tmp_path / "train" / "cat")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(UserError, match="no image files"):
        scan_image_folder(tmp_path / "empty")
    with pytest.raises(UserError, match="does not exist"):
        scan_image_folder(tmp_path / "missing")


def test_imagefolder_dataset_splits_pixels_and_cache(tmp_path):
    _make_folder_tree(tmp_path)
    ds = get_dataset("imagefolder", tmp_path, image_size=8, calib_images=3)
    assert ds.class_names == ("cat", "dog") and ds.channels == 3
    # the lab's rule on val (sorted: cat0 cat1 cat2 dog0 dog1 dog2): holdout 1,3,5; test 0,2,4
    held = [ds.holdout.sample_path(i).relative_to(tmp_path).as_posix() for i in range(len(ds.holdout))]
    test = [ds.test.sample_path(i).relative_to(tmp_path).as_posix() for i in range(len(ds.test))]
    assert held == ["val/cat/img1.png", "val/dog/img0.png", "val/dog/img2.png"]
    assert test == ["val/cat/img0.png", "val/cat/img2.png", "val/dog/img1.png"]
    assert len(ds.train) == 5 and len(ds.calib) == 3 and ds.calib.augment is None
    assert ds.preprocess.to_dict() == {"resolution": 8, "channels": 3, "mean": [0.5] * 3, "std": [0.5] * 3,
                                       "interpolation": "bilinear", "source_size": None}
    x, y = ds.holdout[1]  # val/dog/img0.png: colour (0, 101, 200)
    assert x.shape == (3, 8, 8) and y == 1
    expected = (torch.tensor([0, 101, 200], dtype=torch.float32) / 255 - 0.5) / 0.5
    assert torch.allclose(x, expected.view(3, 1, 1).expand(3, 8, 8), atol=1e-6)
    cached = ds.holdout.to_array(progress=False)
    for i in range(len(ds.holdout)):
        assert torch.equal(cached[i][0], ds.holdout[i][0]) and cached[i][1] == ds.holdout[i][1]
    xb, yb = next(iter(make_loader(ds.test, batch_size=4)))
    assert xb.shape == (3, 3, 8, 8) and yb.tolist() == [0, 0, 1]
    gray = ImageFolderDataset(tmp_path / "val", 5, channels=1, mean=(0.5,), std=(0.5,))
    assert gray[0][0].shape == (1, 5, 5)


def test_imagefolder_layout_variants_and_errors(tmp_path):
    _make_folder_tree(tmp_path / "a")
    flat = get_dataset("imagefolder", tmp_path / "a" / "val", image_size=4)
    assert flat.test is None and len(flat.train) == 3 and len(flat.holdout) == 3
    assert "no val/ folder" in flat.split_rule
    _write_png(tmp_path / "b" / "train" / "x" / "1.png", 0)
    _write_png(tmp_path / "b" / "val" / "y" / "1.png", 0)
    with pytest.raises(UserError, match="differ from val classes"):
        get_dataset("imagefolder", tmp_path / "b")
    # vww reads a plain folder of class folders too (the lab's every-second-image holdout)
    vww = get_dataset("vww", tmp_path / "a" / "val", image_size=4)
    assert vww.test is None and len(vww.holdout) == 3 and vww.channels == 3
    assert vww.preprocess.to_dict()["mean"] == [0.5, 0.5, 0.5]
    with pytest.raises(UserError, match="needs a path"):
        get_dataset("imagefolder")
    bad = tmp_path / "c" / "k" / "broken.jpg"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    # a class whose first image cannot be read fails when the dataset is opened, in one line
    with pytest.raises(UserError, match="cannot read image .*broken.jpg"):
        get_dataset("imagefolder", tmp_path / "c", image_size=4)
    # other unreadable images fail when read
    _write_png(tmp_path / "c" / "k" / "a_good.png", (1, 2, 3))
    ds = get_dataset("imagefolder", tmp_path / "c", image_size=4)
    with pytest.raises(UserError, match="cannot read image"):
        [ds.train[i] for i in range(len(ds.train))] + [ds.holdout[i] for i in range(len(ds.holdout))]
    with pytest.raises(UserError, match="unknown dataset"):
        get_dataset("cifar")
