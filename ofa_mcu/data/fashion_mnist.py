"""Fashion-MNIST (the default dataset) from Debian's ``dataset-fashion-mnist`` package.

The package installs the four IDX files (gzip) in ``/usr/share/datasets/fashion-mnist/``;
``OFA_MCU_FASHION_MNIST`` or an explicit path overrides that. 60,000 training and 10,000 test
images, 28x28 grayscale, 10 balanced classes.

Splits (the lab's interleaved-holdout rule, applied to the training set because Fashion-MNIST
has no validation set; the official test set stays untouched for final reporting):

- ``train``: the 50,000 training images whose index is not 5 mod 6 (supernet training);
- ``holdout``: the 10,000 training images with index 5 mod 6 (subnet accuracy collection for
  the predictor; about 1,000 per class);
- ``test``: the official 10,000 test images (final numbers only, never search);
- ``calib``: 2,000 evenly spaced ``train`` images without augmentation (BN re-calibration,
  int8 quantization calibration).

The lab used stride 2 on a validation set (half for holdout, half for the real validation);
stride 6 here keeps 50k images for training and makes the holdout as large as the test set.
"""
from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path

import numpy as np

from ..errors import UserError

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_VAR = "OFA_MCU_FASHION_MNIST"
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
# Pixel statistics of the 60,000 training images (x / 255), rounded to 4 digits.
MEAN = (0.2860,)
STD = (0.3530,)
IMAGE_SIZE = 28
HOLDOUT_STRIDE = 6
HOLDOUT_OFFSET = 5

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def parse_idx(raw: bytes, what: str = "IDX data") -> np.ndarray:
    """Decode an IDX file (already gunzipped): 2 zero bytes, a dtype code, the number of
    dimensions, big-endian uint32 sizes, then the values in C order."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise UserError(f"{what} is not an IDX file (bad magic {raw[:4].hex()}); re-install or re-download it")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{what} is truncated (header); re-install or re-download it")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != count * dtype.itemsize:
        raise UserError(
            f"{what} holds {len(raw) - header} data bytes, expected {count * dtype.itemsize} for shape {shape}; "
            "re-install or re-download it"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def find_fashion_mnist(root: str | os.PathLike | None = None) -> Path:
    """The folder holding the four IDX files: ``root``, else ``$OFA_MCU_FASHION_MNIST``, else
    the Debian package's folder. Missing files raise a UserError that says how to install them."""
    if root is not None:
        folder, source = Path(root), "the given path"
    elif os.environ.get(ENV_VAR):
        folder, source = Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    else:
        folder, source = DEFAULT_DIR, "the Debian package location"
    missing = [name for name in FILES.values() if not (folder / name).is_file()]
    if missing:
        raise UserError(
            f"Fashion-MNIST not found at {str(folder)!r} ({source}; missing {', '.join(missing)}); "
            "install it with `apt-get install dataset-fashion-mnist` (Debian) or pass --data DIR "
            f"(or set {ENV_VAR}) pointing to a folder with the four *-ubyte.gz files"
        )
    return folder


def _read_gz(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as exc:
        raise UserError(f"cannot read {str(path)!r} ({exc}); re-install dataset-fashion-mnist") from None


@functools.lru_cache(maxsize=2)
def _load_cached(folder: str, stamp: tuple) -> dict[str, np.ndarray]:
    del stamp  # part of the cache key only: a changed file is re-read
    out = {}
    for key, name in FILES.items():
        out[key] = parse_idx(_read_gz(Path(folder) / name), what=name)
    for split in ("train", "test"):
        imgs, labs = out[f"{split}_images"], out[f"{split}_labels"]
        if imgs.ndim != 3 or labs.ndim != 1 or imgs.shape[0] != labs.shape[0]:
            raise UserError(
                f"Fashion-MNIST {split} files disagree: images {imgs.shape}, labels {labs.shape}; re-install them"
            )
        if labs.size and int(labs.max()) >= len(CLASS_NAMES):
            raise UserError(f"Fashion-MNIST {split} labels go up to {int(labs.max())}, expected 0..9; re-install them")
    return out


def load_fashion_mnist(root: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """The raw arrays: ``train_images`` uint8 ``[60000,28,28]``, ``train_labels`` uint8
    ``[60000]``, ``test_images``, ``test_labels`` (read-only; cached per process)."""
    folder = find_fashion_mnist(root)
    stamp = tuple((folder / n).stat().st_mtime_ns for n in FILES.values())
    return _load_cached(str(folder.resolve()), stamp)
