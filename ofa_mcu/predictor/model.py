"""The accuracy predictor at inference: a numpy MLP on an arch encoding (no torch needed).

A saved predictor is a directory with ``model.npz`` (the layers' weights ``W0, b0, W1, b1, ...``,
float32, ``W`` shaped (in, out)) and ``model.json`` (the encoding name, the space config, the
activation, the target de-normalisation and free-form metadata: recipe, metrics, data).
Prediction in points = ``(mlp(x) + x @ skip) * target_scale + target_shift`` with
``x = encode(batch)`` (``skip``, an optional linear path, is stored as ``skip`` in the npz).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from ..config import SpaceConfig
from ..errors import UserError
from ..io import atomic_write_bytes, read_json, write_json
from ..space.arch import validate_arch
from ..space.batch import ArchBatch
from ..space.encoding import get_encoding

FORMAT = "ofa-mcu-accuracy-mlp/1"
MODEL_JSON = "model.json"
MODEL_NPZ = "model.npz"
ASSETS = Path(__file__).resolve().parents[1] / "assets" / "predictors"


def _relu(h: np.ndarray) -> np.ndarray:
    return np.maximum(h, 0.0, out=h)


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"relu": _relu}


class AccuracyPredictor:
    """Predicts top-1 accuracy (points, %) of archs of one space from an MLP on an encoding.

    ``layers`` is a list of ``(W (in, out), b (out,) or None)`` float32 pairs; the activation
    runs between layers, not after the last one (which has one output).
    """

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray | None]], encoding: str, space: SpaceConfig,
                 target_scale: float = 1.0, target_shift: float = 0.0, activation: str = "relu",
                 meta: dict | None = None, skip: np.ndarray | None = None):
        if activation not in ACTIVATIONS:
            raise UserError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        self.layers = [(np.ascontiguousarray(W, dtype=np.float32),
                        None if b is None else np.ascontiguousarray(b, dtype=np.float32)) for W, b in layers]
        self.encoding = encoding
        self._encode = get_encoding(encoding)
        self.space = space
        self.target_scale = float(target_scale)
        self.target_shift = float(target_shift)
        self.activation = activation
        self._act = ACTIVATIONS[activation]
        self.meta = dict(meta or {})
        self.skip = None if skip is None else np.ascontiguousarray(skip, dtype=np.float32).reshape(-1)
        if self.layers[-1][0].shape[1] != 1:
            raise UserError("the predictor's last layer must have one output; the model file is damaged")

    @property
    def mae(self) -> float:
        """The mean absolute error (points) measured on the predictor's held-out pairs (0 unknown)."""
        return float((self.meta.get("metrics") or {}).get("mae") or 0.0)

    @property
    def input_dim(self) -> int:
        """Length of the encoding the first layer expects."""
        return self.layers[0][0].shape[0]

    def encode(self, batch: ArchBatch) -> np.ndarray:
        """The (N, input_dim) float32 encoding of ``batch``."""
        return self._encode(batch, self.space)

    def predict_encoded(self, x: np.ndarray) -> np.ndarray:
        """Accuracy in points for already-encoded rows ``x`` (N, input_dim), float64."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise UserError(f"the predictor expects {self.input_dim} encoding columns ({self.encoding!r}), "
                            f"got shape {x.shape}; was it trained for space {self.space.name!r}?")
        h = x
        last = len(self.layers) - 1
        for i, (W, b) in enumerate(self.layers):
            h = h @ W
            if b is not None:
                h += b
            if i < last:
                h = self._act(h)
        out = h[:, 0]
        if self.skip is not None:
            out = out + x @ self.skip
        return out.astype(np.float64) * self.target_scale + self.target_shift

    def predict_batch(self, batch: ArchBatch) -> np.ndarray:
        """Accuracy in points (%) of every arch in ``batch``, float64 (N,)."""
        if len(batch) == 0:
            return np.zeros(0, dtype=np.float64)
        return self.predict_encoded(self.encode(batch))

    def predict(self, arch: Mapping) -> float:
        """Accuracy in points (%) of one arch dict (validated against the predictor's space)."""
        batch = ArchBatch.from_dicts([validate_arch(arch, self.space)], self.space, validate=False)
        return float(self.predict_batch(batch)[0])

    # ---- files ----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        """Write ``model.npz`` and ``model.json`` into ``directory`` (atomically, file by file)."""
        import io as _io

        directory = Path(directory)
        arrays = {}
        for i, (W, b) in enumerate(self.layers):
            arrays[f"W{i}"] = W
            if b is not None:
                arrays[f"b{i}"] = b
        if self.skip is not None:
            arrays["skip"] = self.skip
        buf = _io.BytesIO()
        np.savez_compressed(buf, **arrays)
        atomic_write_bytes(directory / MODEL_NPZ, buf.getvalue())
        write_json(directory / MODEL_JSON, {
            "format": FORMAT,
            "encoding": self.encoding,
            "space": self.space.to_dict(),
            "activation": self.activation,
            "n_layers": len(self.layers),
            "layer_sizes": [int(self.layers[0][0].shape[0])] + [int(W.shape[1]) for W, _ in self.layers],
            "target_scale": self.target_scale,
            "target_shift": self.target_shift,
            "meta": self.meta,
        })

    @classmethod
    def load(cls, directory: str | Path) -> "AccuracyPredictor":
        """Read a predictor saved by :meth:`save`; a missing or damaged file is a UserError."""
        directory = Path(directory)
        spec = read_json(directory / MODEL_JSON, "predictor metadata")
        if not isinstance(spec, dict) or spec.get("format") != FORMAT:
            raise UserError(f"{directory / MODEL_JSON} is not an ofa-mcu accuracy predictor "
                            f"(expected format {FORMAT!r}); point at a directory written by 'predictor fit'")
        npz = directory / MODEL_NPZ
        if not npz.is_file():
            raise UserError(f"predictor weights {str(npz)!r} do not exist; re-run 'ofa-mcu predictor fit'")
        try:
            with np.load(npz) as z:
                layers = [(z[f"W{i}"], z[f"b{i}"] if f"b{i}" in z else None) for i in range(int(spec["n_layers"]))]
                skip = z["skip"] if "skip" in z else None
            space = SpaceConfig.from_dict(spec["space"])
            return cls(layers, spec["encoding"], space, spec["target_scale"], spec["target_shift"],
                       spec.get("activation", "relu"), spec.get("meta", {}), skip)
        except (OSError, KeyError, ValueError, TypeError) as exc:
            if isinstance(exc, UserError):
                raise
            raise UserError(f"predictor in {str(directory)!r} is damaged ({type(exc).__name__}: {exc}); "
                            f"re-run 'ofa-mcu predictor fit'") from None


def shipped_predictors() -> list[str]:
    """Names of the predictors shipped in the package (one per space)."""
    if not ASSETS.is_dir():
        return []
    return sorted(p.name for p in ASSETS.iterdir() if (p / MODEL_JSON).is_file())


def load_predictor(name_or_path: str | Path) -> AccuracyPredictor:
    """The shipped predictor for a space name (e.g. ``"vww"``), or one saved in a directory."""
    path = Path(name_or_path)
    if path.is_dir():
        return AccuracyPredictor.load(path)
    if str(name_or_path) in shipped_predictors():
        return AccuracyPredictor.load(ASSETS / str(name_or_path))
    raise UserError(f"no predictor {str(name_or_path)!r}: not a directory and not a shipped predictor "
                    f"(shipped: {', '.join(shipped_predictors()) or 'none'}); train one with 'ofa-mcu predictor fit'")
