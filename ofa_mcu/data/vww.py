"""Visual Wake Words from COCO: person / non-person image folders in the lab's layout.

An image is labelled 1 ("person") when at least one person annotation covers more than
``area_fraction`` (0.5 %, the VWW paper's threshold) of the image, else 0 ("non-person").
The covered area is the box ``w * h`` by default (the paper's wording); ``area_source=
"segmentation"`` uses COCO's ``area`` field (the mask area), as TensorFlow's reference builder
does. Crowd annotations count, as in that builder.

Output: ``OUT/<train|val>/<non-person|person>/<file_name>`` (sorted class names give
non-person = 0, person = 1) plus ``OUT/labels.json`` listing every image's label. Each split
folder is a staged output with its own manifest; ``labels.json`` is updated in place and listed
in ``OUT/.ofa-mcu-output.json``, so a later run updates only a ``labels.json`` it wrote.
"""
from __future__ import annotations

import math
import os
import shutil
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import UserError
from ..io import (OUTPUT_MANIFEST, atomic_path, check_not_an_input, check_output_folder, check_writable, owned_files,
                  read_json, read_output_manifest, record_outputs, staged_output, stays_inside, write_json)

CLASS_FOLDERS = ("non-person", "person")
AREA_SOURCES = ("bbox", "segmentation")
LINK_MODES = ("copy", "symlink", "hardlink")
COCO_URLS = {
    "train2017": "http://images.cocodataset.org/zips/train2017.zip",
    "val2017": "http://images.cocodataset.org/zips/val2017.zip",
    "annotations": "http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
}
LABELS_FILE = "labels.json"
_FIX = "fix the annotations file"


# ---- checking COCO annotations -------------------------------------------------------------


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _where(source: str, key: str, index: int, entry: dict) -> str:
    ident = f" (id {_short(entry['id'])})" if "id" in entry else ""
    return f"{source}: {key}[{index}]{ident}"


def _entries(coco: dict, key: str, source: str) -> list[tuple[str, dict]]:
    """``coco[key]`` as ``(where, entry)`` pairs; an entry that is not an object is a UserError."""
    out = []
    for i, entry in enumerate(coco[key]):
        if not isinstance(entry, dict):
            raise UserError(f"{source}: {key}[{i}] is {_short(entry)}, not an object; {_FIX}")
        out.append((_where(source, key, i, entry), entry))
    return out


def _field(entry: dict, field: str, where: str, ok, wanted: str):
    """``entry[field]`` when ``ok(value)``; a missing or bad field is a UserError naming it."""
    if field not in entry:
        raise UserError(f"{where} has no {field!r}; {_FIX}")
    value = entry[field]
    if not ok(value):
        raise UserError(f"{where} has {field} {_short(value)}, not {wanted}; {_FIX}")
    return value


def _is_id(value) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_number(value, positive: bool = False) -> bool:
    return _is_real(value) and (value > 0 if positive else value >= 0)


def _is_box(value) -> bool:
    return isinstance(value, list) and len(value) == 4 and all(map(_is_real, value)) and min(value[2:]) >= 0


def _image_areas(coco: dict, source: str) -> dict:
    """Area of each image by id; bad sizes and repeated ids are UserErrors."""
    areas, first = {}, {}
    for i, (where, im) in enumerate(_entries(coco, "images", source)):
        image_id = _field(im, "id", where, _is_id, "an integer or a string")
        w = _field(im, "width", where, lambda v: _is_number(v, positive=True), "a positive number")
        h = _field(im, "height", where, lambda v: _is_number(v, positive=True), "a positive number")
        if image_id in areas:
            raise UserError(f"{where} repeats the id of images[{first[image_id]}]; image ids must be unique: {_FIX}")
        areas[image_id], first[image_id] = float(w) * float(h), i
    return areas


def _check_file_names(coco: dict, source: str) -> None:
    """Each image's ``file_name`` is a relative path that stays inside the split's images folder."""
    for where, im in _entries(coco, "images", source):
        name = _field(im, "file_name", where, lambda v: isinstance(v, str) and v.strip("/."), "a file name")
        if not stays_inside(name):
            raise UserError(f"{where} has file_name {_short(name)}, which leaves the images folder; file names "
                            f"must be relative to <coco-root>/<split> (no leading / or ..): {_FIX}")


def person_fractions(coco: dict, category: str = "person", area_source: str = "bbox",
                     source: str = "COCO annotations") -> dict[int, float]:
    """Largest fraction of each image's area covered by one ``category`` annotation (0 if none).

    ``coco`` is a COCO instances dict (``images`` with ``id``/``width``/``height``,
    ``annotations`` with ``image_id``/``category_id``/``bbox``/``area``, ``categories``).
    A malformed entry is a one-line UserError naming ``source`` (the file), the entry and the field.
    """
    if area_source not in AREA_SOURCES:
        raise UserError(f"unknown area source {area_source!r}; choose one of {', '.join(AREA_SOURCES)}")
    if not isinstance(coco, dict):
        raise UserError(f"{source} is a JSON {type(coco).__name__}, not an object with images, annotations and "
                        "categories; pass an instances_<split>.json file")
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            raise UserError(f"{source} has no {key!r} list; pass an instances_<split>.json file")
    cats = _entries(coco, "categories", source)
    cat_ids = {_field(c, "id", where, _is_id, "an integer or a string") for where, c in cats if c.get("name") == category}
    if not cat_ids:
        names = sorted(str(c.get("name")) for _, c in cats)[:10]
        raise UserError(f"{source} categories have no {category!r} (found {names}...); use an instances_*.json file")
    areas = _image_areas(coco, source)
    best = dict.fromkeys(areas, 0.0)
    for where, ann in _entries(coco, "annotations", source):
        if _field(ann, "category_id", where, _is_id, "an integer or a string") not in cat_ids:
            continue
        image_id = _field(ann, "image_id", where, _is_id, "an integer or a string")
        if image_id not in areas:
            continue
        if area_source == "bbox":
            _, _, bw, bh = _field(ann, "bbox", where, _is_box, "a list [x, y, w, h] of numbers, w and h >= 0")
            covered = float(bw) * float(bh)
        else:
            covered = float(_field(ann, "area", where, _is_number, "a number >= 0"))
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


def _written_by_build_vww(out: Path, labels) -> bool:
    """A ``labels.json`` an earlier build-vww wrote before it was listed in a manifest: every
    split it describes has the exact files that split folder's own manifest lists."""
    splits = labels.get("splits") if isinstance(labels, dict) else None
    if not isinstance(splits, dict) or not splits or labels.get("classes") != list(CLASS_FOLDERS):
        return False
    for name, summary in splits.items():
        images = summary.get("labels") if isinstance(summary, dict) else None
        if name not in ("train", "val") or not isinstance(images, dict) or any(v not in (0, 1) for v in images.values()):
            return False
        if read_output_manifest(out / name) != {f"{CLASS_FOLDERS[lab]}/{n}" for n, lab in images.items()}:
            return False
    return True


def _read_labels(out: Path) -> dict:
    """``out/labels.json`` to update ({} when absent). One that ofa-mcu did not write (no
    manifest lists it) or that is not a labels file is a UserError: it is never rewritten."""
    path = out / LABELS_FILE
    if not path.exists() and not path.is_symlink():
        return {}
    if not path.is_file():
        raise UserError(f"{str(path)!r} is in the way (not a file); move it away or choose another --out folder")
    if LABELS_FILE not in (owned_files(out) or ()):
        try:
            legacy = _written_by_build_vww(out, read_json(path))
        except UserError:
            legacy = False
        if not legacy:
            raise UserError(f"{str(path)!r} was not written by ofa-mcu (no {OUTPUT_MANIFEST} lists it) and build-vww "
                            "writes its labels there; move it away or choose another --out folder (--force never "
                            "replaces files ofa-mcu did not write)")
    labels = read_json(path, "VWW labels file")
    if not isinstance(labels, dict) or not isinstance(labels.get("splits", {}), dict):
        raise UserError(f"VWW labels file {str(path)!r} is not a build-vww labels file (an object with a 'splits' "
                        "object); delete it and run again")
    return labels


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
    ``force`` and only if build-vww wrote it (``ofa_mcu.io``'s output rule); ``labels.json``
    is updated only if build-vww wrote it. ``out`` may not hold ``coco_root``. Every check
    (options, output, annotations, image files) runs before the first image is placed.
    Returns the split's summary (counts per class, settings).
    """
    from tqdm import tqdm

    coco_root, out = Path(coco_root), Path(out)
    if not 0.0 <= area_fraction < 1.0:
        raise UserError(f"--area-fraction must be in [0, 1), got {area_fraction}")
    if link not in LINK_MODES:
        raise UserError(f"unknown link mode {link!r}; choose one of {', '.join(LINK_MODES)}")
    if not split or PurePosixPath(split).name != split or split in (".", ".."):
        raise UserError(f"--split must be a folder name under --coco-root such as train2017, got {split!r}")
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
    inputs = [coco_root, image_dir, ann_path]
    check_not_an_input(out, inputs, "VWW output folder")
    check_output_folder(dest, force, inputs=inputs, what=what)
    _read_labels(out)

    coco = read_json(ann_path, "COCO annotations")
    source = f"COCO annotations {str(ann_path)!r}"
    fractions = person_fractions(coco, area_source=area_source, source=source)
    if not coco["images"]:
        raise UserError(f"{source} lists no images; pass the instances file of a split that has images")
    _check_file_names(coco, source)
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
    manifest = _read_labels(out)
    manifest.setdefault("classes", list(CLASS_FOLDERS))
    manifest.setdefault("splits", {})[dest_name] = summary
    write_json(out / LABELS_FILE, manifest)
    record_outputs(out, [LABELS_FILE], kind="vww")
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
    if coco_root.exists() and not coco_root.is_dir():
        raise UserError(f"--coco-root {str(coco_root)!r} is a file; give a folder to download COCO into")
    check_writable(coco_root, "COCO folder")
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
    path = Path(root) / LABELS_FILE
    return read_json(path, "VWW manifest") if path.is_file() else {}
