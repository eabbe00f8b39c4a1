"""Named datasets -> :class:`DatasetSplits` (train / holdout / test / calib), and loaders.

``get_dataset("fashion_mnist")`` is the default (Debian package); ``"imagefolder"`` takes any
folder in the lab's layout; ``"vww"`` is an ImageFolder root made by ``ofa-mcu data build-vww``
(``train/`` and ``val/``) or any folder of class folders (``person/``, ``non-person/``), read
with the lab's normalisation. :func:`dataset_for_space` names the dataset a space was made for.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import UserError
from . import fashion_mnist as fm
from .datasets import ArrayImageDataset, ImageFolderDataset
from .preprocess import Augment, Preprocess
from .splits import LAB_HOLDOUT_OFFSET, evenly_spaced, interleaved_split

DEFAULT_CALIB_IMAGES = 2000
# The lab's normalisation for VWW: transforms.Normalize(mean=0.5, std=0.5) on RGB.
LAB_MEAN = (0.5, 0.5, 0.5)
LAB_STD = (0.5, 0.5, 0.5)


@dataclass
class DatasetSplits:
    """A dataset's splits and how its inputs are preprocessed.

    - ``train``: supernet training (with augmentation unless asked otherwise);
    - ``holdout``: subnet accuracy collection (the lab's every-second-image rule);
    - ``test``: final reporting only (``None`` when the layout has no separate split);
    - ``calib``: an evenly spaced, un-augmented subset of ``train`` for BN re-calibration and
      int8 calibration.

    ``preprocess`` describes the model input at ``preprocess.resolution`` (the dataset's
    default); :meth:`preprocess_for` gives it at a subnet's resolution.
    """

    name: str
    train: object
    holdout: object
    test: object | None
    calib: object
    class_names: tuple[str, ...]
    preprocess: Preprocess
    source: str
    split_rule: str
    extra: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def channels(self) -> int:
        """Input channels (1 grayscale, 3 RGB)."""
        return self.preprocess.channels

    def preprocess_for(self, resolution: int) -> Preprocess:
        """The input description at a subnet's resolution."""
        return self.preprocess.with_resolution(resolution)

    def info(self) -> dict:
        """Sizes, classes, where the data was found and how it was split (plain JSON)."""
        def size(ds):
            return None if ds is None else len(ds)

        return {
            "name": self.name,
            "source": self.source,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "sizes": {k: size(getattr(self, k)) for k in ("train", "holdout", "test", "calib")},
            "image_size": list(self.train.image_size),
            "preprocess": self.preprocess.to_dict(),
            "split_rule": self.split_rule,
            **self.extra,
        }


Builder = Callable[..., DatasetSplits]
DATASETS: dict[str, Builder] = {}
# The dataset each search space was made for (what --dataset defaults to for a --space).
SPACE_DATASETS = {"fashion_mnist": "fashion_mnist", "vww": "vww"}


def dataset_for_space(space: str) -> str:
    """The dataset a search space was made for (``vww`` -> ``vww``)."""
    try:
        return SPACE_DATASETS[space]
    except KeyError:
        raise UserError(f"space {space!r} has no default dataset; pass --dataset "
                        f"(one of {', '.join(sorted(DATASETS))})") from None


def register_dataset(name: str):
    """Decorator: add a builder ``f(root, image_size, augment, calib_images) -> DatasetSplits``."""
    def deco(fn: Builder) -> Builder:
        DATASETS[name] = fn
        return fn

    return deco


def _default_resolution(space_name: str) -> int:
    from ..config import get_space

    return max(get_space(space_name).resolutions)


@register_dataset("fashion_mnist")
def _build_fashion_mnist(root=None, image_size=None, augment=True, calib_images=DEFAULT_CALIB_IMAGES) -> DatasetSplits:
    import torch

    if image_size not in (None, fm.IMAGE_SIZE):
        raise UserError(
            f"Fashion-MNIST images are stored at {fm.IMAGE_SIZE} px (got image_size={image_size}); "
            "resize batches with ofa_mcu.data.resize_batch instead"
        )
    folder = fm.find_fashion_mnist(root)
    arrays = fm.load_fashion_mnist(folder)

    def make(images, labels, aug=None):
        x = torch.from_numpy(images.copy()).unsqueeze(1)  # [N,1,28,28]; the cache stays read-only
        y = torch.from_numpy(labels.astype("int64"))
        return ArrayImageDataset(x, y, fm.CLASS_NAMES, fm.MEAN, fm.STD, augment=aug)

    full_train = make(arrays["train_images"], arrays["train_labels"])
    kept, held = interleaved_split(len(full_train), fm.HOLDOUT_STRIDE, fm.HOLDOUT_OFFSET)
    plain_train = full_train.subset(kept)
    train = plain_train.with_augment(Augment(crop_padding=2, hflip=True) if augment else None)
    return DatasetSplits(
        name="fashion_mnist",
        train=train,
        holdout=full_train.subset(held),
        test=make(arrays["test_images"], arrays["test_labels"]),
        calib=plain_train.subset(evenly_spaced(len(plain_train), calib_images)),
        class_names=fm.CLASS_NAMES,
        preprocess=Preprocess(
            resolution=_default_resolution("fashion_mnist"), channels=1, mean=fm.MEAN, std=fm.STD,
            source_size=fm.IMAGE_SIZE,
        ),
        source=str(folder),
        split_rule=(
            f"holdout = official train images with index % {fm.HOLDOUT_STRIDE} == {fm.HOLDOUT_OFFSET}; "
            "train = the other official train images; test = the official test set"
        ),
    )


def _folder_splits(
    name: str, root, image_size, augment, calib_images, channels, mean, std
) -> DatasetSplits:
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{name} root {str(root)!r} does not exist; pass an existing folder")
    size = int(image_size or _default_resolution("vww"))
    aug = Augment(crop_padding=max(1, size // 32), hflip=True) if augment else None

    def folder(path):
        return ImageFolderDataset(path, size, channels=channels, mean=mean, std=std)

    has_train, has_val = (root / "train").is_dir(), (root / "val").is_dir()
    if has_train and has_val:
        train_all, val = folder(root / "train"), folder(root / "val")
        if train_all.class_names != val.class_names:
            raise UserError(
                f"{name}: train classes {list(train_all.class_names)} differ from val classes "
                f"{list(val.class_names)}; give both the same class folders"
            )
        real_val, held = interleaved_split(len(val), 2, LAB_HOLDOUT_OFFSET)
        plain_train, holdout, test = train_all, val.subset(held), val.subset(real_val)
        rule = "the lab's rule: holdout = val images 1, 3, 5, ... (sorted ImageFolder order); test = val 0, 2, 4, ...; train = all of train/"
    else:
        base = root / "train" if has_train else root
        everything = folder(base)
        kept, held = interleaved_split(len(everything), 2, LAB_HOLDOUT_OFFSET)
        plain_train, holdout, test = everything.subset(kept), everything.subset(held), None
        rule = f"no val/ folder: holdout = images 1, 3, 5, ... of {base.name}/ (sorted ImageFolder order); train = images 0, 2, 4, ...; no test split"
    return DatasetSplits(
        name=name,
        train=plain_train.with_augment(aug),
        holdout=holdout,
        test=test,
        calib=plain_train.subset(evenly_spaced(len(plain_train), calib_images)),
        class_names=plain_train.class_names,
        preprocess=Preprocess(resolution=size, channels=channels, mean=tuple(mean), std=tuple(std)),
        source=str(root.resolve()),
        split_rule=rule,
    )


@register_dataset("imagefolder")
def _build_imagefolder(
    root=None, image_size=None, augment=True, calib_images=DEFAULT_CALIB_IMAGES,
    channels=3, mean=None, std=None,
) -> DatasetSplits:
    if root is None:
        raise UserError("the imagefolder dataset needs a path; pass --data DIR (a folder with train/ and val/, or class folders)")
    mean = tuple(mean) if mean is not None else LAB_MEAN[:channels]
    std = tuple(std) if std is not None else LAB_STD[:channels]
    return _folder_splits("imagefolder", root, image_size, augment, calib_images, channels, mean, std)


@register_dataset("vww")
def _build_vww(root=None, image_size=None, augment=True, calib_images=DEFAULT_CALIB_IMAGES) -> DatasetSplits:
    if root is None:
        raise UserError("the vww dataset needs its folder; pass --data DIR (class folders person/ and non-person/, "
                        "or train/ and val/ made by `ofa-mcu data build-vww`)")
    splits = _folder_splits("vww", root, image_size, augment, calib_images, 3, LAB_MEAN, LAB_STD)
    manifest = Path(root) / "labels.json"
    if manifest.is_file():
        splits.extra["manifest"] = str(manifest)
    return splits


def get_dataset(
    name: str,
    root: str | Path | None = None,
    image_size: int | None = None,
    augment: bool = True,
    calib_images: int = DEFAULT_CALIB_IMAGES,
    **kwargs,
) -> DatasetSplits:
    """Build a named dataset's splits.

    ``root``: the data folder (Fashion-MNIST: optional, defaults to ``$OFA_MCU_FASHION_MNIST``
    then the Debian package's folder; imagefolder/vww: required). ``image_size``: the side
    image files are resized to on loading (default: the space's largest resolution;
    Fashion-MNIST keeps 28 px). ``augment``: random shift + flip on ``train``.
    ``kwargs`` go to the builder (imagefolder: ``channels``, ``mean``, ``std``).
    """
    try:
        builder = DATASETS[name]
    except KeyError:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(DATASETS))}") from None
    return builder(root=root, image_size=image_size, augment=augment, calib_images=calib_images, **kwargs)


def make_loader(dataset, batch_size: int, shuffle: bool = False, seed: int = 0, num_workers: int = 0, drop_last: bool = False):
    """A ``torch.utils.data.DataLoader`` yielding ``(x [B,C,H,W] float32, y [B] int64)``.

    Shuffling draws from a generator seeded with ``seed`` (the same order every run). In-memory
    datasets are fetched a whole batch per call (much faster than sample by sample).
    """
    import torch
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

    if batch_size < 1:
        raise UserError(f"batch size must be at least 1, got {batch_size}")
    gen = torch.Generator().manual_seed(int(seed))
    if getattr(dataset, "supports_batch_indexing", False):
        base = RandomSampler(dataset, generator=gen) if shuffle else SequentialSampler(dataset)
        return DataLoader(
            dataset,
            batch_size=None,
            sampler=BatchSampler(base, batch_size, drop_last),
            num_workers=num_workers,
            generator=gen,
        )
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, generator=gen, num_workers=num_workers, drop_last=drop_last
    )


def load_images(dataset, n: int, resolution: int, batch: int = 250):
    """``n`` evenly spaced images of ``dataset`` at ``resolution``: ``(images [n,C,r,r] float32
    normalised NCHW, labels [n] int64)`` as numpy arrays."""
    import numpy as np

    from .preprocess import resize_batch

    idx = evenly_spaced(len(dataset), min(n, len(dataset)))
    xs, ys = [], []
    for x, y in make_loader(dataset.subset(idx), batch_size=batch, shuffle=False):
        xs.append(resize_batch(x, resolution).numpy())
        ys.append(np.asarray(y))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)
