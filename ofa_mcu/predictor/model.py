"""The accuracy predictor at inference: a numpy MLP on an arch encoding (no torch needed).

A saved predictor is a directory with ``model.npz`` (the layers' weights ``W0, b0, W1, b1, ...``,
float32, ``W`` shaped (in, out)) and ``model.json`` (the encoding name, the space config, the
activation, the target de-normalisation and free-form metadata: recipe, metrics, data).
Prediction in points = ``(mlp(x) + x @ skip) * target_scale + target_shift`` with
``x = encode(batch)`` (``skip``, an optional linear path, is stored as ``skip`` in the npz).
"""
from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from ..assets import ASSETS
from ..config import SpaceConfig
from ..errors import UserError
from ..io import atomic_write_bytes, read_json, write_json
from ..space.arch import smallest_arch, validate_arch
from ..space.batch import ArchBatch
from ..space.encoding import get_encoding
from ..validate import Number

FORMAT = "ofa-mcu-accuracy-mlp/1"
MODEL_JSON = "model.json"
MODEL_NPZ = "model.npz"
PREDICTORS = ASSETS / "predictors"


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
        problem = layer_problem(self.layers, self.skip)
        if problem is not None:
            raise UserError(f"the predictor's layers do not form an MLP ({problem}); the model file is damaged")

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
        """Read a predictor saved by :meth:`save`; a missing or damaged file is a UserError.

        Everything read is checked: the layers' shapes chain from the encoding's width to one
        output, the skip matches the encoding, weights and target scale/shift are finite numbers,
        ``meta`` is a mapping and ``meta["metrics"]`` a mapping of numbers.
        """
        directory = Path(directory)
        spec = read_json(directory / MODEL_JSON, "predictor metadata")
        if not isinstance(spec, dict) or spec.get("format") != FORMAT:
            raise UserError(f"{directory / MODEL_JSON} is not an ofa-mcu accuracy predictor "
                            f"(expected format {FORMAT!r}); point at a directory written by 'predictor fit'")
        npz = directory / MODEL_NPZ
        if not npz.is_file():
            raise UserError(f"predictor weights {str(npz)!r} do not exist; re-run 'ofa-mcu predictor fit'")
        try:
            return cls._from_spec(spec, npz)
        except _Damaged as exc:
            raise UserError(f"predictor in {str(directory)!r} is damaged ({exc}); "
                            f"re-run 'ofa-mcu predictor fit'") from None

    @classmethod
    def _from_spec(cls, spec: dict, npz: Path) -> "AccuracyPredictor":
        """The predictor ``spec`` (model.json) and ``npz`` describe; :class:`_Damaged` if they are not sound."""
        encoding, space, width = _read_encoding(spec)
        layers, skip = _read_weights(npz, _json_number(spec, "n_layers", _N_LAYERS))
        problem = layer_problem(layers, skip, width)
        if problem is not None:
            raise _Damaged(f"{MODEL_NPZ}: {problem}")
        scale = _json_number(spec, "target_scale", _SCALE)
        shift = _json_number(spec, "target_shift", _FINITE)
        activation = spec.get("activation", "relu")
        if not isinstance(activation, str) or activation not in ACTIVATIONS:
            raise _Damaged(f"{MODEL_JSON}: unknown activation {activation!r}")
        return cls(layers, encoding, space, scale, shift, activation, _read_meta(spec), skip)


class _Damaged(Exception):
    """A problem found in a saved predictor's files (worded for 'predictor in DIR is damaged (...)')."""


_FINITE = Number()
_SCALE = Number(0, lo_open=True)  # the targets' standard deviation: 0 would predict one constant
_N_LAYERS = Number(1, 10_000, integer=True)


def _json_number(spec: dict, key: str, allowed: Number):
    """``spec[key]`` as a number in ``allowed``; :class:`_Damaged` naming the key otherwise."""
    if key not in spec:
        raise _Damaged(f"{MODEL_JSON} lacks {key!r}")
    value = spec[key]
    if allowed.problem(value) is not None:
        raise _Damaged(f"{MODEL_JSON}: {key} is {value!r}, not {allowed.describe()}")
    return int(value) if allowed.integer else float(value)


def _read_encoding(spec: dict) -> tuple[str, SpaceConfig, int]:
    """The encoding name, the space and the encoding's width (columns) that ``spec`` records."""
    encoding = spec.get("encoding")
    if not isinstance(encoding, str):
        raise _Damaged(f"{MODEL_JSON}: encoding {encoding!r} is not a name")
    try:
        encode = get_encoding(encoding)
    except UserError:
        raise _Damaged(f"{MODEL_JSON}: unknown encoding {encoding!r}") from None
    if not isinstance(spec.get("space"), dict):
        raise _Damaged(f"{MODEL_JSON}: 'space' is not a space config (a JSON object)")
    try:
        space = SpaceConfig.from_dict(spec["space"])
        one = ArchBatch.from_dicts([smallest_arch(space)], space, validate=False)
        width = int(encode(one, space).shape[1])
    except (UserError, TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise _Damaged(f"{MODEL_JSON}: the space config is unusable ({type(exc).__name__}: {exc})") from None
    return encoding, space, width


_NPZ_ERRORS = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error)


def _read_weights(npz: Path, n_layers: int) -> tuple[list[tuple[np.ndarray, np.ndarray | None]], np.ndarray | None]:
    """The ``n_layers`` (W, b or None) pairs and the optional skip stored in ``npz``."""
    try:
        z = np.load(npz, allow_pickle=False)
    except _NPZ_ERRORS as exc:
        raise _Damaged(f"{MODEL_NPZ} is unreadable ({type(exc).__name__}: {exc})") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise _Damaged(f"{MODEL_NPZ} is a single array, not an npz archive of layers")
    with z:
        names = set(z.files)
        stored = sum(1 for n in names if re.fullmatch(r"W\d+", n))
        if stored != n_layers or any(f"W{i}" not in names for i in range(n_layers)):
            raise _Damaged(f"{MODEL_JSON} records {n_layers} layers but {MODEL_NPZ} holds "
                           f"{', '.join(sorted(n for n in names if n.startswith('W'))) or 'no weight matrices'}")
        try:
            layers = [(_weights(z, f"W{i}"), _weights(z, f"b{i}") if f"b{i}" in names else None)
                      for i in range(n_layers)]
            skip = _weights(z, "skip") if "skip" in names else None
        except _NPZ_ERRORS as exc:
            raise _Damaged(f"{MODEL_NPZ} is unreadable ({type(exc).__name__}: {exc})") from None
    missing = [f"b{i}" for i, (_, b) in enumerate(layers) if b is None]
    if missing and len(missing) < n_layers:  # save writes every layer's bias or none
        raise _Damaged(f"{MODEL_NPZ} lacks {', '.join(missing)} (the other layers have biases)")
    return layers, skip


def _weights(z, name: str) -> np.ndarray:
    """Array ``name`` of the npz ``z``: real numbers, all finite."""
    a = z[name]
    if a.dtype.kind not in "fiu":
        raise _Damaged(f"{MODEL_NPZ}: {name} holds {a.dtype} values, not real numbers")
    if not np.isfinite(a).all():
        raise _Damaged(f"{MODEL_NPZ}: {name} holds non-finite values (NaN or infinity)")
    return a


def layer_problem(layers, skip: np.ndarray | None = None, width: int | None = None) -> str | None:
    """Why ``layers`` ((W (in, out), b (out,) or None) pairs) and ``skip`` (in,) are not the MLP
    :meth:`AccuracyPredictor.predict_encoded` runs on ``width`` encoding columns (any width when
    None): shapes chain from ``width`` to one output. None when they are."""
    if not layers:
        return "no layers"
    prev = width
    for i, (W, b) in enumerate(layers):
        if W.ndim != 2 or (prev is not None and W.shape[0] != prev):
            wanted = f"({prev if prev is not None else 'n'}, m)"
            if i == 0 and width is not None:
                wanted += ", one row per encoding column"
            return f"W{i} has shape {tuple(W.shape)}, expected {wanted}"
        if b is not None and b.shape != (W.shape[1],):
            return f"b{i} has shape {tuple(b.shape)}, expected ({W.shape[1]},)"
        prev = W.shape[1]
    if prev != 1:
        return f"the last layer has {prev} outputs, expected 1"
    inputs = layers[0][0].shape[0]
    if skip is not None and skip.shape != (inputs,):
        return f"skip has shape {tuple(skip.shape)}, expected ({inputs},)"
    return None


def _read_meta(spec: dict) -> dict:
    """``spec["meta"]`` (free-form, but a mapping), its ``metrics`` a mapping of numbers."""
    meta = spec.get("meta")
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise _Damaged(f"{MODEL_JSON}: 'meta' is a JSON {type(meta).__name__}, not an object")
    metrics = meta.get("metrics")
    if metrics is not None:
        problem = _metrics_problem(metrics, "meta.metrics")
        mae = metrics.get("mae") if problem is None else None
        if isinstance(mae, dict) or (mae is not None and mae < 0):
            problem = f"meta.metrics.mae is {mae!r}, not an error in points (a number >= 0)"
        if problem is not None:
            raise _Damaged(f"{MODEL_JSON}: {problem}")
    return meta


def _metrics_problem(value, where: str) -> str | None:
    """Why ``value`` is not a mapping of metrics (finite numbers, nulls or nested such mappings)."""
    if not isinstance(value, dict):
        return f"{where} is a JSON {type(value).__name__}, not an object of metrics"
    for key, v in value.items():
        if isinstance(v, dict):
            problem = _metrics_problem(v, f"{where}.{key}")
            if problem is not None:
                return problem
        elif v is not None and _FINITE.problem(v) is not None:
            return f"{where}.{key} is {v!r}, not a finite number"
    return None


def shipped_predictors() -> list[str]:
    """Names of the predictors shipped in the package (one per space)."""
    if not PREDICTORS.is_dir():
        return []
    return sorted(p.name for p in PREDICTORS.iterdir() if (p / MODEL_JSON).is_file())


def load_predictor(name_or_path: str | Path) -> AccuracyPredictor:
    """The shipped predictor for a space name (e.g. ``"vww"``), or one saved in a directory."""
    path = Path(name_or_path)
    if path.is_dir():
        return AccuracyPredictor.load(path)
    if str(name_or_path) in shipped_predictors():
        return AccuracyPredictor.load(PREDICTORS / str(name_or_path))
    raise UserError(f"no predictor {str(name_or_path)!r}: not a directory and not a shipped predictor "
                    f"(shipped: {', '.join(shipped_predictors()) or 'none'}); train one with 'ofa-mcu predictor fit'")
