"""A user's labelled evaluation data for ``ofa-mcu deploy --data DIR``: class folders of images,
or one array file (``.npy``, or raw ``.bin`` in the model's input type) beside a labels file.

Images are read with Pillow, converted to the model's channels (``L`` or ``RGB``, channel order
R, G, B) and resized to its input size (bilinear, as ``--test-image`` does); the pixel -> input
mapping (``--preprocess``, the input tensor's scale and zero point) is the caller's. Images that
cannot be read, or have more than :data:`MAX_IMAGE_PIXELS` pixels, are listed and skipped; a
folder left with none is a UserError.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError

IMAGE_SUFFIXES = (".bmp", ".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".gif", ".tif", ".tiff", ".webp")
ARRAY_SUFFIXES = (".npy", ".bin")
LABEL_FILES = ("labels.txt", "labels.csv", "labels.npy")
# The largest image read (8192 x 8192): below Pillow's decompression-bomb limits, so Pillow
# neither warns nor fails on an image this reads; a larger one is refused with this number.
MAX_IMAGE_PIXELS = 8192 * 8192


@dataclass(frozen=True)
class UserData:
    """Evaluation samples and their labels.

    ``kind``: ``"pixels"`` (uint8 ``[N, H, W, C]`` at the model's size), ``"int8"`` (model
    inputs as given) or ``"float"`` (float model inputs, before quantization); ``x`` holds them.
    ``skipped``: ``(file, reason)`` of every file that could not be used."""

    kind: str
    x: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    source: str
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(len(self.labels))


def _class_index(folders: list[str], class_names: list[str] | None, n_classes: int, root: Path) -> dict[str, int]:
    if class_names:
        unknown = [f for f in folders if f not in class_names]
        if unknown:
            raise UserError(f"--data folder {str(root)!r} has class folders {unknown} that are not among the labels "
                            f"{class_names}; name each folder after its class")
        return {f: class_names.index(f) for f in folders}
    if len(folders) > n_classes:
        raise UserError(f"--data folder {str(root)!r} has {len(folders)} class folders but the model has {n_classes} "
                        "outputs; give --labels to say which folder is which class")
    return {f: i for i, f in enumerate(folders)}


def _too_large(what: str, size: str) -> UserError:
    return UserError(f"{what} has {size}, over the limit of {MAX_IMAGE_PIXELS:,} (8192 x 8192); shrink it "
                     "(the model reads it at its input size anyway)")


def open_image(path: str | Path, what: str):
    """``path`` opened with Pillow (lazily: the pixels load on first use); an image over
    :data:`MAX_IMAGE_PIXELS` is a UserError (``what`` names it), never Pillow's
    decompression-bomb warning or error. Pillow's own errors on unreadable files propagate."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(path)
        except Image.DecompressionBombError:
            raise _too_large(what, f"more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels") from None
    width, height = img.size
    if width * height > MAX_IMAGE_PIXELS:
        img.close()
        raise _too_large(what, f"{width} x {height} pixels")
    return img


def _read_image(path: Path, height: int, width: int, channels: int) -> np.ndarray:
    from PIL import Image

    with open_image(path, f"image {str(path)!r}") as img:
        img = img.convert("L" if channels == 1 else "RGB")
        if img.size != (width, height):
            img = img.resize((width, height), Image.BILINEAR)
        arr = np.asarray(img, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def _from_folders(root: Path, folders: list[Path], shape: tuple[int, int, int], n_classes: int,
                  class_names: list[str] | None) -> UserData:
    h, w, c = shape
    index = _class_index(sorted(f.name for f in folders), class_names, n_classes, root)
    images, labels, skipped = [], [], []
    for folder in sorted(folders, key=lambda f: f.name):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append((str(path.relative_to(root)), f"not an image file ({path.suffix or 'no suffix'})"))
                continue
            try:
                images.append(_read_image(path, h, w, c))
            except UserError:
                skipped.append((str(path.relative_to(root)), f"larger than {MAX_IMAGE_PIXELS:,} pixels"))
                continue
            except Exception as exc:  # Pillow raises assorted errors on corrupt or odd files
                skipped.append((str(path.relative_to(root)), f"cannot be read ({type(exc).__name__})"))
                continue
            labels.append(index[folder.name])
    if not images:
        raise UserError(f"--data folder {str(root)!r} holds no readable image ({len(skipped)} files skipped); give class "
                        f"folders of {', '.join(IMAGE_SUFFIXES)} images")
    names = list(class_names) if class_names else [f.name for f in sorted(folders, key=lambda f: f.name)]
    return UserData("pixels", np.stack(images), np.asarray(labels, np.int64), names,
                    f"{len(folders)} class folders of images", skipped)


def _class_indices(arr: np.ndarray, path: Path) -> np.ndarray:
    """The labels of a ``labels.npy`` as int64 class indices: integers, or floats that are whole
    numbers (anything else is a UserError)."""
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        bad = ~(np.isfinite(arr) & (arr == np.round(arr)) & (np.abs(arr) < 2.0 ** 62))
        if not bad.any():
            return arr.astype(np.int64)
        i = int(np.argmax(bad))
        raise UserError(f"labels file {str(path)!r} holds {float(arr[i])} at index {i}; labels are class indices "
                        "(whole numbers 0..classes-1)")
    raise UserError(f"labels file {str(path)!r} holds {arr.dtype} values; labels are class indices (an integer array)")


def _labels(path: Path, class_names: list[str] | None) -> tuple[np.ndarray, list[str] | None]:
    if path.suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise UserError(f"labels file {str(path)!r} is not a valid .npy array ({exc})") from None
        return _class_indices(np.asarray(arr).reshape(-1), path), class_names
    tokens = [t.strip() for t in path.read_text(encoding="utf-8", errors="replace").replace(",", "\n").splitlines()]
    tokens = [t for t in tokens if t]
    if all(t.lstrip("-").isdigit() for t in tokens):
        return np.asarray([int(t) for t in tokens], np.int64), class_names
    names = list(class_names) if class_names else sorted(set(tokens))
    unknown = sorted(set(tokens) - set(names))
    if unknown:
        raise UserError(f"labels file {str(path)!r} names classes {unknown[:5]} that are not among {names}")
    return np.asarray([names.index(t) for t in tokens], np.int64), names


def _from_arrays(root: Path, data: Path, label_file: Path, input_shape: tuple[int, ...], input_dtype: str,
                 n_classes: int, class_names: list[str] | None) -> UserData:
    size = int(np.prod(input_shape[1:]))
    if data.suffix == ".npy":
        try:
            arr = np.load(data, allow_pickle=False)
        except ValueError as exc:
            raise UserError(f"--data array {str(data)!r} is not a valid .npy array ({exc})") from None
    else:
        raw, dtype = data.read_bytes(), np.dtype(input_dtype)
        if len(raw) % dtype.itemsize:
            raise UserError(f"--data array {str(data)!r} has {len(raw)} bytes, not a whole number of {dtype} values")
        arr = np.frombuffer(raw, dtype=dtype)
    if arr.size % size:
        raise UserError(f"--data array {str(data)!r} has {arr.size} values, not a multiple of the model's input size "
                        f"{size} ({list(input_shape)})")
    if arr.size == 0:
        raise UserError(f"--data array {str(data)!r} holds no sample; give at least one input of shape "
                        f"{list(input_shape[1:])}")
    arr = arr.reshape((-1,) + tuple(input_shape[1:]))
    kinds = {np.dtype(np.uint8): "pixels", np.dtype(np.int8): "int8", np.dtype(np.float32): "float",
             np.dtype(np.float64): "float"}
    if arr.dtype not in kinds:
        raise UserError(f"--data array {str(data)!r} is {arr.dtype}; use uint8 pixels, int8 model inputs or float32 "
                        "model inputs")
    if kinds[arr.dtype] == "pixels" and len(input_shape) != 4:
        raise UserError(f"--data array {str(data)!r} holds uint8 pixels but the model input {list(input_shape)} is not "
                        "an image; give int8 or float32 model inputs")
    labels, names = _labels(label_file, class_names)
    if len(labels) != len(arr):
        raise UserError(f"--data has {len(arr)} samples in {data.name} but {len(labels)} labels in {label_file.name}")
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise UserError(f"labels in {label_file.name} run from {labels.min()} to {labels.max()}; the model has "
                        f"{n_classes} classes (0..{n_classes - 1})")
    names = names or [f"class_{i}" for i in range(n_classes)]
    x = arr.astype(np.float32) if kinds[arr.dtype] == "float" else arr
    return UserData(kinds[arr.dtype], x, labels, list(names), f"{data.name} with {label_file.name}")


def load_user_data(path, input_shape: tuple[int, ...], input_dtype: str, n_classes: int,
                   class_names: list[str] | None = None) -> UserData:
    """Read ``--data``: a folder of class folders of images (the folder names are the classes:
    ``class_names`` when given, else sorted), or a folder with one ``.npy``/``.bin`` array of
    samples and a labels file (``labels.txt``/``.csv``: one class index or name per sample;
    ``labels.npy``: indices). ``input_shape``: the model input ``[1, H, W, C]`` or ``[1, N]``."""
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"--data {str(root)!r} is not a folder; give a folder of class folders of images, or one with "
                        f"an array file and {LABEL_FILES[0]}")
    folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    arrays = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in ARRAY_SUFFIXES
                    and p.name not in LABEL_FILES)
    label_files = [root / n for n in LABEL_FILES if (root / n).is_file()]
    if arrays:
        if len(arrays) != 1 or len(label_files) != 1:
            raise UserError(f"--data folder {str(root)!r} must hold one array file and one of {', '.join(LABEL_FILES)} "
                            f"(found {len(arrays)} array files and {len(label_files)} labels files)")
        return _from_arrays(root, arrays[0], label_files[0], tuple(input_shape), input_dtype, n_classes, class_names)
    if folders:
        if len(input_shape) != 4:
            raise UserError(f"--data folder {str(root)!r} holds images but the model input {list(input_shape)} is not an "
                            "image; give an array file and a labels file")
        return _from_folders(root, folders, tuple(int(v) for v in input_shape[1:]), n_classes, class_names)
    raise UserError(f"--data folder {str(root)!r} holds neither class folders of images nor an array file "
                    f"({', '.join(ARRAY_SUFFIXES)}) with a labels file")
