"""Input preprocessing as data (for firmware) and as tensor ops (for training and evaluation).

A model input is ``(pixel / 255 - mean) / std`` per channel, at ``resolution`` x ``resolution``,
resized with bilinear interpolation. :class:`Preprocess` carries exactly those numbers so the
quantization and code-generation stages can reproduce the input on a microcontroller (the int8
model input is ``quantize((pixel / 255 - mean) / std)``).

Datasets produce fixed-size tensors (their ``image_size``); the training loop samples a
resolution per batch and calls :func:`resize_batch`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import UserError

INTERPOLATIONS = ("bilinear",)


@dataclass(frozen=True)
class Preprocess:
    """What the deployed model expects as input.

    ``mean`` and ``std`` are per channel, in units of ``pixel / 255``; ``channels`` is 1
    (grayscale) or 3 (RGB, channel order R, G, B); the layout on the device is NHWC, in PyTorch
    NCHW. ``source_size`` is the side of the images the dataset stores (28 for Fashion-MNIST),
    ``None`` when images come in any size.
    """

    resolution: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"
    source_size: int | None = None

    def __post_init__(self):
        if self.channels not in (1, 3):
            raise UserError(f"preprocess channels must be 1 or 3, got {self.channels}")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise UserError(
                f"preprocess mean/std need {self.channels} values each, got {len(self.mean)} and {len(self.std)}"
            )
        if any(s <= 0 for s in self.std):
            raise UserError(f"preprocess std must be positive, got {self.std}")
        if self.interpolation not in INTERPOLATIONS:
            raise UserError(f"unknown interpolation {self.interpolation!r}; choose one of {INTERPOLATIONS}")
        if int(self.resolution) < 1:
            raise UserError(f"preprocess resolution must be positive, got {self.resolution}")

    def with_resolution(self, resolution: int) -> "Preprocess":
        """The same preprocessing at another input resolution."""
        return dataclasses.replace(self, resolution=int(resolution))

    def to_dict(self) -> dict:
        """Plain-JSON form (lists instead of tuples)."""
        d = dataclasses.asdict(self)
        d["mean"] = [float(m) for m in self.mean]
        d["std"] = [float(s) for s in self.std]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocess":
        """Inverse of :meth:`to_dict`; unknown keys are a UserError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise UserError(f"unknown preprocess keys {sorted(unknown)}; expected some of {sorted(known)}")
        kw = dict(d)
        kw["mean"] = tuple(float(m) for m in d["mean"])
        kw["std"] = tuple(float(s) for s in d["std"])
        return cls(**kw)

    def input_scale_zero_point(self, scale: float, zero_point: int) -> dict:
        """Per-channel affine map from a raw pixel (0..255) to the int8 model input.

        ``q = round(pixel * a + b)`` with ``a = 1 / (255 * std * scale)`` and
        ``b = zero_point - mean / (std * scale)``, for a model input quantized with
        ``scale``/``zero_point``. Firmware can fold this into one multiply-add per pixel.
        """
        a = [1.0 / (255.0 * s * scale) for s in self.std]
        b = [zero_point - m / (s * scale) for m, s in zip(self.mean, self.std)]
        return {"a": a, "b": b}

    def __call__(self, images):
        """uint8 images (``[C,H,W]`` or ``[N,C,H,W]`` tensor) -> normalised float at ``resolution``."""
        x = normalize(images, self.mean, self.std)
        squeeze = x.dim() == 3
        if squeeze:
            x = x.unsqueeze(0)
        x = resize_batch(x, self.resolution)
        return x[0] if squeeze else x


def normalize(images, mean, std):
    """uint8 (or 0..255 float) images ``[..., C, H, W]`` -> ``(x / 255 - mean) / std`` as float32."""
    import torch

    x = images.to(torch.float32).div_(255.0) if images.dtype == torch.uint8 else images.float() / 255.0
    c = x.shape[-3]
    m = torch.as_tensor(mean, dtype=torch.float32).view(c, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32).view(c, 1, 1)
    return (x - m) / s


def _size_pair(size) -> tuple[int, int]:
    if isinstance(size, int):
        return (size, size)
    h, w = size
    return (int(h), int(w))


def resize_batch(x, size):
    """Resize a float batch ``[N,C,H,W]`` to ``size`` (int or ``(h, w)``), bilinear.

    ``align_corners=False``; antialiased when shrinking (torch's antialias filter matches
    Pillow's bilinear resize). Returns ``x`` itself when it already has that size.
    """
    import torch.nn.functional as F

    h, w = _size_pair(size)
    if x.shape[-2:] == (h, w):
        return x
    shrink = h < x.shape[-2] or w < x.shape[-1]
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=shrink)


@dataclass(frozen=True)
class Augment:
    """Training augmentation on uint8 images: random shift (zero-pad then crop) and h-flip.

    ``crop_padding`` pixels of zeros on each side, then a random crop back to the original
    size; ``hflip`` flips half of the images left-right. Randomness comes from torch's global
    RNG (the DataLoader seeds it per worker; call ``torch.manual_seed`` for repeatable runs).
    """

    crop_padding: int = 0
    hflip: bool = True

    def __call__(self, images, generator=None):
        """Augment a uint8 batch ``[N,C,H,W]`` (or one image ``[C,H,W]``)."""
        import torch

        squeeze = images.dim() == 3
        x = images.unsqueeze(0) if squeeze else images
        n, _, h, w = x.shape
        p = int(self.crop_padding)
        if p > 0:
            padded = torch.nn.functional.pad(x, (p, p, p, p))
            oy = torch.randint(0, 2 * p + 1, (n,), generator=generator)
            ox = torch.randint(0, 2 * p + 1, (n,), generator=generator)
            # One gather over the flattened padded image: pixel (i, j) of crop k comes from
            # padded[k, :, oy[k] + i, ox[k] + j].
            rows = oy[:, None, None] + torch.arange(h)[None, :, None]
            cols = ox[:, None, None] + torch.arange(w)[None, None, :]
            flat = (rows * (w + 2 * p) + cols).view(n, 1, h * w).expand(n, x.shape[1], h * w)
            x = padded.reshape(n, x.shape[1], -1).gather(2, flat).view_as(x)
        if self.hflip:
            flip = torch.rand(n, generator=generator) < 0.5
            x = torch.where(flip.view(n, 1, 1, 1), x.flip(-1), x)
        x = x.contiguous()
        return x[0] if squeeze else x

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return dataclasses.asdict(self)
