"""``ofa-mcu data``: dataset info, the VWW builder and the COCO downloader."""
from __future__ import annotations

import argparse
import json

from ..validate import Number, existing_dir


def _class_counts(ds, num_classes: int) -> list[int] | None:
    import torch

    if ds is None:
        return None
    return torch.bincount(ds.labels, minlength=num_classes).tolist()


def cmd_info(args: argparse.Namespace) -> int:
    """Print a dataset's sizes, classes, location, preprocessing and split rule."""
    from ..data import get_dataset

    splits = get_dataset(args.name, root=args.data, image_size=args.image_size)
    info = splits.info()
    info["class_counts"] = {
        k: _class_counts(getattr(splits, k), splits.num_classes) for k in ("train", "holdout", "test", "calib")
    }
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"dataset     {info['name']}")
    print(f"found at    {info['source']}")
    print(f"classes     {info['num_classes']}: {', '.join(info['class_names'])}")
    for k, n in info["sizes"].items():
        counts = info["class_counts"][k]
        print(f"{k:<11} {'-' if n is None else n:>7}" + (f"  per class {counts}" if counts else ""))
    print(f"image size  {info['image_size'][0]}x{info['image_size'][1]}, {splits.channels} channel(s)")
    print(f"preprocess  {json.dumps(info['preprocess'])}")
    print(f"split rule  {info['split_rule']}")
    return 0


def cmd_build_vww(args: argparse.Namespace) -> int:
    """Build person / non-person image folders from a COCO split."""
    from ..data.vww import build_vww

    summary = build_vww(
        args.coco_root, args.out, split=args.split, area_fraction=args.area_fraction,
        area_source=args.area_source, link=args.link, out_split=args.out_split, force=args.force,
    )
    print(json.dumps(summary))
    return 0


def cmd_download_coco(args: argparse.Namespace) -> int:
    """Download COCO 2017 images and annotations from the official server."""
    from ..data.vww import download_coco

    root = download_coco(args.coco_root, tuple(args.splits), keep_zips=args.keep_zips)
    print(f"COCO is in {root}; next: ofa-mcu data build-vww --coco-root {root} --out DIR --split train2017")
    return 0


def register(sub) -> None:
    """Add ``data info|build-vww|download-coco``."""
    from ..data.registry import DATASETS
    from ..data.vww import AREA_SOURCES, LINK_MODES

    p = sub.add_parser("data", help="datasets: info, the VWW builder, the COCO downloader")
    s = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    inf = s.add_parser("info", help="sizes, classes and location of a dataset")
    inf.add_argument("name", choices=sorted(DATASETS), help="dataset: " + ", ".join(sorted(DATASETS)))
    inf.add_argument("--data", metavar="DIR",
                     help="dataset folder (fashion_mnist: default $OFA_MCU_FASHION_MNIST or the Debian package's folder)")
    inf.add_argument("--image-size", type=Number(1, 4096, integer=True),
                     help="side image files are resized to (default: the space's largest resolution)")
    inf.add_argument("--json", action="store_true", help="print one JSON object")
    inf.set_defaults(func=cmd_info)

    b = s.add_parser("build-vww", help="make Visual Wake Words image folders from a COCO split")
    b.add_argument("--coco-root", required=True, metavar="DIR", type=existing_dir("COCO folder"),
                   help="holds annotations/instances_<split>.json and <split>/")
    b.add_argument("--out", required=True, metavar="DIR", help="VWW root: gets <train|val>/<non-person|person>/ and labels.json")
    b.add_argument("--split", default="train2017", help="COCO split (default train2017; val2017 for the val folder)")
    b.add_argument("--out-split", choices=("train", "val"), help="output folder (default: from the split name)")
    b.add_argument("--area-fraction", type=Number(0, 1, hi_open=True), default=0.005,
                   help="person if a person covers more than this fraction, in [0, 1) (default 0.005)")
    b.add_argument("--area-source", choices=AREA_SOURCES, default="bbox", help="box w*h (default) or COCO's segmentation area")
    b.add_argument("--link", choices=LINK_MODES, default="copy", help="copy images (default), or symlink/hardlink them")
    b.add_argument("--force", action="store_true", help="rebuild an output split an earlier build-vww wrote")
    b.set_defaults(func=cmd_build_vww)

    d = s.add_parser("download-coco", help="download COCO 2017 (images + annotations) from cocodataset.org")
    d.add_argument("--coco-root", required=True, metavar="DIR")
    d.add_argument("--splits", nargs="+", default=["train2017", "val2017"], choices=("train2017", "val2017"))
    d.add_argument("--keep-zips", action="store_true", help="keep the downloaded zip files")
    d.set_defaults(func=cmd_download_coco)
