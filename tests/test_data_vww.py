"""The VWW builder on a tiny COCO-format fixture made here (real JPEGs, real JSON)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from ofa_mcu.cli import main
from ofa_mcu.data import get_dataset
from ofa_mcu.data.vww import build_vww, person_fractions, read_manifest, vww_label
from ofa_mcu.errors import UserError
from ofa_mcu.io import OUTPUT_MANIFEST, owned_files
from cli_errors import one_error_line

W, H = 40, 30  # image area 1200 px; 0.5 % of it is exactly 6 px
PERSON, DOG = 1, 18

# (file, [(category, bbox w, bbox h, segmentation area)], expected label with boxes, with segmentation areas)
IMAGES = [
    ("a.jpg", [(PERSON, 3, 2, 3.0)], 0, 0),          # box exactly 0.5 %: not more -> non-person
    ("b.jpg", [(PERSON, 7, 1, 5.0)], 1, 0),          # box 0.58 % but mask 0.42 %
    ("c.jpg", [(DOG, 40, 30, 1200.0)], 0, 0),        # only a big dog
    ("d.jpg", [], 0, 0),                             # no annotations at all
    ("e.jpg", [(PERSON, 1, 1, 1.0), (DOG, 30, 20, 600.0)], 0, 0),
    ("f.jpg", [(PERSON, 2, 2, 4.0), (PERSON, 4, 2, 7.0)], 1, 1),  # the second person counts
    ("g.jpg", [(PERSON, 20, 10, 150.0)], 1, 1),
]


def _make_coco(root: Path, split: str, images=IMAGES) -> dict:
    (root / split).mkdir(parents=True, exist_ok=True)
    coco = {"images": [], "annotations": [],
            "categories": [{"id": DOG, "name": "dog"}, {"id": PERSON, "name": "person"}]}
    ann_id = 0
    for image_id, (name, anns, _, _) in enumerate(images, start=100):
        Image.new("RGB", (W, H), (image_id % 256, 80, 160)).save(root / split / name, quality=90)
        coco["images"].append({"id": image_id, "file_name": name, "width": W, "height": H})
        for cat, bw, bh, area in anns:
            ann_id += 1
            coco["annotations"].append({"id": ann_id, "image_id": image_id, "category_id": cat,
                                        "bbox": [1.0, 2.0, float(bw), float(bh)], "area": area, "iscrowd": 0})
    (root / "annotations").mkdir(exist_ok=True)
    (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(coco))
    return coco


@pytest.fixture()
def coco_root(tmp_path) -> Path:
    root = tmp_path / "coco"
    _make_coco(root, "train2017")
    _make_coco(root, "val2017")
    return root


def test_labels_follow_the_half_percent_rule():
    coco = _make_coco_dict()
    fr = person_fractions(coco)
    labels = {im["file_name"]: vww_label(fr[im["id"]]) for im in coco["images"]}
    assert labels == {name: lab for name, _, lab, _ in IMAGES}
    fr_seg = person_fractions(coco, area_source="segmentation")
    assert {im["file_name"]: vww_label(fr_seg[im["id"]]) for im in coco["images"]} == {n: s for n, _, _, s in IMAGES}
    assert fr[100] == pytest.approx(6 / 1200)
    with pytest.raises(UserError, match="no 'person'"):
        person_fractions({**coco, "categories": [{"id": 18, "name": "dog"}]})
    with pytest.raises(UserError, match="area source"):
        person_fractions(coco, area_source="mask")


def _make_coco_dict() -> dict:
    coco = {"images": [], "annotations": [], "categories": [{"id": DOG, "name": "dog"}, {"id": PERSON, "name": "person"}]}
    for image_id, (name, anns, _, _) in enumerate(IMAGES, start=100):
        coco["images"].append({"id": image_id, "file_name": name, "width": W, "height": H})
        for cat, bw, bh, area in anns:
            coco["annotations"].append({"image_id": image_id, "category_id": cat, "bbox": [0, 0, bw, bh], "area": area})
    return coco


def test_build_vww_writes_the_labs_layout_and_a_manifest(coco_root, tmp_path):
    out = tmp_path / "vww"
    s_train = build_vww(coco_root, out, split="train2017", progress=False)
    s_val = build_vww(coco_root, out, split="val2017", link="symlink", progress=False)
    assert s_train["counts"] == {"non-person": 4, "person": 3} == s_val["counts"]
    for name, _, lab, _ in IMAGES:
        folder = "person" if lab else "non-person"
        copied = out / "train" / folder / name
        assert copied.is_file() and not copied.is_symlink()
        assert copied.read_bytes() == (coco_root / "train2017" / name).read_bytes()
        linked = out / "val" / folder / name
        assert linked.is_symlink() and linked.resolve() == (coco_root / "val2017" / name).resolve()
    manifest = read_manifest(out)
    assert manifest["classes"] == ["non-person", "person"]
    assert manifest["splits"]["train"]["labels"] == {n: lab for n, _, lab, _ in IMAGES}
    assert manifest["splits"]["val"]["link"] == "symlink" and manifest["splits"]["train"]["area_fraction"] == 0.005
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [OUTPUT_MANIFEST]  # no temp folders left
    assert owned_files(out) == {"labels.json"}  # marks labels.json as build-vww's own

    ds = get_dataset("vww", out, image_size=16)
    assert ds.class_names == ("non-person", "person") and ds.num_classes == 2
    assert (len(ds.train), len(ds.holdout), len(ds.test)) == (7, 3, 4)
    assert ds.extra["manifest"] == str(out / "labels.json")
    x, y = ds.holdout[0]  # val sorted: non-person a c d e, person b f g -> position 1 is c.jpg
    assert ds.holdout.sample_path(0).name == "c.jpg" and y == 0 and x.shape == (3, 16, 16)


def test_build_vww_refuses_to_clobber_and_rebuilds_with_force(coco_root, tmp_path):
    out = tmp_path / "vww"
    build_vww(coco_root, out, split="train2017", progress=False)
    with pytest.raises(UserError, match="--force"):
        build_vww(coco_root, out, split="train2017", progress=False)
    summary = build_vww(coco_root, out, split="train2017", area_fraction=0.1, force=True, progress=False)
    assert summary["counts"] == {"non-person": 6, "person": 1}  # only g.jpg (16.7 %) is above 10 %
    assert sorted(p.name for p in (out / "train" / "person").iterdir()) == ["g.jpg"]


def test_build_vww_input_errors_leave_no_output(coco_root, tmp_path):
    out = tmp_path / "vww"
    (coco_root / "train2017" / "d.jpg").unlink()
    with pytest.raises(UserError, match="1 of 7 images .* missing .*first: d.jpg"):
        build_vww(coco_root, out, split="train2017", progress=False)
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(UserError, match="instances_test2017.json"):
        build_vww(coco_root, out, split="test2017", progress=False)
    with pytest.raises(UserError, match="area-fraction"):
        build_vww(coco_root, out, split="val2017", area_fraction=1.5, progress=False)
    (coco_root / "annotations" / "instances_val2017.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        build_vww(coco_root, out, split="val2017", progress=False)


def test_cli_build_vww_and_info(coco_root, tmp_path, capsys):
    out = tmp_path / "vww"
    for split in ("train2017", "val2017"):
        assert main(["data", "build-vww", "--coco-root", str(coco_root), "--out", str(out), "--split", split]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [p["counts"]["person"] for p in printed] == [3, 3]
    assert main(["data", "build-vww", "--coco-root", str(coco_root), "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["data", "info", "vww", "--data", str(out), "--image-size", "8", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sizes"] == {"train": 7, "holdout": 3, "test": 4, "calib": 7}
    assert info["class_counts"]["train"] == [4, 3] and info["preprocess"]["resolution"] == 8
    assert main(["data", "info", "fashion_mnist", "--data", str(tmp_path / "none")]) == 2
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err


def _build(coco_root, out, *extra) -> int:
    return main(["data", "build-vww", "--coco-root", str(coco_root), "--out", str(out), "--split", "val2017", *extra])


@pytest.mark.parametrize("text", ['{"my": "data"}', "[1, 2]", "not json", '{"classes": ["non-person", "person"], '
                                  '"splits": {"val": {"labels": {"a.jpg": 0}}}}'])
def test_build_vww_never_rewrites_a_labels_json_it_did_not_write(coco_root, tmp_path, capsys, text):
    out = tmp_path / "vww"
    out.mkdir()
    (out / "labels.json").write_text(text)
    for force in ((), ("--force",)):
        assert _build(coco_root, out, *force) == 2
        one_error_line(capsys, "labels.json", "not written by ofa-mcu", "move it away")
        assert (out / "labels.json").read_text() == text and sorted(p.name for p in out.iterdir()) == ["labels.json"]


def test_build_vww_updates_its_own_labels_json(coco_root, tmp_path, capsys):
    out = tmp_path / "vww"
    build_vww(coco_root, out, split="train2017", progress=False)
    (out / OUTPUT_MANIFEST).unlink()  # a root built before labels.json was listed: its splits' manifests prove it
    build_vww(coco_root, out, split="val2017", progress=False)
    assert sorted(read_manifest(out)["splits"]) == ["train", "val"] and owned_files(out) == {"labels.json"}
    (out / "labels.json").write_text("[]")  # listed, but no longer a labels file
    assert _build(coco_root, out, "--force") == 2
    one_error_line(capsys, "not a build-vww labels file", "delete it")
    assert (out / "labels.json").read_text() == "[]"


@pytest.mark.parametrize("out_name", ["coco", "."])
def test_build_vww_refuses_an_output_that_holds_the_coco_folder(coco_root, tmp_path, capsys, monkeypatch, out_name):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert _build("coco", out_name) == 2
    one_error_line(capsys, "holds the input", "does not contain the command's inputs")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def _set(path, value):
    def edit(coco):
        *keys, last = path
        target = coco
        for k in keys:
            target = target[k]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
        return coco
    return edit


@pytest.mark.parametrize("edit, words", [
    (lambda coco: [coco], ["is a JSON list"]),
    (_set(("images", 0, "id"), KeyError), ["images[0]", "no 'id'"]),
    (_set(("images", 2, "width"), KeyError), ["images[2] (id 102)", "no 'width'"]),
    (_set(("images", 0, "width"), None), ["images[0] (id 100)", "width None"]),
    (_set(("images", 0, "height"), 0), ["images[0] (id 100)", "height 0"]),
    (_set(("images", 0, "file_name"), 5), ["images[0] (id 100)", "file_name 5"]),
    (_set(("images", 1), "b.jpg"), ["images[1] is 'b.jpg', not an object"]),
    (_set(("annotations", 0, "bbox"), None), ["annotations[0] (id 1)", "bbox None"]),
    (_set(("annotations", 0, "bbox"), "x"), ["annotations[0] (id 1)", "bbox 'x'"]),
    (_set(("annotations", 0, "bbox"), [0, 0, -1, 2]), ["annotations[0] (id 1)", "bbox [0, 0, -1, 2]"]),
    (_set(("annotations", 0, "image_id"), None), ["annotations[0] (id 1)", "image_id None"]),
    (_set(("categories", 1, "id"), KeyError), ["categories[1]", "no 'id'"]),
    (_set(("images", 0, "file_name"), "../annotations/x.jpg"), ["images[0] (id 100)", "leaves the images folder"]),
    (_set(("images", 0, "file_name"), "/etc/hostname"), ["images[0] (id 100)", "leaves the images folder"]),
    (_set(("images", 1, "id"), 100), ["images[1] (id 100)", "repeats the id of images[0]"]),
    (lambda coco: {**coco, "images": [], "annotations": []}, ["lists no images"]),
])
def test_build_vww_malformed_annotations_are_one_line_errors(coco_root, tmp_path, capsys, edit, words):
    ann = coco_root / "annotations" / "instances_val2017.json"
    shutil.copyfile(coco_root / "val2017" / "a.jpg", coco_root / "annotations" / "x.jpg")
    ann.write_text(json.dumps(edit(json.loads(ann.read_text()))))
    out = tmp_path / "vww"
    assert _build(coco_root, out) == 2
    one_error_line(capsys, "instances_val2017.json", *words)
    assert not out.exists()
