"""Rebuild the reference facts in tests/data from the lab's files in ../shared/reference.

    OFA_MCU_SHARED=/path/to/shared python tests/data/make_data.py

- space_fixtures.json.gz: ``shared/reference/space_fixtures.json`` (205 archs with the lab
  implementation's exact MACs, params, peak estimate and layer lists), gzip-compressed.
- state_dict_manifest.json: every key, shape and dtype of the lab supernet's state_dict.
- lab_vww_acc/vww_acc_heldout.json.gz: the 10,000 (arch, top-1 %) pairs the shipped VWW
  predictor held out when it was fitted (its recorded split of the lab's 50,000 pairs, in
  that order), in the lab's pair-file format. MIT licence (lab_vww_acc/LICENSE).
- float_island_int8.tflite: made here by :func:`float_island` (needs TensorFlow): int8 input
  and output, but DEQUANTIZE -> SIN (float) -> QUANTIZE inside, which deploy must refuse.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("OFA_MCU_SHARED", HERE.parents[2] / "shared"))


def float_island() -> bytes:
    """An int8-in, int8-out model that computes in float inside (FC -> SIN -> FC)."""
    import numpy as np
    import tensorflow as tf

    w1 = tf.constant(np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32))
    w2 = tf.constant(np.random.default_rng(1).standard_normal((8, 2)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32)])
    def f(x):
        return tf.matmul(tf.sin(tf.matmul(x, w1)), w2)

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([np.random.rand(1, 8).astype(np.float32)] for _ in range(10))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def main() -> None:
    from ofa_mcu.config import VWW
    from ofa_mcu.predictor import load_pairs, load_predictor
    from ofa_mcu.predictor.pairs import split_indices

    ref = SHARED / "reference"
    (HERE / "space_fixtures.json.gz").write_bytes(gzip.compress((ref / "space_fixtures.json").read_bytes(), mtime=0))
    shutil.copyfile(ref / "state_dict_manifest.json", HERE / "state_dict_manifest.json")
    meta = load_predictor("vww").meta["data"]
    pairs = load_pairs([ref / "lab_vww_acc" / f for f in meta["files"]], VWW)
    _, va = split_indices(len(pairs), meta["val_fraction"], meta["seed"])
    held = pairs.take(va)
    rows = [[a, float(y)] for a, y in zip(held.batch.to_dicts(), held.acc)]
    (HERE / "lab_vww_acc").mkdir(exist_ok=True)
    (HERE / "lab_vww_acc" / "vww_acc_heldout.json.gz").write_bytes(
        gzip.compress(json.dumps(rows, separators=(",", ":")).encode(), mtime=0))
    shutil.copyfile(ref / "lab_vww_acc" / "LICENSE", HERE / "lab_vww_acc" / "LICENSE")
    (HERE / "float_island_int8.tflite").write_bytes(float_island())


if __name__ == "__main__":
    main()
