"""``ofa-mcu deploy --data DIR [--float-model MODEL]``: the deployed model's accuracy on the user's
labelled data, per path: TFLite (reference kernels), the TFLite-Micro interpreter and, for
``--backend native``, the generated C compiled for the host; with ``--float-model`` (ONNX or
float .tflite) the float reference and the quantization drop. Returns the report's ``dataset``,
``accuracy`` (confusion matrices) and ``agreement`` sections."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError


def _layout(shape: tuple[int, ...], channels: int) -> str:
    """"nchw" or "nhwc" for a 4-D float model input."""
    if len(shape) != 4:
        return "flat"
    return "nchw" if shape[1] == channels and shape[3] != channels else "nhwc"


def describe_preprocess(data, preprocess: dict, info) -> str:
    """One sentence: how a sample becomes the model's int8 input (and the float model's)."""
    t = info.input
    q = f"int8 input = round(x / {t.scale:.6g}) + {t.zero_point}, clamped to [-128, 127]"
    if data.kind == "pixels":
        if len(t.shape) == 4:
            h, w, c = t.shape[1:]
            what = f"images converted to {'grey' if c == 1 else 'RGB (channel order R, G, B)'}, resized to {h}x{w} " \
                   "(bilinear, NHWC)"
        else:
            what = "uint8 arrays"
        return (f"{what}; x = (pixel / 255 - mean) / std with mean {list(preprocess.get('mean', []))}, std "
                f"{list(preprocess.get('std', []))}; {q}")
    if data.kind == "int8":
        return f"int8 model inputs used as given (the float model gets (q - {t.zero_point}) x {t.scale:.6g})"
    return f"float model inputs x as given; {q}"


def int8_inputs(data, preprocess: dict, info) -> np.ndarray:
    """The model's int8 inputs ``(N, *input_shape[1:])`` for every sample."""
    from codegen.model_settings import pixel_lut

    from ..quant.tflite_inspect import quantize_input

    shape = tuple(info.input.shape[1:])
    if data.kind == "int8":
        return data.x.reshape((-1,) + shape)
    if data.kind == "float":
        return quantize_input(data.x, info.input.scale, info.input.zero_point).reshape((-1,) + shape)
    lut = pixel_lut(preprocess, info.input)
    c = lut.shape[0]
    x = data.x.reshape(len(data.x), -1, c) if data.x.ndim > 2 else data.x.reshape(len(data.x), -1, 1)
    return lut[np.arange(c)[None, None, :], x].reshape((-1,) + shape)


def float_inputs(data, preprocess: dict, info) -> np.ndarray:
    """The float model's inputs (NHWC) for every sample."""
    t = info.input
    if data.kind == "float":
        return data.x.astype(np.float32)
    if data.kind == "int8":
        return ((data.x.astype(np.float32) - t.zero_point) * t.scale).astype(np.float32)
    c = data.x.shape[-1]
    mean = np.asarray(preprocess.get("mean", [0.0] * c), np.float32)
    std = np.asarray(preprocess.get("std", [1.0] * c), np.float32)
    return ((data.x.astype(np.float32) / 255.0 - mean) / std).astype(np.float32)


def run_tflite_int8(tflite: bytes, x: np.ndarray) -> np.ndarray:
    """TFLite's (LiteRT) outputs with its reference kernels on int8 inputs."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_content=bytes(tflite), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    rows = []
    for i in range(len(x)):
        interp.set_tensor(inp["index"], x[i:i + 1].astype(inp["dtype"]).reshape(inp["shape"]))
        interp.invoke()
        rows.append(interp.get_tensor(out["index"]).reshape(-1).copy())
    return np.stack(rows)


def open_float_model(path: str):
    """``("onnx", session)`` or ``("tflite", interpreter)`` for a float model file, else a
    one-line UserError (called before any other work, and again to run it)."""
    p = Path(path)
    if p.suffix.lower() == ".onnx":
        import onnxruntime as ort

        try:
            return "onnx", ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own error types on bad files
            raise UserError(f"--float-model {path!r} cannot be loaded by ONNX Runtime ({type(exc).__name__})") from None
    if p.suffix.lower() == ".tflite":
        from ai_edge_litert.interpreter import Interpreter

        from ..quant.tflm_runner import capture_fd2

        try:
            with capture_fd2():  # the runtime's "INFO: Created ... XNNPACK delegate" line
                interp = Interpreter(model_content=p.read_bytes())
                interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:  # not a flatbuffer, or ops the runtime lacks
            raise UserError(f"--float-model {path!r} cannot be loaded by the TFLite interpreter "
                            f"({str(exc).splitlines()[0][:80]}); give a float .tflite or .onnx model") from None
        if interp.get_input_details()[0]["dtype"] != np.float32:
            dtype = np.dtype(interp.get_input_details()[0]["dtype"]).name
            raise UserError(f"--float-model {path!r} takes {dtype} input; give the float model")
        return "tflite", interp
    raise UserError(f"--float-model {path!r}: give an .onnx or a float .tflite file")


def run_float_model(path: str, x_nhwc: np.ndarray, channels: int) -> np.ndarray:
    """A float ONNX or .tflite model's outputs on float NHWC inputs (NCHW for an ONNX model whose
    input is laid out that way)."""
    kind, model = open_float_model(path)
    if kind == "onnx":
        inp = model.get_inputs()[0]
        shape = tuple(d if isinstance(d, int) else -1 for d in inp.shape)
        x = np.transpose(x_nhwc, (0, 3, 1, 2)) if _layout(shape, channels) == "nchw" else x_nhwc
        outs = [model.run(None, {inp.name: x[i:i + 1].astype(np.float32)})[0].reshape(-1) for i in range(len(x))]
        return np.stack(outs)
    inp, out = model.get_input_details()[0], model.get_output_details()[0]
    rows = []
    for i in range(len(x_nhwc)):
        model.set_tensor(inp["index"], x_nhwc[i:i + 1].reshape(inp["shape"]).astype(np.float32))
        model.invoke()
        rows.append(model.get_tensor(out["index"]).reshape(-1).copy())
    return np.stack(rows)


def _confusion(logits: np.ndarray, labels: np.ndarray, n: int) -> list[list[int]]:
    pred = np.argmax(logits.reshape(len(labels), -1), axis=1)
    m = np.zeros((n, n), np.int64)
    np.add.at(m, (labels, pred), 1)
    return m.tolist()


def load(data_dir: str, info, class_names: list[str] | None):
    """``--data`` read for this model (before any other work, so bad data fails first)."""
    from ..data.user_data import load_user_data

    data = load_user_data(data_dir, tuple(info.input.shape), info.input.dtype, int(info.output.size), class_names)
    if data.kind == "pixels" and data.x.shape[-1] != int(info.input.shape[-1]):
        raise UserError(f"--data images have {data.x.shape[-1]} channels; the model wants {info.input.shape[-1]}")
    return data


def evaluate(data, data_dir: str, tflite: bytes, info, preprocess: dict, native_project: Path | None = None,
             float_model: str | None = None) -> dict:
    """Run every path on ``data`` (:func:`load`); the report sections (``dataset``,
    ``accuracy``, ``agreement``)."""
    from ofa_mcu.quant.tflm_runner import tflm_outputs

    from ..quant.agreement import agreement

    n_classes = int(info.output.size)
    x = int8_inputs(data, preprocess, info)
    logits = {"tflite_int8": run_tflite_int8(tflite, x), "tflm": tflm_outputs(tflite, x)}
    if native_project is not None:
        from codegen.native.host import build_host, run_host

        logits["native"] = run_host(build_host(native_project), x, n_classes)
    if float_model:
        logits = {"float": run_float_model(float_model, float_inputs(data, preprocess, info),
                                           int(info.input.shape[-1])), **logits}
    names = list(data.class_names)[:n_classes] + [f"class_{i}" for i in range(len(data.class_names), n_classes)]
    accuracy = {k: {"confusion": _confusion(v, data.labels, n_classes)} for k, v in logits.items()}
    if float_model:
        accuracy["float"]["label"] = f"float ({Path(float_model).name})"
    m = agreement({k: v.reshape(len(x), -1) for k, v in logits.items()})
    return {"dataset": {"name": Path(data_dir).name, "split": data.source, "images": data.n, "class_names": names,
                        "preprocessing": describe_preprocess(data, preprocess, info),
                        "skipped": [f"{f}: {why}" for f, why in data.skipped]},
            "accuracy": accuracy, "agreement": m}


def summary_line(results: dict) -> str:
    """``ofa-mcu: top-1 on N images: ...`` for the console."""
    parts = []
    for key, rec in results["accuracy"].items():
        conf = np.asarray(rec["confusion"])
        parts.append(f"{key} {100.0 * np.trace(conf) / max(conf.sum(), 1):.2f} %")
    ds = results["dataset"]
    skipped = f"; {len(ds['skipped'])} files skipped (listed in the report)" if ds["skipped"] else ""
    return f"ofa-mcu: top-1 on {ds['images']:,} samples of {ds['name']}: {', '.join(parts)}{skipped}"
