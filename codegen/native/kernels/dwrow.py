"""The depthwise row engine (``firmware/native/dwrow.h``) the depthwise kernels share: the
per-channel weight packing it reads and the variants the code generator compiles. Not an op
of its own."""
from __future__ import annotations

import numpy as np

from . import Kernel

MAX_SPECIALISED_K = 7
MAX_SPECIALISED_STRIDE = 2


def pack_dw_weights(w_kkc: np.ndarray) -> np.ndarray:
    """``(k, k, C)`` int8 weights -> uint32 words, per channel, per filter row, per group of
    four taps j..j+3: ``(w_j, w_j+2)`` and ``(w_j+1, w_j+3)`` as int16 pairs (low half first,
    zero past the last tap)."""
    w = np.asarray(w_kkc, dtype=np.int64)
    k, _, c = w.shape
    g = (k + 3) // 4
    taps = np.zeros((c, k, 4 * g), np.int64)
    taps[:, :, :k] = w.transpose(2, 0, 1)
    t = taps.reshape(c, k, g, 4)
    lo = np.stack([t[..., 0], t[..., 1]], axis=-1)  # (w_j, w_j+1) are the low halves
    hi = np.stack([t[..., 2], t[..., 3]], axis=-1)  # (w_j+2, w_j+3) the high halves
    words = (lo & 0xFFFF) | ((hi & 0xFFFF) << 16)
    return words.reshape(-1).astype(np.uint32)


def specialised(k: int, stride: int) -> bool:
    """Whether the engine has a compiled-in variant for this filter size and stride."""
    return k <= MAX_SPECIALISED_K and stride <= MAX_SPECIALISED_STRIDE


def variants_config(macro: str, layers, get) -> str:
    """``#define macro(X) X(k, s, mode) ...`` for the layers' ``get(layer) -> (k, s, mode)``
    variants, and ``macro_GENERIC`` when some layer needs the generic loop."""
    keys = sorted({get(l) for l in layers})
    spec = [kv for kv in keys if specialised(kv[0], kv[1])]
    text = f"#define {macro}(X) " + " ".join(f"X({k}, {s}, {m})" for k, s, m in spec) + "\n"
    if len(spec) < len(keys):
        text += f"#define {macro.removesuffix('_VARIANTS')}_GENERIC 1\n"
    return text


KERNEL = Kernel(name="dwrow", c_file="dwrow.h", doc="depthwise row engine (header only)")
