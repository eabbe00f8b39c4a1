"""The numbers ``model_settings.h`` carries: shapes, quantization, arena size, pixel tables.

Pure functions: the caller supplies the parsed model, the measured arena and the preprocessing.
"""
from __future__ import annotations


import numpy as np

from ofa_mcu.errors import UserError

from .tflite_model import ModelInfo, TensorInfo

# Largest score difference the self-test accepts: TFLM's reference kernels are bit-exact with
# the host, optimized kernels (CMSIS-NN) may round differently by 1 LSB per layer.
SELF_TEST_TOLERANCE_LSB = 2

CTYPES = {"int8": "int8_t", "uint8": "uint8_t"}
NP_DTYPES = {"int8": np.int8, "uint8": np.uint8}


def image_dims(t: TensorInfo) -> tuple[int, int, int]:
    """(height, width, channels) of an NHWC input; a flat ``[1, N]`` input is 1 x 1 x N."""
    if len(t.shape) == 4:
        return int(t.shape[1]), int(t.shape[2]), int(t.shape[3])
    return 1, 1, int(t.shape[-1])


def tensor_context(t: TensorInfo) -> dict:
    """A tensor's description for the templates."""
    h, w, c = image_dims(t)
    return {
        "name": t.name, "shape": list(t.shape), "dtype": t.dtype, "ctype": CTYPES[t.dtype],
        "scale": float(t.scale), "zero_point": int(t.zero_point), "size": t.size,
        "height": h, "width": w, "channels": c,
    }


def default_preprocess(info: ModelInfo) -> dict:
    """Pixel / 255 per channel (mean 0, std 1) at the model's input size."""
    h, w, c = image_dims(info.input)
    return {"resolution": h, "channels": c, "mean": [0.0] * c, "std": [1.0] * c}


# The keys of ``ofa_mcu.data.preprocess.Preprocess`` (codegen may not import the data layer;
# a test pins the two together).
PREPROCESS_KEYS = ("resolution", "channels", "mean", "std", "interpolation", "source_size")
# Past this a pixel maps to +-inf before quantization: no real normalisation comes near it.
PIXEL_BOUND = 1e6


def check_preprocess(pre, where: str = "preprocess file") -> dict:
    """A preprocess mapping with finite numbers of the right kinds (``resolution`` and
    ``channels`` positive integers, ``mean``/``std`` lists of finite numbers, std > 0), else a
    one-line UserError naming the field."""
    import math

    if not isinstance(pre, dict):
        raise UserError(f"{where}: expected a JSON object with resolution, channels, mean, std")
    unknown = sorted(set(pre) - set(PREPROCESS_KEYS))
    if unknown:
        raise UserError(f"{where}: unknown keys {unknown}; expected some of {list(PREPROCESS_KEYS)}")
    if pre.get("interpolation", "bilinear") != "bilinear":
        raise UserError(f"{where}: interpolation must be 'bilinear' (the only one ofa-mcu's preprocessing has), "
                        f"got {pre['interpolation']!r}")
    for key in ("resolution", "channels"):
        v = pre.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                              or v < 1 or float(v) != int(v)):
            raise UserError(f"{where}: {key} must be a positive integer, got {v!r}")
    for key in ("mean", "std"):
        v = pre.get(key)
        if v is not None and (not isinstance(v, list) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)):
            raise UserError(f"{where}: {key} must be a list of finite numbers, one per channel, got {v!r}")
    if any(abs(m) > PIXEL_BOUND for m in pre.get("mean", [])) or any(
            not 1.0 / PIXEL_BOUND <= s <= PIXEL_BOUND for s in pre.get("std", [])):
        raise UserError(f"{where}: mean must lie in [-{PIXEL_BOUND:g}, {PIXEL_BOUND:g}] and std in "
                        f"[{1.0 / PIXEL_BOUND:g}, {PIXEL_BOUND:g}] (units of pixel / 255), got mean {pre.get('mean')} "
                        f"and std {pre.get('std')}")
    return pre


def pixel_lut(preprocess: dict, t: TensorInfo) -> np.ndarray:
    """``[C, 256]`` table: raw pixel -> quantized model input, ``q = round(p * a + b)`` clamped.

    The float model input is ``(p / 255 - mean) / std`` (``ofa_mcu.data.preprocess``), then
    quantized with the input tensor's scale and zero point.
    """
    _, _, c = image_dims(t)
    mean = [float(m) for m in preprocess.get("mean", [0.0] * c)]
    std = [float(s) for s in preprocess.get("std", [1.0] * c)]
    if len(mean) != c or len(std) != c:
        raise UserError(f"preprocess mean/std have {len(mean)}/{len(std)} values; the model input has {c} channels")
    if any(s <= 0 for s in std):
        raise UserError(f"preprocess std must be positive, got {std}")
    info = np.iinfo(NP_DTYPES[t.dtype])
    p = np.arange(256, dtype=np.float64)
    rows = []
    for m, s in zip(mean, std):
        x = (p / 255.0 - m) / s
        q = np.round(x / t.scale) + t.zero_point
        rows.append(np.clip(q, info.min, info.max))
    return np.stack(rows).astype(NP_DTYPES[t.dtype])


def preprocess_rule(preprocess: dict) -> str:
    """One line describing the pixel mapping, for comments and the README."""
    return (
        f"x = (pixel / 255 - mean) / std with mean {list(preprocess.get('mean', []))}, "
        f"std {list(preprocess.get('std', []))}, then quantized with the input scale and zero point"
    )
