"""The boards catalog: every board loads with sane figures; lookups and the CLI behave."""
from __future__ import annotations

import json
import tomllib

import pytest

from ofa_mcu.boards import BOARDS_DIR, Board, list_boards, load_board, parse_board
from ofa_mcu.cli import main as cli_main
from ofa_mcu.errors import UserError

EXPECTED = {
    "stm32f746g-disco": ("cortex-m7", 216_000_000, 320 * 1024, 1024 * 1024),
    "nucleo-h743zi2": ("cortex-m7", 480_000_000, 512 * 1024, 2048 * 1024),
    "nano33ble-sense": ("cortex-m4", 64_000_000, 256 * 1024, 1024 * 1024),
    "rpi-pico": ("cortex-m0plus", 133_000_000, 264 * 1024, 2048 * 1024),
    "esp32-s3-devkitc": ("xtensa-lx7", 240_000_000, 512 * 1024, 8192 * 1024),
    "qemu-mps2-an386": ("cortex-m4", 25_000_000, 4096 * 1024, 4096 * 1024),
    "qemu-mps2-an500": ("cortex-m7", 25_000_000, 4096 * 1024, 4096 * 1024),
}


def test_catalog_has_the_seven_boards_with_their_datasheet_figures():
    boards = {b.name: b for b in list_boards()}
    assert sorted(boards) == sorted(EXPECTED)
    for name, (core, clock, sram, flash) in EXPECTED.items():
        b = boards[name]
        assert (b.core, b.clock_hz, b.sram_bytes, b.flash_bytes) == (core, clock, sram, flash), name
        assert b.arch_bits == 32
        assert 0 < b.runtime_sram_bytes < b.sram_bytes and 0 < b.runtime_flash_bytes < b.flash_bytes
        assert b.native_runtime_sram_bytes < b.runtime_sram_bytes, "the native backend has no interpreter"
        assert b.model_sram_budget == b.sram_bytes - b.runtime_sram_bytes
        assert b.model_flash_budget == b.flash_bytes - b.runtime_flash_bytes
        assert b.default_build_system in b.build_systems
        assert 0.5 <= b.cycles_per_instruction <= 2.0


def test_core_specific_fields_are_consistent():
    for b in list_boards():
        if b.is_cortex_m:
            assert f"-mcpu={b.core}" in b.cpu_flags and "-mthumb" in b.cpu_flags
            assert f"-mfloat-abi={b.float_abi}" in b.cpu_flags
            if b.fpu != "none":
                assert f"-mfpu={b.fpu}" in b.cpu_flags
        if b.core == "cortex-m0plus":
            assert not b.has_dwt_cycle_counter and b.fpu == "none"
        if "make" in b.build_systems or "cmake" in b.build_systems:
            assert b.memory is not None and b.memory.ram_length == b.sram_bytes
        assert b.is_qemu == (b.flash_tool == "qemu")
    assert load_board("qemu-mps2-an386").qemu_machine == "mps2-an386"
    assert load_board("qemu-mps2-an500").qemu_machine == "mps2-an500"
    assert load_board("nucleo-h743zi2").memory.ram_origin == 0x24000000  # AXI SRAM, not DTCM
    assert (load_board("qemu-mps2-an500").cycles_per_instruction < 1 < load_board("qemu-mps2-an386").cycles_per_instruction)


def test_board_is_frozen_and_round_trips_to_json():
    b = load_board("rpi-pico")
    assert isinstance(b, Board)
    with pytest.raises(Exception):
        b.clock_hz = 1  # type: ignore[misc]
    d = json.loads(json.dumps(b.to_dict()))
    assert d["name"] == "rpi-pico" and d["model_sram_budget"] == b.model_sram_budget
    assert d["flash_tool"] == "picotool" and d["build_systems"] == ["pico-sdk", "platformio"]


def test_unknown_board_names_the_closest():
    with pytest.raises(UserError) as e:
        load_board("stm32f74")
    assert str(e.value) == "unknown board 'stm32f74'; did you mean stm32f746g-disco? (ofa-mcu boards lists all)"
    with pytest.raises(UserError, match="did you mean rpi-pico"):
        load_board("pico")
    with pytest.raises(UserError, match=r"unknown board 'zzzz'; \(ofa-mcu boards lists all\)"):
        load_board("zzzz")


def test_parse_board_rejects_bad_entries():
    data = tomllib.loads((BOARDS_DIR / "stm32f746g-disco.toml").read_text())
    assert parse_board(data, "x.toml").name == "stm32f746g-disco"
    bad = dict(data, core="cortex-m99")
    with pytest.raises(UserError, match="core 'cortex-m99' is not one of"):
        parse_board(bad, "x.toml")
    missing = {k: v for k, v in data.items() if k != "clock_hz"}
    with pytest.raises(UserError, match="missing key 'clock_hz'"):
        parse_board(missing, "x.toml")
    no_mem = {k: v for k, v in data.items() if k != "memory"}
    with pytest.raises(UserError, match=r"\[memory\]"):
        parse_board(no_mem, "x.toml")
    wrong_type = dict(data, sram_bytes="320K")
    with pytest.raises(UserError, match="'sram_bytes' must be int"):
        parse_board(wrong_type, "x.toml")
    greedy = dict(data, runtime=dict(data["runtime"], sram_bytes=10**9))
    with pytest.raises(UserError, match="runtime needs more memory"):
        parse_board(greedy, "x.toml")


def test_cli_boards_table_and_json(capsys):
    assert cli_main(["boards", "--plain"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["board", "core", "MHz"]
    assert len(out) == 1 + len(EXPECTED)
    row = next(line for line in out if line.startswith("nucleo-h743zi2"))
    assert "cortex-m7" in row and "480" in row and "512 KB" in row and "openocd" in row
    assert cli_main(["boards", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in data] == sorted(EXPECTED)
    assert all("model_sram_budget" in d for d in data)
