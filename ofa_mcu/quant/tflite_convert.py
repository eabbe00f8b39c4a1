"""Full-int8 TFLite conversion of a FoldedNet (runs offline)."""
from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import warnings

import numpy as np

from ..errors import UserError
from ..space.folded import FoldedNet


def nchw_to_nhwc(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, H, W, C) float32, contiguous."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise UserError(f"images must be a 4-D (N, C, H, W) array, got shape {images.shape}")
    return np.ascontiguousarray(images.transpose(0, 2, 3, 1))


def check_images(net_or_shape, images: np.ndarray, what: str = "images") -> np.ndarray:
    """Validate an (N, C, H, W) float batch against a net's input shape; return it as float32."""
    if isinstance(net_or_shape, FoldedNet):
        t = net_or_shape.table
        want = (t.cfg.in_channels, t.image_size, t.image_size)
    else:
        want = tuple(net_or_shape)
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or tuple(images.shape[1:]) != want:
        raise UserError(f"{what} have shape {images.shape}; expected (N, {', '.join(map(str, want))}) "
                        "normalised float NCHW")
    if images.shape[0] == 0:
        raise UserError(f"{what} are empty; pass at least one image")
    if not np.all(np.isfinite(images)):
        raise UserError(f"{what} contain NaN or inf; clean the data")
    return images


@contextlib.contextmanager
def _quiet_tf():
    """Keep the converter's chatter (Python warnings, logging and C++ prints on file
    descriptors 1 and 2) off the terminal: ``measure`` prints JSON lines on stdout. The captured
    text is yielded as a list of one string, filled after the block (for error messages)."""
    loggers = [logging.getLogger(n) for n in ("tensorflow", "absl")]
    old = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    out: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                yield out
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            for lg, lv in zip(loggers, old):
                lg.setLevel(lv)
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", errors="replace"))


def _int8_converter(converter, calib_nhwc: np.ndarray):
    import tensorflow as tf

    calib = np.asarray(calib_nhwc, dtype=np.float32)

    def representative():
        for img in calib:
            yield [img[None]]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter


def _convert(make_converter, calib_nhwc: np.ndarray) -> bytes:
    log: list[str] = []
    try:
        with _quiet_tf() as log:
            return bytes(_int8_converter(make_converter(), calib_nhwc).convert())
    except Exception as exc:
        tail = " | ".join(line for line in (log[0] if log else "").splitlines()[-3:] if line.strip())
        raise RuntimeError(f"TFLite conversion failed: {exc} [{tail}]") from exc


def convert_keras_int8(model, calib_nhwc: np.ndarray, strip: bool = True) -> bytes:
    """Convert a Keras model (e.g. :func:`~ofa_mcu.quant.tf_graph.build_keras`) to a
    fully-int8 flatbuffer (int8 input and output, int8 builtins only, per-channel conv
    weights), calibrated on ``calib_nhwc`` (one image per step)."""
    import tensorflow as tf

    out = _convert(lambda: tf.lite.TFLiteConverter.from_keras_model(model), calib_nhwc)
    return strip_names(out) if strip else out


def convert_int8(net: FoldedNet, calib_images_nchw: np.ndarray, strip: bool = True, path: str = "tf") -> bytes:
    """The full-int8 ``.tflite`` of ``net``, calibrated on normalised float NCHW images.

    ``path="tf"`` (default) converts the concrete function of
    :func:`~ofa_mcu.quant.tf_graph.build_tf_function`; ``path="keras"`` converts
    :func:`~ofa_mcu.quant.tf_graph.build_keras` (same graph, about 3x slower). With
    ``strip`` (default) tensor names and signatures are removed (they cost flash and TFLM
    never reads them), see :func:`strip_names`.
    """
    images = check_images(net, calib_images_nchw, "calibration images")
    calib = nchw_to_nhwc(images)
    if path == "keras":
        from .tf_graph import build_keras

        with _quiet_tf():
            model = build_keras(net)
        return convert_keras_int8(model, calib, strip=strip)
    if path != "tf":
        raise UserError(f"unknown conversion path {path!r}; choose 'tf' or 'keras'")
    with _quiet_tf():
        import tensorflow as tf

        from .tf_graph import build_tf_function

        fn = build_tf_function(net)
    out = _convert(lambda: tf.lite.TFLiteConverter.from_concrete_functions([fn]), calib)
    return strip_names(out) if strip else out


class _AlignedBuffer:
    """Packs a flatbuffer ``Buffer`` with its data 16-byte aligned (as the converter does),
    so int32 biases and weights stay aligned for the MCU's loads."""

    def __init__(self, buf):
        self.buf = buf

    def Pack(self, builder):  # noqa: N802 - the flatbuffers object API's name
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

        data = self.buf.data
        vec = None
        if data is not None and len(data):
            raw = np.asarray(data, dtype=np.uint8)
            builder.StartVector(1, len(raw), 16)
            builder.head = builder.head - len(raw)
            builder.Bytes[builder.head:builder.head + len(raw)] = raw.tobytes()
            try:
                vec = builder.EndVector()
            except TypeError:  # flatbuffers < 2 needs the length
                vec = builder.EndVector(len(raw))
        fb.BufferStart(builder)
        if vec is not None:
            fb.BufferAddData(builder, vec)
        fb.BufferAddOffset(builder, self.buf.offset)
        fb.BufferAddSize(builder, self.buf.size)
        return fb.BufferEnd(builder)


def strip_names(tflite_bytes: bytes) -> bytes:
    """Remove tensor and subgraph names, the description and the signature defs (strings TFLM
    never reads; several KB of flash per model). Metadata (the minimum runtime version) and
    16-byte buffer alignment are kept; the arithmetic is untouched."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(bytes(tflite_bytes), 0))
    model.description = None
    model.signatureDefs = None
    for sg in model.subgraphs:
        sg.name = None
        for t in sg.tensors:
            t.name = None
    model.buffers = [_AlignedBuffer(b) for b in model.buffers]
    builder = flatbuffers.Builder(len(tflite_bytes) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
