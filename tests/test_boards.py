"""The boards catalog: every board loads with sane figures; clock plans and consoles are checked
against the reference manuals' rules with one-line errors naming the field; one broken board
file breaks only the commands that use that board; lookups and the CLI behave."""
from __future__ import annotations

import json
import tomllib

import pytest

from ofa_mcu.boards import BOARDS_DIR, Board, list_boards, load_board, parse_board
from ofa_mcu.cli import main as cli_main
from ofa_mcu.errors import UserError

# (core, the clock the firmware runs at, SRAM, flash)
EXPECTED = {
    "stm32f746g-disco": ("cortex-m7", 216_000_000, 320 * 1024, 1024 * 1024),
    "nucleo-h743zi2": ("cortex-m7", 400_000_000, 512 * 1024, 2048 * 1024),
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
        t = b.budget("tflm")  # memory - runtime (measured for bare-metal builds, else stated) - app reserve
        assert b.model_sram_budget == t.sram_bytes == b.sram_bytes - t.runtime_sram_bytes - b.reserve_sram_bytes
        assert b.model_flash_budget == t.flash_bytes == b.app_flash_bytes - t.runtime_flash_bytes - b.reserve_flash_bytes
        assert t.source.startswith("measured") == (b.default_build_system in ("make", "cmake"))
        assert b.clock_hz == b.clock.sysclk_hz <= b.max_clock_hz
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
            assert not b.has_dwt_cycle_counter and b.cycle_counter == "systick" and b.fpu == "none"
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
    assert str(e.value) == "unknown board 'stm32f74'; did you mean stm32f746g-disco? `ofa-mcu boards` lists them all"
    with pytest.raises(UserError, match="did you mean rpi-pico"):
        load_board("pico")
    with pytest.raises(UserError, match=r"unknown board 'zzzz'; `ofa-mcu boards` lists them all"):
        load_board("zzzz")


def test_parse_board_rejects_bad_entries():
    data = tomllib.loads((BOARDS_DIR / "stm32f746g-disco.toml").read_text())
    assert parse_board(data, "x.toml").name == "stm32f746g-disco"
    bad = dict(data, core="cortex-m99")
    with pytest.raises(UserError, match="core 'cortex-m99' is not one of"):
        parse_board(bad, "x.toml")
    missing = {k: v for k, v in data.items() if k != "max_clock_hz"}
    with pytest.raises(UserError, match="missing key 'max_clock_hz'"):
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
    assert "cortex-m7" in row and "400" in row and "512 KB" in row and "openocd" in row
    assert cli_main(["boards", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in data] == sorted(EXPECTED)
    assert all("model_sram_budget" in d for d in data)


def _table(name: str) -> dict:
    return tomllib.loads((BOARDS_DIR / f"{name}.toml").read_text())


def _with(data: dict, table: str, **changes) -> dict:
    return dict(data, **{table: dict(data[table], **changes)})


def test_clock_plans_derive_the_rated_clocks():
    f7 = load_board("stm32f746g-disco").clock
    assert (f7.sysclk_hz, f7.hclk_hz, f7.buses["apb1"], f7.buses["apb2"]) == (216_000_000, 216_000_000, 54_000_000, 108_000_000)
    assert f7.params["pll_q_hz"] == 48_000_000 and f7.icache and f7.dcache
    h7 = load_board("nucleo-h743zi2").clock
    assert (h7.sysclk_hz, h7.hclk_hz, h7.buses["apb1"]) == (400_000_000, 200_000_000, 100_000_000)
    assert (h7.params["pll_range"], h7.params["pll_vcosel"]) == (1, 0)  # 2 MHz reference, wide VCO
    assert load_board("rpi-pico").clock.params["vco_hz"] == 1_596_000_000
    # framework build systems run the clock their core sets
    assert load_board("nucleo-h743zi2").cpu_hz("platformio") == 480_000_000
    assert load_board("nucleo-h743zi2").cpu_hz("make") == 400_000_000
    assert load_board("rpi-pico").cpu_hz("platformio") == 125_000_000
    # consoles: the ST-LINK virtual COM ports and QEMU's UART0, divisors at the plan's bus clock
    c = load_board("stm32f746g-disco").console_spec
    assert (c.uart, c.tx, c.rx, c.af, c.baud, c.divisor) == ("USART1", "PA9", "PB7", 7, 115200, 938)
    c = load_board("nucleo-h743zi2").console_spec
    assert (c.uart, c.tx, c.rx, c.af, c.divisor) == ("USART3", "PD8", "PD9", 7, 868)
    assert load_board("qemu-mps2-an386").console_spec.divisor == 217


@pytest.mark.parametrize("board,changes,message", [
    ("stm32f746g-disco", {"plln": 500}, r"stm32f746g-disco.toml \[clock\]: plln = 500 is out of range 50..432"),
    ("stm32f746g-disco", {"pllm": 10}, r"\[clock\]: PLL input hse_hz / pllm = 2.5 MHz is out of range 1..2 MHz"),
    ("stm32f746g-disco", {"pllm": 20, "plln": 432}, r"\[clock\]: PLL VCO hse_hz / pllm x plln = 540 MHz is out of range 100..432 MHz"),
    ("stm32f746g-disco", {"flash_wait_states": 5}, r"\[clock\]: flash_wait_states = 5 is too low for HCLK 216 MHz: RM0385 Table 5 needs 7"),
    ("stm32f746g-disco", {"overdrive": False}, r"\[clock\]: HCLK at voltage scale 1 216 MHz is above the 180 MHz limit"),
    ("stm32f746g-disco", {"pllp": 3}, r"\[clock\]: pllp = 3 is not one of 2, 4, 6, 8"),
    ("stm32f746g-disco", {"apb1_div": 2}, r"\[clock\]: APB1 clock 108 MHz is above the 54 MHz limit; raise apb1_div"),
    ("nucleo-h743zi2", {"flash_wait_states": 1}, r"\[clock\]: flash_wait_states = 1, flash_wrhighfreq = 2 are too low for AXI 200 MHz at VOS1: RM0433 Table 17 needs 2 and 2"),
    ("nucleo-h743zi2", {"plln": 410}, r"\[clock\]: core clock at VOS1 410 MHz is above the 400 MHz limit"),
    ("nucleo-h743zi2", {"voltage_scale": 0}, r"\[clock\]: voltage_scale = 0 \(480 MHz\) needs silicon revision V"),
    ("nucleo-h743zi2", {"plln": 450}, r"\[clock\]: PLL1 VCO hse_hz / pllm x plln = 900 MHz is out of range 192..836 MHz"),
    ("nucleo-h743zi2", {"pllp": 3}, r"\[clock\]: pllp = 3 must be even"),
    ("rpi-pico", {"fbdiv": 140}, r"\[clock\]: PLL VCO xosc_hz / refdiv x fbdiv = 1680 MHz is out of range 750..1600 MHz"),
    ("rpi-pico", {"postdiv1": 5}, r"\[clock\]: system clock 159.6 MHz is above the 133 MHz limit"),
    ("esp32-s3-devkitc", {"sysclk_hz": 200_000_000}, r"\[clock\]: sysclk_hz = 200000000 is not a CPU frequency ESP-IDF offers"),
    ("qemu-mps2-an386", {"icache": True}, r"\[clock\]: icache/dcache need a Cortex-M7"),
    ("stm32f746g-disco", {"plln": "432"}, r"\[clock\]: 'plln' must be int, got '432'"),
])
def test_impossible_clock_plans_are_one_line_errors_naming_the_field(board, changes, message):
    bad = _with(_table(board), "clock", **changes)
    with pytest.raises(UserError, match=message) as e:
        parse_board(bad, f"{board}.toml")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("changes,message", [
    ({"default": "usb-cdc"}, r"\[console\]: default 'usb-cdc' is not one of uart, semihosting"),
    ({"tx": "PZ9"}, r"\[console\]: tx 'PZ9' is not an STM32 pin name"),
    ({"uart": "USART9"}, r"\[console\]: uart 'USART9' is not one of"),
    ({"baud": 10_000_000}, r"\[console\]: baud = 10000000 is out of range"),
    ({"usb_ids": ["0483-374b"]}, r"\[console\]: usb_ids entry '0483-374b' is not VID:PID"),
    ({"reset_on_open": "dtr"}, r"\[console\]: reset_on_open 'dtr' is not one of rts; fix the board file"),
    ({"open_before_flash": "yes"}, r"\[console\]: 'open_before_flash' must be bool"),
])
def test_bad_consoles_are_one_line_errors(changes, message):
    with pytest.raises(UserError, match=message):
        parse_board(_with(_table("stm32f746g-disco"), "console", **changes), "x.toml")


@pytest.mark.parametrize("value", [0, -1, 0.0, 100])
def test_cycles_per_instruction_must_be_positive_and_plausible(value):
    with pytest.raises(UserError, match=r"cycles_per_instruction = .* must be above 0 and at most 16"):
        parse_board(dict(_table("rpi-pico"), cycles_per_instruction=value), "rpi-pico.toml")


def test_with_console_picks_among_the_boards_choices():
    b = load_board("stm32f746g-disco")
    assert b.console == "uart" and b.with_console("semihosting").console == "semihosting"
    assert b.with_console(None) is b
    with pytest.raises(UserError, match="board stm32f746g-disco cannot print on a usb-cdc console; choose one of uart, semihosting"):
        b.with_console("usb-cdc")
    assert load_board("rpi-pico").with_console("uart").console == "uart"


def test_esp32_budget_is_the_app_partition_not_the_whole_flash():
    b = load_board("esp32-s3-devkitc")
    assert b.app_flash_bytes == 8 * 1024 * 1024 - 0x10000
    assert b.model_flash_budget == b.app_flash_bytes - b.runtime_flash_bytes - b.reserve_flash_bytes
    bad = _with(_table("esp32-s3-devkitc"), "flash", app_partition_bytes=0x800000)
    with pytest.raises(UserError, match=r"\[flash\]: the app partition ends at 0x810000, past the 0x800000 B flash"):
        parse_board(bad, "x.toml")


def test_a_broken_board_file_breaks_only_the_commands_that_use_it(tmp_path, monkeypatch, capsys):
    import shutil

    import ofa_mcu.boards as boards

    for f in BOARDS_DIR.glob("*.toml"):
        shutil.copy(f, tmp_path / f.name)
    text = (tmp_path / "rpi-pico.toml").read_text().replace("cycles_per_instruction = 1.5", "cycles_per_instruction = 0")
    (tmp_path / "rpi-pico.toml").write_text(text)
    (tmp_path / "mystery.toml").write_text("name = [unclosed\n")
    monkeypatch.setattr(boards, "BOARDS_DIR", tmp_path)
    assert "rpi-pico" not in [b.name for b in boards.list_boards()]
    assert len(boards.list_boards()) == len(EXPECTED) - 1
    assert boards.load_board("stm32f746g-disco").name == "stm32f746g-disco"
    with pytest.raises(UserError, match=r"rpi-pico.toml: cycles_per_instruction = 0 must be above 0"):
        boards.load_board("rpi-pico")
    with pytest.raises(UserError, match=r"board file mystery.toml is not valid TOML"):
        boards.load_board("mystery")
    assert set(boards.catalog_problems()) == {"rpi-pico.toml", "mystery.toml"}
    assert cli_main(["boards", "--plain"]) == 0
    captured = capsys.readouterr()
    assert "stm32f746g-disco" in captured.out and "rpi-pico" not in captured.out
    assert "skipped board file rpi-pico.toml" in captured.err and "mystery.toml" in captured.err
    model = tmp_path / "m.tflite"
    model.write_bytes(b"not read: the board fails first")
    assert cli_main(["deploy", str(model), "--board", "rpi-pico", "--out", str(tmp_path / "o")]) == 2
    assert "cycles_per_instruction = 0" in capsys.readouterr().err


def test_kernels_help_says_what_default_kernels_picks():
    """--kernels' help names the cores and build system that get CMSIS-NN by default."""
    from ofa_mcu.boards import CORES
    from ofa_mcu.boards.budget import default_kernels
    from ofa_mcu.cli.common import KERNELS_DEFAULT

    for core in CORES:
        named = f"{core.replace('cortex-', '').upper()}," in KERNELS_DEFAULT.replace(")", ",")
        assert (default_kernels(core) == "cmsis-nn") == named, core
    assert "Pico SDK" in KERNELS_DEFAULT and default_kernels("cortex-m0plus", "pico-sdk") == "cmsis-nn"
