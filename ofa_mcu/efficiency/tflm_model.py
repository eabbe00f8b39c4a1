"""Calibrated TFLite-Micro memory model: the real arena and flatbuffer size from the arch alone.

``tflm_arena_bytes = head + tail``, as TFLM's ``print_allocations`` splits it:

- **head** (the activation plan): TFLM's greedy layout of the 16-byte-aligned activation
  buffers of the converted op list (:mod:`ofa_mcu.space.ops`: PAD copies, SE tensors,
  residuals kept live), computed exactly and vectorized in :mod:`.tflm_plan`. No fitting; it
  equals TFLM's head on every measured subnet. It holds bytes of data, so it is the same on the
  host and on a 32-bit MCU.
- **tail** (persistent data: per-channel requantization arrays, op data, node and tensor
  structs): a linear model over counts of the graph, fitted by least squares on real
  measurements of the host (64-bit) interpreter.
- a floor: while planning, TFLM needs ``PLANNING_FLOOR_BYTES`` plus per-tensor and per-op
  bookkeeping on the head side; when that exceeds the plan (small, deep subnets) it sets the
  arena instead of the head.
- **flatbuffer**: a linear model over weight bytes, bias bytes, channels, ops and tensors.

Host vs target: the measurements come from the ``tflite-micro`` wheel, a 64-bit build whose
structs hold 8-byte pointers. ``tflm_arena_bytes_host`` is that figure. ``tflm_arena_bytes_target``
(and ``sram_bytes``) is the figure for a 32-bit Cortex-M: the host tail minus the per-struct size
differences in :data:`STRUCT_BYTES` (``sizeof`` on x86-64 vs ``arm-none-eabi`` for TFLM's
structs; see that table for provenance), with a plain ``MicroInterpreter`` (not the recording
allocator the Python wrapper uses) and TFLM's reference kernels (CMSIS-NN kernels request
extra scratch that is not counted here).

The calibration lives in ``ofa_mcu/assets/calibration/<space>.json`` with the tflite-micro and
TensorFlow versions it was made with; a different installed tflite-micro is refused unless
``allow_version_mismatch=True`` (then a warning is issued).
"""
from __future__ import annotations

import datetime
import warnings
from pathlib import Path

import numpy as np

from ..config import VWW, SpaceConfig
from ..errors import UserError
from ..assets import ASSETS
from ..io import read_json
from ..space.batch import ArchBatch, build_batch_table
from .analytic import CHUNK, batch_lab_peak, batch_macs, batch_params
from .base import EfficiencyModel, register_efficiency_model
from .tflm_plan import align, batch_graph, batch_head

CALIBRATION_DIR = ASSETS / "calibration"
FORMAT_VERSION = 1

# Features of the two linear models (names of batch_graph's counts; "one" is the intercept).
TAIL_FEATURES = ("one", "n_conv", "n_dw", "n_pad", "n_mean", "n_mul", "n_add", "n_tensors", "channel_array_bytes")
FLASH_FEATURES = ("one", "weight_bytes", "bias_bytes", "conv_channels", "n_ops", "n_tensors", "n_conv")

# Struct sizes in bytes: (64-bit host, 32-bit Cortex-M). Host figures are what the wheel's
# RecordingMicroAllocator reports per allocation (TfLiteEvalTensor 24, NodeAndRegistration 64,
# persistent TfLiteTensor 64, quantization 24 + 8). Target figures are sizeof() from TFLM's
# headers (the xmos-ai-tools wheel) compiled with arm-none-eabi-g++ -mcpu=cortex-m4 (AAPCS,
# short enums) and with g++ x86-64 for comparison; where the wheel's structs are larger than
# those headers' host sizes (TfLiteNode, TfLiteTensor gained fields), the extra host bytes are
# taken to be pointers (half the size on 32 bits).
STRUCT_BYTES = {
    "TfLiteEvalTensor": (24, 12),  # per tensor, one array allocation
    "NodeAndRegistration": (64, 32),  # per op, one array allocation (TfLiteNode + registration pointer)
    "OpDataConv": (72, 56),  # per CONV_2D / DEPTHWISE_CONV_2D, 16-byte aligned persistent buffer
    "TfLiteAddParams": (8, 4),  # per ADD (builtin data, 4-byte aligned)
    "TfLiteFullyConnectedParams": (16, 8),  # one FC
    "persistent_io_tensors": (2 * 64, 2 * 36),  # input and output TfLiteTensor the app asks for
    "io_quantization": (2 * 24, 2 * 12),  # their TfLiteAffineQuantization
    "SubgraphAllocations": (16, 8),
    # RecordingMicroAllocator + its buffer allocator + GreedyMemoryPlanner (host, Python wrapper)
    # vs MicroAllocator + SingleArenaBufferAllocator + GreedyMemoryPlanner (target firmware).
    "allocator_objects": (248 + 72 + 72, 36 + 36 + 44),
    # Planning temporaries (see PLANNING_FLOOR_BYTES): one AllocationInfo per tensor and the
    # greedy planner's per-buffer bookkeeping (ints only) per planned activation.
    "AllocationInfo": (32, 24),
    "planner_per_buffer": (40, 40),
    "ScratchBufferRequest": (16, 12),  # temporary, per scratch request
    "ScratchBufferHandle": (8, 4),  # persistent (tail), per scratch request
}

# While TFLM plans the activations, the head side of the arena holds one AllocationInfo per
# tensor and per scratch-buffer request, the greedy planner's per-buffer bookkeeping for every
# planned buffer (activations and scratch) and the ScratchBufferRequest array. Each MEAN asks for
# SCRATCH_PER_MEAN tiny scratch buffers. A deep, narrow subnet at a small resolution (small plan,
# many tensors) then needs more than its final head: measured on 9 such Fashion-MNIST subnets
# (32 px, width 0.5, 17-21 blocks), this formula left a residual of -8..+8 B (alignment);
# PLANNING_FLOOR_BYTES takes the largest.
SCRATCH_PER_MEAN = 3
PLANNING_FLOOR_BYTES = 8


def target_tail_delta(g: dict[str, np.ndarray]) -> np.ndarray:
    """Bytes by which a 32-bit Cortex-M's tail is smaller than the 64-bit host's, per arch."""
    s = STRUCT_BYTES
    d = align(s["TfLiteEvalTensor"][0] * g["n_tensors"]) - align(s["TfLiteEvalTensor"][1] * g["n_tensors"])
    d = d + align(s["NodeAndRegistration"][0] * g["n_ops"]) - align(s["NodeAndRegistration"][1] * g["n_ops"])
    d = d + (align(s["OpDataConv"][0]) - align(s["OpDataConv"][1])) * g["n_conv"]
    d = d + (s["TfLiteAddParams"][0] - s["TfLiteAddParams"][1]) * g["n_add"]
    d = d + align(s["ScratchBufferHandle"][0] * SCRATCH_PER_MEAN * g["n_mean"]) - align(
        s["ScratchBufferHandle"][1] * SCRATCH_PER_MEAN * g["n_mean"])
    fixed = sum(s[k][0] - s[k][1] for k in ("TfLiteFullyConnectedParams", "persistent_io_tensors",
                                            "io_quantization", "SubgraphAllocations", "allocator_objects"))
    return d + fixed


def planning_floor(g: dict[str, np.ndarray], target: bool) -> np.ndarray:
    """Head-side bytes TFLM needs while planning (host or 32-bit target)."""
    i = 1 if target else 0
    scratch = SCRATCH_PER_MEAN * g["n_mean"] + g.get("n_scratch", 0)
    return (align(STRUCT_BYTES["AllocationInfo"][i] * (g["n_tensors"] + scratch))
            + STRUCT_BYTES["planner_per_buffer"][i] * (g["n_ops"] + 1 + scratch)
            + STRUCT_BYTES["ScratchBufferRequest"][i] * scratch + PLANNING_FLOOR_BYTES)


# Kernel sets of the target arena: TFLM's reference kernels, CMSIS-NN on cores with the DSP
# extension (M4, M7, M33) and without it (M0+); they differ in the scratch buffers they ask for.
TARGET_KERNELS = ("reference", "cmsis-nn", "cmsis-nn-nodsp")
# The 32-bit tail's correction over the struct-size derivation, fitted per kernel set on QEMU
# measurements (``ofa-mcu calibrate --target``): a constant and a cost per scratch request.
TARGET_FEATURES = ("one", "n_scratch")


def scratch_kernels(kernels: str, core: str) -> str:
    """The :data:`TARGET_KERNELS` entry of a TFLM kernel set on ``core``."""
    if kernels == "cmsis-nn" and core in ("cortex-m0", "cortex-m0plus", "cortex-m3"):
        return "cmsis-nn-nodsp"
    return kernels


def _features(g: dict[str, np.ndarray], names) -> np.ndarray:
    n = g["head"].shape[0]
    cols = [np.ones(n) if k == "one" else np.asarray(g[k], dtype=np.float64) for k in names]
    return np.stack(cols, axis=1)


def graph_arrays(batch: ArchBatch, cfg: SpaceConfig, kernels: str = "reference") -> dict[str, np.ndarray]:
    """The head (planned for ``kernels``) and the counts of the converted graph for every arch."""
    return batch_graph(build_batch_table(batch, cfg), kernels=kernels)


def fit_linear(g: dict[str, np.ndarray], y: np.ndarray, names) -> list[float]:
    """Least-squares coefficients of ``y`` over the named features."""
    x = _features(g, names)
    coef, *_ = np.linalg.lstsq(x, np.asarray(y, dtype=np.float64), rcond=None)
    return [float(c) for c in coef]


def predict_linear(g: dict[str, np.ndarray], coef, names) -> np.ndarray:
    """Rounded prediction of a fitted linear model."""
    return np.rint(_features(g, names) @ np.asarray(coef, dtype=np.float64)).astype(np.int64)


# ---- calibration files ----------------------------------------------------------------------

def default_calibration_path(space: str) -> Path:
    """The packaged calibration of a space."""
    return CALIBRATION_DIR / f"{space}.json"


def installed_versions() -> dict[str, str]:
    """Versions of the tools a calibration depends on."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for key, pkg in (("tflite_micro", "tflite-micro"), ("tensorflow", "tensorflow-cpu")):
        try:
            out[key] = version(pkg)
        except PackageNotFoundError:
            try:
                out[key] = version(pkg.replace("-cpu", ""))
            except PackageNotFoundError:
                out[key] = "not installed"
    return out


def load_calibration(space: str, path: str | Path | None = None, allow_version_mismatch: bool = False) -> dict:
    """Read a calibration and check it was made with the installed tflite-micro."""
    path = Path(path) if path else default_calibration_path(space)
    if not path.is_file():
        raise UserError(f"no TFLM calibration for space {space!r} at {str(path)!r}; "
                        f"run `ofa-mcu calibrate --space {space}` first")
    cal = read_json(path, "TFLM calibration")
    if not isinstance(cal, dict) or cal.get("format") != FORMAT_VERSION or cal.get("space") != space:
        raise UserError(f"{str(path)!r} is not a format-{FORMAT_VERSION} TFLM calibration of space {space!r}; "
                        f"regenerate it with `ofa-mcu calibrate --space {space}`")
    have = installed_versions()["tflite_micro"]
    made = cal["versions"]["tflite_micro"]
    if have != made:
        msg = (f"the TFLM calibration of space {space!r} was made with tflite-micro {made}, but {have} is "
               f"installed; re-run `ofa-mcu calibrate --space {space}`")
        if not allow_version_mismatch:
            raise UserError(msg + " (or pass allow_version_mismatch=True to use it anyway)")
        warnings.warn(msg, stacklevel=2)
    return cal


@register_efficiency_model("tflm")
class TFLMEfficiency(EfficiencyModel):
    """Real TFLite-Micro memory, calibrated: ``sram_bytes`` is the arena on a 32-bit Cortex-M
    (``tflm_arena_bytes_target``), ``flash_bytes`` the int8 flatbuffer (firmware code is added
    by the board catalog). Also reports the 64-bit host arena and its head/tail split.

    ``plan="greedy"`` (default) simulates TFLM's memory planner exactly; ``plan="peak"`` uses the
    peak of live bytes instead (several times faster; under-estimates the ~1 % of subnets where
    the planner fragments, by up to 7 % measured)."""

    name = "tflm"

    def __init__(self, cfg: SpaceConfig = VWW, calibration: str | Path | dict | None = None,
                 allow_version_mismatch: bool = False, plan: str = "greedy", kernels: str = "reference"):
        super().__init__(cfg)
        if plan not in ("greedy", "peak"):
            raise UserError(f"unknown activation plan {plan!r}; choose 'greedy' (exact, TFLM's planner) or "
                            "'peak' (peak of live bytes: a lower bound, several times faster)")
        if kernels not in TARGET_KERNELS:
            raise UserError(f"unknown kernel set {kernels!r}; choose one of {', '.join(TARGET_KERNELS)}")
        self.plan = plan
        self.kernels = kernels
        if isinstance(calibration, dict):
            self.calibration = calibration
        else:
            self.calibration = load_calibration(cfg.name, calibration, allow_version_mismatch)

    def evaluate_batch(self, batch: ArchBatch) -> dict[str, np.ndarray]:
        """All metrics for every arch (int64 arrays)."""
        parts = [self._chunk(batch.take(slice(i, i + CHUNK))) for i in range(0, len(batch), CHUNK)]
        if not parts:
            return {k: np.zeros(0, np.int64) for k in METRICS}
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def _chunk(self, batch: ArchBatch) -> dict[str, np.ndarray]:
        bt = build_batch_table(batch, self.cfg)
        greedy = self.plan == "greedy"
        g = batch_graph(bt, greedy=greedy)
        out = predict_from_graph(g, self.calibration)
        if self.kernels != "reference":  # the host figures stay the reference kernels'
            gk = {**g, **batch_head(bt, self.kernels, greedy)}
            tk = predict_from_graph(gk, self.calibration, self.kernels)
            for key in ("sram_bytes", "tflm_arena_bytes_target", "tflm_tail_bytes_target", "tflm_head_bytes_target"):
                out[key] = tk[key]
        return out | {
            "macs": batch_macs(bt), "params": batch_params(bt), "peak_lab_bytes": batch_lab_peak(bt)}

    def describe(self) -> dict[str, str]:
        """Meaning of each metric."""
        return {
            "sram_bytes": f"TFLM arena on a 32-bit Cortex-M with the {self.kernels} kernels (head with their scratch "
                          "buffers + tail: host tail minus 64-bit struct overhead, corrected by QEMU measurements)",
            "flash_bytes": "the int8 .tflite flatbuffer (weights, biases, quantization, graph); firmware code extra",
            "tflm_arena_bytes_host": "TFLM arena of the 64-bit host interpreter (what `ofa-mcu measure` reports)",
            "tflm_arena_bytes_target": "same as sram_bytes",
            "tflm_head_bytes": "activation plan: TFLM's greedy layout (host, reference kernels)",
            "tflm_head_bytes_target": "activation plan on the target: with the kernel set's scratch buffers",
            "tflm_peak_live_bytes": "peak of live activation bytes over ops (a lower bound of the head)",
            "tflm_tail_bytes_host": "persistent data, 64-bit host",
            "tflm_tail_bytes_target": "persistent data, 32-bit target (derived from struct sizes)",
        }


METRICS = ("macs", "params", "peak_lab_bytes", "tflm_peak_live_bytes", "sram_bytes", "flash_bytes", "tflm_arena_bytes",
           "tflm_arena_bytes_host", "tflm_arena_bytes_target", "tflm_head_bytes", "tflm_head_bytes_target",
           "tflm_tail_bytes_host",
           "tflm_tail_bytes_target", "tflite_bytes")


def target_correction(g: dict[str, np.ndarray], cal: dict, kernels: str = "reference") -> np.ndarray:
    """The fitted correction of the derived 32-bit tail for ``kernels`` (0 without one)."""
    fit = cal.get("target", {}).get(kernels)
    if not fit:
        return np.zeros(g["head"].shape[0], np.int64)
    return predict_linear(g, fit["coef"], fit["features"])


def predict_from_graph(g: dict[str, np.ndarray], cal: dict, kernels: str = "reference") -> dict[str, np.ndarray]:
    """Memory metrics from the graph arrays (planned for ``kernels``) and a calibration."""
    head = g["head"]
    tail_host = predict_linear(g, cal["tail"]["coef"], cal["tail"]["features"])
    tail_target = tail_host - target_tail_delta(g) + target_correction(g, cal, kernels)
    flash = predict_linear(g, cal["flash"]["coef"], cal["flash"]["features"])
    host = tail_host + np.maximum(head, planning_floor(g, target=False))
    target = tail_target + np.maximum(head, planning_floor(g, target=True))
    return {"sram_bytes": target, "flash_bytes": flash, "tflm_arena_bytes": host, "tflm_arena_bytes_host": host,
            "tflm_arena_bytes_target": target, "tflm_head_bytes": head, "tflm_head_bytes_target": head,
            "tflm_tail_bytes_host": tail_host,
            "tflm_tail_bytes_target": tail_target, "tflite_bytes": flash, "tflm_peak_live_bytes": g["peak_live"]}


# ---- fitting and error tables ---------------------------------------------------------------

def _records_graph(records: list[dict], cfg: SpaceConfig) -> dict[str, np.ndarray]:
    return graph_arrays(ArchBatch.from_dicts([r["arch"] for r in records], cfg), cfg)


def error_stats(pred: np.ndarray, real: np.ndarray) -> dict:
    """max / median / mean absolute error in percent of the real value, and max bytes."""
    real = np.asarray(real, dtype=np.float64)
    err = np.abs(np.asarray(pred, dtype=np.float64) - real)
    pct = 100.0 * err / real
    return {"n": int(real.shape[0]), "max_pct": float(pct.max()), "median_pct": float(np.median(pct)),
            "mean_pct": float(pct.mean()), "max_bytes": int(err.max())}


def error_table(records: list[dict], cal: dict, cfg: SpaceConfig) -> dict:
    """Errors of the calibration and of the lab estimate on measured records (host figures:
    the measurements are host figures)."""
    g = _records_graph(records, cfg)
    pred = predict_from_graph(g, cal)
    bt = build_batch_table(ArchBatch.from_dicts([r["arch"] for r in records], cfg), cfg)
    real = {k: np.array([r[k] for r in records]) for k in ("tflm_arena_bytes", "head", "tail", "tflite_bytes")}
    return {
        "arena_host": error_stats(pred["tflm_arena_bytes_host"], real["tflm_arena_bytes"]),
        "head": error_stats(pred["tflm_head_bytes"], real["head"]),
        "tail_host": error_stats(pred["tflm_tail_bytes_host"], real["tail"]),
        "tflite_bytes": error_stats(pred["tflite_bytes"], real["tflite_bytes"]),
        "lab_estimate_vs_arena_host": error_stats(batch_lab_peak(bt), real["tflm_arena_bytes"]),
        "lab_flash_vs_tflite_bytes": error_stats(batch_params(bt), real["tflite_bytes"]),
        "target_vs_host_arena_pct": float(np.median(100.0 * (pred["tflm_arena_bytes_target"]
                                                              - pred["tflm_arena_bytes_host"])
                                                     / pred["tflm_arena_bytes_host"])),
    }


def fit_calibration(fit_records: list[dict], holdout_records: list[dict], cfg: SpaceConfig) -> dict:
    """Fit the tail and flatbuffer models on ``fit_records`` and report errors on both sets."""
    if len(fit_records) < len(TAIL_FEATURES) + 2:
        raise UserError(f"{len(fit_records)} fit measurements are too few for {len(TAIL_FEATURES)} tail features; "
                        f"measure at least {len(TAIL_FEATURES) + 2} subnets for the fit")
    g = _records_graph(fit_records, cfg)
    cal = {
        "format": FORMAT_VERSION,
        "space": cfg.name,
        "versions": installed_versions(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "converter": "ofa_mcu.quant.convert_int8 (tf path, names stripped); host TFLM, reference kernels",
        "tail": {"features": list(TAIL_FEATURES), "coef": fit_linear(g, [r["tail"] for r in fit_records],
                                                                     TAIL_FEATURES)},
        "flash": {"features": list(FLASH_FEATURES), "coef": fit_linear(g, [r["tflite_bytes"] for r in fit_records],
                                                                       FLASH_FEATURES)},
        "struct_bytes_host_target": {k: list(v) for k, v in STRUCT_BYTES.items()},
        "n_fit": len(fit_records),
        "n_holdout": len(holdout_records),
    }
    cal["errors"] = {"fit": error_table(fit_records, cal, cfg)}
    if holdout_records:
        cal["errors"]["holdout"] = error_table(holdout_records, cal, cfg)
    # The measurements themselves, so anyone can refit or audit the calibration.
    cal["measurements"] = {"fit": [_compact(r) for r in fit_records],
                           "holdout": [_compact(r) for r in holdout_records]}
    return cal


MEASUREMENT_KEYS = ("arch", "tflm_arena_bytes", "head", "tail", "tflite_bytes", "convert_seconds")


def _compact(record: dict) -> dict:
    return {k: record[k] for k in MEASUREMENT_KEYS if k in record}


def calibration_records(cal: dict, which: str = "holdout") -> list[dict]:
    """The measurements stored in a calibration (``"fit"`` or ``"holdout"``), as records that
    :func:`fit_calibration` and the measurement cache accept."""
    return [{"space": cal["space"], "tflm_version": cal["versions"]["tflite_micro"], **r}
            for r in cal["measurements"][which]]


def format_error_table(cal: dict) -> str:
    """The calibration's error table as text (percent of the real host value)."""
    rows = [("arena_host", "TFLM arena, this model (host)"), ("head", "  head (activation plan)"),
            ("tail_host", "  tail (persistent, host)"), ("tflite_bytes", "flatbuffer bytes, this model"),
            ("lab_estimate_vs_arena_host", "TFLM arena, lab peak estimate"),
            ("lab_flash_vs_tflite_bytes", "flatbuffer, lab (1 B/param)")]
    lines = [f"TFLM calibration of space {cal['space']!r} (tflite-micro {cal['versions']['tflite_micro']}, "
             f"tensorflow {cal['versions']['tensorflow']}, {cal['date']})",
             f"{'metric':<34}{'set':<9}{'n':>4}{'max %':>10}{'median %':>10}{'max bytes':>11}"]
    for set_name, table in cal["errors"].items():
        for key, label in rows:
            e = table[key]
            lines.append(f"{label:<34}{set_name:<9}{e['n']:>4}{e['max_pct']:>10.3f}{e['median_pct']:>10.3f}"
                         f"{e['max_bytes']:>11}")
    hold = cal["errors"].get("holdout", cal["errors"]["fit"])
    lines.append(f"32-bit target arena vs host arena: {hold['target_vs_host_arena_pct']:+.2f} % (median; derived "
                 "from struct sizes, not measured)")
    return "\n".join(lines)


# ---- the 32-bit target, from QEMU measurements -----------------------------------------------

def target_graph(records: list[dict], cfg: SpaceConfig, kernels: str) -> dict[str, np.ndarray]:
    """Graph arrays of the records' archs planned for ``kernels``."""
    return graph_arrays(ArchBatch.from_dicts([r["arch"] for r in records], cfg), cfg, kernels)


def _target_measured(records: list[dict], key: str) -> np.ndarray:
    return np.array([r["target"][key]["arena_used_bytes"] for r in records], dtype=np.int64)


def target_errors(records: list[dict], cal: dict, cfg: SpaceConfig) -> dict[str, dict]:
    """Per measured ``core/kernels``: errors of the calibration's target arena against the
    arena the firmware reported on QEMU, and of the 64-bit host figure plus the margin the
    project used before the target was calibrated."""
    out = {}
    keys = sorted({k for r in records for k in r.get("target", {})})
    for key in keys:
        core, kernels = key.split("/")
        rs = [r for r in records if key in r.get("target", {})]
        kk = scratch_kernels(kernels, core)
        pred = predict_from_graph(target_graph(rs, cfg, kk), cal, kk)["tflm_arena_bytes_target"]
        real = _target_measured(rs, key)
        host = np.array([r["tflm_arena_bytes"] for r in rs], dtype=np.float64)
        out[key] = {"calibrated": error_stats(pred, real),
                    "signed_max_bytes": int(np.max(pred - real)), "signed_min_bytes": int(np.min(pred - real)),
                    "host_plus_10pct_short_of_target": int(np.sum(host * 1.1 + 1024 < real))}
    return out


def fit_target(fit_records: list[dict], holdout_records: list[dict], cal: dict, cfg: SpaceConfig) -> dict:
    """Fit the 32-bit tail correction per kernel set (every core measured pooled: the arena
    depends on the word size and the kernels, not on M4 vs M7) on ``fit_records``; returns the
    calibration with ``target`` filled in and its errors on both sets."""
    cal = {**cal, "target": {}}
    by_kernels: dict[str, list[tuple[dict, str]]] = {}
    for r in fit_records:
        for key in r.get("target", {}):
            core, kernels = key.split("/")
            by_kernels.setdefault(scratch_kernels(kernels, core), []).append((r, key))
    for kk, pairs in sorted(by_kernels.items()):
        rs = [r for r, _ in pairs]
        g = target_graph(rs, cfg, kk)
        base = predict_from_graph(g, {**cal, "target": {}}, kk)["tflm_arena_bytes_target"]
        real = np.array([r["target"][key]["arena_used_bytes"] for r, key in pairs], dtype=np.float64)
        coef = fit_linear(g, real - base, TARGET_FEATURES)
        cal["target"][kk] = {"features": list(TARGET_FEATURES), "coef": coef, "n_fit": len(pairs)}
    cal["target_errors"] = {"fit": target_errors(fit_records, cal, cfg)}
    if holdout_records:
        cal["target_errors"]["holdout"] = target_errors(holdout_records, cal, cfg)
    cal["target_measurements"] = {"fit": [_compact_target(r) for r in fit_records],
                                  "holdout": [_compact_target(r) for r in holdout_records]}
    return cal


def _compact_target(r: dict) -> dict:
    return {"arch": r["arch"], "tflm_arena_bytes": r["tflm_arena_bytes"],
            "target": {k: {"arena_used_bytes": v["arena_used_bytes"], "stack_used_bytes": v.get("stack_used_bytes")}
                       for k, v in r["target"].items()}}


def format_target_table(cal: dict) -> str:
    """The target errors as text: per core/kernels and set, the calibrated error and how many
    subnets the old rule (host + 10 % + 1 KiB) would have left short of arena."""
    lines = [f"{'target':<24}{'set':<9}{'n':>4}{'max %':>9}{'max B':>8}{'signed B':>16}{'host+10% short':>16}"]
    for set_name, table in cal.get("target_errors", {}).items():
        for key, e in table.items():
            c = e["calibrated"]
            lines.append(f"{key:<24}{set_name:<9}{c['n']:>4}{c['max_pct']:>9.3f}{c['max_bytes']:>8}"
                         f"{e['signed_min_bytes']:>8}..{e['signed_max_bytes']:<6}{e['host_plus_10pct_short_of_target']:>16}")
    return "\n".join(lines)
