"""Visual Wake Words from COCO: person / non-person image folders in the lab's layout.

An image is labelled 1 ("person") when at least one person annotation covers more than
``area_fraction`` (0.5 %, the VWW paper's threshold) of the image, else 0 ("non-person").
The covered area is the box ``w * h`` by default (the paper's wording); ``area_source=
"segmentation"`` uses COCO's ``area`` field (the mask area), as TensorFlow's reference builder
does. Crowd annotations count, as in that builder.

Output: ``OUT/<train|val>/<non-person|person>/<file_name>`` (sorted class names give
non-person = 0, person = 1) plus ``OUT/labels.json`` listing every image's label.
"""
from __future__ import annotations

import os
import shutil
import urllib.request
import zipfile
from pathlib import Path

from ..errors import UserError
from ..io import atomic_path, check_output_folder, read_json, staged_output, write_json

CLASS_FOLDERS = ("non-person", "person")
AREA_SOURCES = ("bbox", "segmentation")
LINK_MODES = ("copy", "symlink", "hardlink")
COCO_URLS = {
    "train2017": "http://images.cocodataset.org/zips/train2017.zip",
    "val2017": "http://images.cocodataset.org/zips/val2017.zip",
    "annotations": "http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
}


def person_fractions(coco: dict, category: str = "person", area_source: str = "bbox") -> dict[int, float]:
    """Largest fraction of each image's area covered by one ``category`` annotation (0 if none).

    ``coco`` is a COCO instances dict (``images`` with ``id``/``width``/``height``,
    ``annotations`` with ``image_id``/``category_id``/``bbox``/``area``, ``categories``).
    """
    if area_source not in AREA_SOURCES:
        raise UserError(f"unknown area source {area_source!r}; choose one of {', '.join(AREA_SOURCES)}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            raise UserError(f"COCO annotations lack a {key!r} list; pass an instances_<split>.json file")
    cat_ids = {c["id"] for c in coco["categories"] if c.get("name") == category}
    if not cat_ids:
        names = sorted(str(c.get("name")) for c in coco["categories"])[:10]
        raise UserError(f"COCO categories have no {category!r} (found {names}...); use an instances_*.json file")
    areas = {}
    for im in coco["images"]:
        w, h = float(im["width"]), float(im["height"])
        if w <= 0 or h <= 0:
            raise UserError(f"COCO image {im.get('id')} has size {w}x{h}; fix the annotations file")
        areas[im["id"]] = w * h
    best = dict.fromkeys(areas, 0.0)
    for ann in coco["annotations"]:
        if ann.get("category_id") not in cat_ids:
            continue
        image_id = ann["image_id"]
        if image_id not in areas:
            continue
        if area_source == "bbox":
            _, _, bw, bh = ann["bbox"]
            covered = float(bw) * float(bh)
        else:
            covered = float(ann["area"])
        best[image_id] = max(best[image_id], covered / areas[image_id])
    return best


def vww_label(fraction: float, area_fraction: float = 0.005) -> int:
    """1 when the largest person covers strictly more than ``area_fraction`` of the image."""
    return int(fraction > area_fraction)


def _out_split_name(split: str) -> str:
    for prefix in ("train", "val"):
        if split.startswith(prefix):
            return prefix
    raise UserError(f"cannot tell whether COCO split {split!r} is train or val; pass --out-split train|val")


def _place(src: Path, dst: Path, link: str) -> None:
    if link == "copy":
        shutil.copyfile(src, dst)
    elif link == "symlink":
        os.symlink(src.resolve(), dst)
    else:
        os.link(src, dst)


def build_vww(
    coco_root: str | os.PathLike,
    out: str | os.PathLike,
    split: str = "train2017",
    area_fraction: float = 0.005,
    area_source: str = "bbox",
    link: str = "copy",
    out_split: str | None = None,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Make ``out/<train|val>/<non-person|person>/`` from ``coco_root/<split>/`` and
    ``coco_root/annotations/instances_<split>.json``; update ``out/labels.json``.

    The split folder is written under a temporary name and moved into place when complete, so
    a failed run leaves no half-built split. An existing split folder is replaced only with
    ``force`` and only if build-vww wrote it (``ofa_mcu.io``'s output rule).
    Returns the split's summary (counts per class, settings).
    """
    from tqdm import tqdm

    coco_root, out = Path(coco_root), Path(out)
    if not 0.0 <= area_fraction < 1.0:
        raise UserError(f"--area-fraction must be in [0, 1), got {area_fraction}")
    if link not in LINK_MODES:
        raise UserError(f"unknown link mode {link!r}; choose one of {', '.join(LINK_MODES)}")
    ann_path = coco_root / "annotations" / f"instances_{split}.json"
    image_dir = coco_root / split
    if not ann_path.is_file():
        raise UserError(
            f"COCO annotations {str(ann_path)!r} not found; pass --coco-root with annotations/instances_{split}.json "
            "(download: ofa-mcu data download-coco)"
        )
    if not image_dir.is_dir():
        raise UserError(f"COCO images folder {str(image_dir)!r} not found; pass the COCO root that holds {split}/")
    dest_name = out_split or _out_split_name(split)
    if dest_name not in ("train", "val"):
        raise UserError(f"--out-split must be train or val, got {dest_name!r}")
    dest = out / dest_name
    what = "VWW split folder"
    check_output_folder(dest, force, inputs=[coco_root], what=what)

    coco = read_json(ann_path, "COCO annotations")
    fractions = person_fractions(coco, area_source=area_source)
    images = sorted(coco["images"], key=lambda im: im["file_name"])
    missing = [im["file_name"] for im in images if not (image_dir / im["file_name"]).is_file()]
    if missing:
        raise UserError(
            f"{len(missing)} of {len(images)} images listed in {ann_path.name} are missing under {str(image_dir)!r} "
            f"(first: {missing[0]}); download the images or fix --coco-root"
        )
    names = [Path(im["file_name"]).name for im in images]
    if len(set(names)) != len(names):
        raise UserError(f"{ann_path.name} lists two images with the same file name; VWW needs unique names")

    labels: dict[str, int] = {}
    counts = [0, 0]
    with staged_output(dest, force, inputs=[coco_root], what=what, kind="vww split") as tmp:
        for c in CLASS_FOLDERS:
            (tmp / c).mkdir(parents=True)
        for im, name in tqdm(list(zip(images, names)), desc=f"vww {split}", unit="img", disable=not progress):
            lab = vww_label(fractions[im["id"]], area_fraction)
            _place(image_dir / im["file_name"], tmp / CLASS_FOLDERS[lab] / name, link)
            labels[name] = lab
            counts[lab] += 1

    summary = {
        "coco_split": split,
        "coco_root": str(coco_root.resolve()),
        "area_fraction": area_fraction,
        "area_source": area_source,
        "link": link,
        "counts": {CLASS_FOLDERS[0]: counts[0], CLASS_FOLDERS[1]: counts[1]},
        "labels": labels,
    }
    manifest_path = out / "labels.json"
    manifest = read_json(manifest_path, "VWW manifest") if manifest_path.is_file() else {}
    manifest.setdefault("classes", list(CLASS_FOLDERS))
    manifest.setdefault("splits", {})[dest_name] = summary
    write_json(manifest_path, manifest)
    return {k: v for k, v in summary.items() if k != "labels"} | {"out": str(dest)}


def download(url: str, dest: str | os.PathLike, progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` (through a temporary file, renamed when complete), with a
    progress bar. A complete file already at ``dest`` (same size as the server reports) is kept."""
    from tqdm import tqdm

    dest = Path(dest)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            if dest.is_file() and total is not None and dest.stat().st_size == total:
                return dest
            with atomic_path(dest) as part, open(part, "wb") as f, tqdm(
                total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress
            ) as bar:
                while chunk := resp.read(1 << 20):
                    f.write(chunk)
                    bar.update(len(chunk))
    except OSError as exc:
        raise UserError(f"download of {url} failed ({exc}); check the network or download it by hand into {dest.parent}") from None
    return dest


def download_coco(
    coco_root: str | os.PathLike, splits: tuple[str, ...] = ("train2017", "val2017"), progress: bool = True,
    keep_zips: bool = False,
) -> Path:
    """Download and unpack COCO 2017 images of ``splits`` and the instances annotations from
    the official server into ``coco_root`` (about 19 GB for train2017, 1 GB for val2017)."""
    coco_root = Path(coco_root)
    unknown = [s for s in splits if s not in COCO_URLS or s == "annotations"]
    if unknown:
        raise UserError(f"unknown COCO split(s) {unknown}; choose from train2017, val2017")
    for key in ("annotations", *splits):
        url = COCO_URLS[key]
        marker = coco_root / ("annotations" if key == "annotations" else key)
        if marker.is_dir() and any(marker.iterdir()):
            continue
        zip_path = download(url, coco_root / Path(url).name, progress=progress)
        try:
            with zipfile.ZipFile(zip_path) as zf:
                zf.extractall(coco_root)
        except zipfile.BadZipFile:
            raise UserError(f"{zip_path} is not a valid zip; delete it and download again") from None
        if not keep_zips:
            zip_path.unlink()
    return coco_root


def read_manifest(root: str | os.PathLike) -> dict:
    """The ``labels.json`` written by :func:`build_vww` (empty dict when absent)."""
    path = Path(root) / "labels.json"
    return read_json(path, "VWW manifest") if path.is_file() else {}
