"""Torch datasets that yield normalised float images and integer labels.

Two kinds, one interface (``subset``, ``with_augment``, ``labels``, ``image_size``,
``channels``, ``class_names``):

- :class:`ArrayImageDataset`: uint8 images in memory (Fashion-MNIST, or a decoded ImageFolder).
  Indexing with a list of indices returns a whole batch at once; :func:`ofa_mcu.data.make_loader`
  uses that so an epoch over 60k images costs a few hundred tensor ops, not 60k Python calls.
- :class:`ImageFolderDataset`: one image file per sample, decoded with Pillow and resized
  (bilinear, aspect ratio not kept, as the lab's ``Resize((r, r))``) to ``image_size``.

Every sample is ``(x, y)``: ``x`` float32 ``[C, H, W]`` equal to ``(pixel / 255 - mean) / std``,
``y`` an int class index.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from .preprocess import Augment, normalize

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


def _as_index_array(indices, n: int) -> np.ndarray:
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"subset indices out of range 0..{n - 1}")
    return idx


class _ImageDatasetBase:
    """Shared view logic: a dataset is (storage, index array, normalisation, augmentation)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: Augment | None
    class_names: tuple[str, ...]
    _indices: np.ndarray

    @property
    def num_classes(self) -> int:
        """Number of classes (of the whole dataset, not only those present in this view)."""
        return len(self.class_names)

    @property
    def indices(self) -> np.ndarray:
        """Positions of this view's samples in the underlying storage."""
        return self._indices

    def __len__(self) -> int:
        return int(self._indices.size)

    def _view(self, **changes):
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    def subset(self, indices) -> "_ImageDatasetBase":
        """A view on some of this dataset's samples (positions relative to this view)."""
        idx = _as_index_array(indices, len(self))
        return self._view(_indices=self._indices[idx])

    def with_augment(self, augment: Augment | None) -> "_ImageDatasetBase":
        """The same samples with another training augmentation (``None`` for none)."""
        return self._view(augment=augment)

    def _finish(self, images_u8):
        if self.augment is not None:
            images_u8 = self.augment(images_u8)
        return normalize(images_u8, self.mean, self.std)


class ArrayImageDataset(_ImageDatasetBase):
    """In-memory uint8 images ``[N, C, H, W]`` and int labels ``[N]``, viewed through an index.

    ``ds[i]`` -> ``(x [C,H,W] float32, int)``; ``ds[[i, j, ...]]`` -> ``(x [B,C,H,W], y [B] int64)``.
    """

    supports_batch_indexing = True

    def __init__(self, images, labels, class_names, mean, std, augment: Augment | None = None, indices=None):
        import torch

        images = torch.as_tensor(images)
        labels = torch.as_tensor(labels, dtype=torch.int64)
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise UserError(f"ArrayImageDataset needs uint8 images [N,C,H,W], got {images.dtype} {tuple(images.shape)}")
        if labels.shape != (images.shape[0],):
            raise UserError(f"{images.shape[0]} images but labels of shape {tuple(labels.shape)}")
        self.images = images
        self.all_labels = labels
        self.class_names = tuple(class_names)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.augment = augment
        n = images.shape[0]
        self._indices = np.arange(n, dtype=np.int64) if indices is None else _as_index_array(indices, n)

    @property
    def channels(self) -> int:
        """Channels per image (1 grayscale, 3 RGB)."""
        return int(self.images.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)`` of the stored images (every sample has this size)."""
        return (int(self.images.shape[2]), int(self.images.shape[3]))

    @property
    def labels(self):
        """Labels of this view's samples (int64 tensor)."""
        import torch

        return self.all_labels[torch.from_numpy(self._indices)]

    def uint8_images(self):
        """This view's raw images (uint8 ``[N,C,H,W]``, a copy)."""
        import torch

        return self.images[torch.from_numpy(self._indices)]

    def __getitem__(self, i):
        import torch

        if isinstance(i, (int, np.integer)):
            j = int(self._indices[i])
            return self._finish(self.images[j]), int(self.all_labels[j])
        pos = torch.from_numpy(self._indices[np.asarray(i, dtype=np.int64)])
        return self._finish(self.images[pos]), self.all_labels[pos]


def scan_image_folder(root: str | Path) -> tuple[tuple[str, ...], list[tuple[Path, int]]]:
    """ImageFolder semantics: classes = sorted subfolder names; per class, its image files
    (any depth, by extension, case-insensitive) in sorted path order; label = class index.

    Returns ``(class_names, [(path, label), ...])`` ordered by class, then path: the order the
    lab's every-second-image holdout is taken in.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"image folder {str(root)!r} does not exist; pass a folder with one subfolder per class")
    classes = tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")))
    if not classes:
        raise UserError(f"image folder {str(root)!r} has no class subfolders; expected ROOT/<class>/<image files>")
    samples: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        files = sorted(
            p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        )
        samples.extend((p, label) for p in files)
    if not samples:
        raise UserError(f"image folder {str(root)!r} has class folders {list(classes)} but no image files in them")
    return classes, samples


def load_image_uint8(path: str | Path, channels: int, size: int | tuple[int, int] | None):
    """Decode one image with Pillow -> uint8 tensor ``[C,H,W]``, resized (bilinear) to ``size``."""
    import torch
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            if size is not None:
                h, w = (size, size) if isinstance(size, int) else size
                if im.size != (w, h):
                    im = im.resize((w, h), Image.BILINEAR)
            arr = np.array(im, dtype=np.uint8)  # a writable copy
    except OSError as exc:
        raise UserError(f"cannot read image {str(path)!r} ({exc}); remove or replace the file") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


class ImageFolderDataset(_ImageDatasetBase):
    """Image files on disk (ImageFolder layout), decoded per sample at ``image_size``."""

    supports_batch_indexing = False

    def __init__(
        self,
        root: str | Path,
        image_size: int,
        channels: int = 3,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        augment: Augment | None = None,
    ):
        if channels not in (1, 3):
            raise UserError(f"channels must be 1 or 3, got {channels}")
        self.root = Path(root)
        self.class_names, samples = scan_image_folder(root)
        self.paths = tuple(p for p, _ in samples)
        self.all_labels_np = np.asarray([lab for _, lab in samples], dtype=np.int64)
        self._image_size = int(image_size)
        self._channels = int(channels)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.augment = augment
        self._indices = np.arange(len(samples), dtype=np.int64)
        # One image per class read now: a folder of unreadable files fails here, in one line,
        # before a run writes anything (the rest are read lazily).
        firsts = {lab: p for p, lab in reversed(samples)}
        for _, path in sorted(firsts.items()):
            load_image_uint8(path, self._channels, self._image_size)

    @property
    def channels(self) -> int:
        """Channels per image (1 grayscale, 3 RGB)."""
        return self._channels

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)`` every sample is resized to."""
        return (self._image_size, self._image_size)

    @property
    def labels(self):
        """Labels of this view's samples (int64 tensor)."""
        import torch

        return torch.from_numpy(self.all_labels_np[self._indices])

    def sample_path(self, i: int) -> Path:
        """File of this view's ``i``-th sample."""
        return self.paths[int(self._indices[i])]

    def __getitem__(self, i):
        j = int(self._indices[i])
        img = load_image_uint8(self.paths[j], self._channels, self._image_size)
        return self._finish(img), int(self.all_labels_np[j])

    def to_array(self, progress: bool = True) -> ArrayImageDataset:
        """Decode this view once into memory (same samples, order, normalisation, augmentation)."""
        import torch
        from tqdm import tqdm

        n = len(self)
        h, w = self.image_size
        images = torch.empty((n, self._channels, h, w), dtype=torch.uint8)
        for k in tqdm(range(n), desc=f"decode {self.root.name}", disable=not progress, unit="img"):
            images[k] = load_image_uint8(self.paths[int(self._indices[k])], self._channels, self._image_size)
        return ArrayImageDataset(
            images, self.labels, self.class_names, self.mean, self.std, augment=self.augment
        )
