"""C arrays, identifiers, the op registry and .tflite reading (pure pieces of codegen)."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from codegen.cident import c_comment, c_identifier, c_macro, c_string
from codegen.model_settings import pixel_lut
from ofa_mcu.boards.budget import arena_limit, arena_reserve
from codegen.op_registry import resolver_methods, tflm_op_methods
from codegen.tflite_model import TensorInfo, check_int8_classifier, read_model
from codegen.tflm_arrays import c_hex_rows, c_int_rows, parse_c_array
from codegen.tflm_headers import tflm_include_dirs
from ofa_mcu.errors import UserError

VWW_OPS = ("AVERAGE_POOL_2D", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "RESHAPE", "SOFTMAX")


@pytest.fixture(scope="module")
def vww(external_models) -> bytes:
    return (external_models / "vww_96_int8.tflite").read_bytes()


def test_hex_rows_round_trip_every_byte_value():
    data = bytes(range(256)) * 3 + b"\x00\xff\x10"
    rows = c_hex_rows(data)
    assert all(r.endswith(",") for r in rows) and len(rows) == -(-len(data) // 12)
    src = "const unsigned char arr[] = {\n" + "\n".join(rows) + "\n};"
    assert parse_c_array(src, "arr") == data


def test_int_rows_hold_signed_values():
    vals = np.array([-128, -1, 0, 1, 127], dtype=np.int8)
    assert c_int_rows(vals) == ["-128, -1, 0, 1, 127,"]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("My Model-v2.tflite", "my_model_v2_tflite"),
        ("2nd_try", "m_2nd_try"),
        ("int", "int_"),
        ("main", "main_"),
        ("__Reserved", "reserved"),
        ("ünïcødé ✓", "n_c_d"),
        ("", "m"),
        ("***", "m"),
    ],
)
def test_c_identifier_sanitizes_user_names(name, expected):
    ident = c_identifier(name)
    assert ident == expected
    assert re.fullmatch(r"[a-z][a-z0-9_]*", ident)


def test_c_identifiers_and_strings_compile(tmp_path):
    """Hostile names become identifiers and literals a real compiler accepts, with the exact text."""
    names = ["class", "9lives", "a b\\c", 'quote"d', "new\nline", "tri??/graph", "ü", "*/ end"]
    lines = ["#include <string.h>", "#include <stdio.h>"]
    for i, n in enumerate(names):
        lines.append(f"// {c_comment(n)}")
        lines.append(f"static const char* {c_identifier(n)}_{i} = {c_string(n)};")
    lines.append(f"#define {c_macro('my-guard.h')}_ 1")
    lines.append("int main(void) {")
    for i, n in enumerate(names):
        lines.append(f'  fputs({c_identifier(n)}_{i}, stdout); fputs("\\x01", stdout);')
    lines.append("  return 0;\n}")
    src = tmp_path / "names.cc"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "names"
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-Wno-unused-variable", str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, check=True).stdout
    assert out.split(b"\x01")[:-1] == [n.encode("utf-8") for n in names]


def _header_builtins() -> dict[str, str]:
    """Parse TFLM's micro_mutable_op_resolver.h: Add method -> builtin it registers."""
    header = (tflm_include_dirs()[0] / "tensorflow/lite/micro/micro_mutable_op_resolver.h").read_text()
    found = {}
    for m in re.finditer(r"TfLiteStatus (Add\w+)\((.*?)\n  \}", header, re.S):
        b = re.search(r"BuiltinOperator_(\w+)", m.group(2))
        if b and m.group(1) not in ("AddBuiltin", "AddCustom"):
            found[m.group(1)] = b.group(1)
    return found


def test_op_registry_matches_tflm_resolver_header():
    header = _header_builtins()
    table = tflm_op_methods()
    assert len(table) > 90
    for builtin, method in table.items():
        assert header.get(method) == builtin, f"{builtin} -> {method}: header registers {header.get(method)}"
    # Every builtin the header can register is in the table.
    assert set(header.values()) <= set(table)


def test_resolver_methods_and_unknown_op():
    assert resolver_methods(["CONV_2D", "SOFTMAX"]) == ["AddConv2D", "AddSoftmax"]
    with pytest.raises(UserError, match="no kernel for: RANDOM_UNIFORM"):
        resolver_methods(["CONV_2D", "RANDOM_UNIFORM"])


def test_read_vww_model(vww):
    info = read_model(vww)
    assert info.schema_version == 3
    # QUANTIZE/DEQUANTIZE sit in the op-code table but no operator uses them.
    assert info.ops == VWW_OPS
    assert info.n_operators == 31
    assert info.input.shape == (1, 96, 96, 3) and info.input.dtype == "int8"
    assert info.input.zero_point == -128 and abs(info.input.scale - 1 / 255) < 1e-9
    assert info.output.shape == (1, 2) and info.output.dtype == "int8"
    check_int8_classifier(info)


def test_malformed_and_foreign_files_are_user_errors(vww):
    with pytest.raises(UserError, match="not a TFLite flatbuffer"):
        read_model(b"BM" + b"\x00" * 100)
    with pytest.raises(UserError, match="malformed"):
        read_model(vww[:2000])


def test_arena_reserve_rules():
    m = arena_reserve(100_660, "measured-qemu")
    assert (m["target_bytes"], m["total"], m["margin"]) == (100_660, 100_672, 12)  # exact, aligned to 16 B
    c = arena_reserve(100_660, "calibrated")
    assert c["total"] % 16 == 0 and 100_660 + 64 <= c["total"] < 100_660 + 64 + 16 and "calibrated" in c["rule"]
    d = arena_reserve(100_660, "derived")
    assert d["total"] >= 100_660 + 256 and "host arena" in d["rule"]
    for budget in (65_536, 296_000, 296_013):  # the search's limit is the inverse of the reserve
        for src in ("measured-qemu", "calibrated", "derived"):
            lim = arena_limit(budget, src)
            assert arena_reserve(lim, src)["total"] <= budget < arena_reserve(lim + 16, src)["total"]
    with pytest.raises(ValueError):
        arena_reserve(1, "guessed")


def test_pixel_lut_matches_float_quantization():
    t = TensorInfo("in", (1, 4, 4, 3), "int8", 0.0187, -14)
    pre = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    lut = pixel_lut(pre, t)
    assert lut.shape == (3, 256) and lut.dtype == np.int8
    for c in range(3):
        for p in (0, 17, 128, 255):
            x = (p / 255 - pre["mean"][c]) / pre["std"][c]
            assert lut[c, p] == np.clip(np.round(x / 0.0187) - 14, -128, 127)
    # pixel / 255 into the VWW model's input quantization is pixel - 128 exactly
    vww_in = TensorInfo("in", (1, 96, 96, 3), "int8", 1 / 255, -128)
    lut = pixel_lut({"mean": [0.0] * 3, "std": [1.0] * 3}, vww_in)
    assert np.array_equal(lut[1], (np.arange(256) - 128).astype(np.int8))
    with pytest.raises(UserError, match="3 channels"):
        pixel_lut({"mean": [0.5], "std": [0.5]}, vww_in)

