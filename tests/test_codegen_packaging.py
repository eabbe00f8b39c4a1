"""The built wheel carries ``templates/`` and ``firmware/`` as ``codegen/templates`` and
``codegen/firmware`` (and every module and data file), and codegen finds them in a wheel install
as in the repo: a real ``pip wheel``, a real venv, real deploys from the installed package."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from codegen.paths import firmware_dir, templates_dir

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "codegen", "ofa_mcu", "templates", "firmware")
DATA_SUFFIXES = (".json", ".json.gz", ".toml", ".npz", ".pt", ".md", ".j2")


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def _setuptools_version() -> tuple[int, ...]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return tuple(int(x) for x in version("setuptools").split(".")[:2] if x.isdigit())
    except PackageNotFoundError:
        return (0,)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """``pip wheel . --no-deps`` of a copy of the sources (building in place would leave build/
    and egg-info folders in the repo)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        p = REPO / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "build"))
        else:
            shutil.copy2(p, src / name)
    out = tmp_path_factory.mktemp("wheel")
    # This environment's setuptools when it is new enough (fast, offline), else pip's isolated build.
    flags = ["--no-build-isolation"] if _setuptools_version() >= (68,) else []
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-w", str(out), "-q", *flags],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (whl,) = out.glob("ofa_mcu-*.whl")
    return whl


def test_repo_layout_is_found():
    assert templates_dir() == REPO / "templates" and firmware_dir() == REPO / "firmware"


def test_wheel_holds_templates_firmware_modules_and_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("templates", "firmware"):
        expected = {f"codegen/{folder}/{p.relative_to(REPO / folder).as_posix()}" for p in _files(REPO / folder)}
        assert expected and expected <= names, sorted(expected - names)[:10]
    for pkg in ("codegen", "ofa_mcu"):
        files = _files(REPO / pkg)
        modules = {p.relative_to(REPO).as_posix() for p in files if p.suffix == ".py"}
        missing = sorted(modules - names)
        assert not missing, f"modules missing from the wheel (add their package to pyproject.toml): {missing[:10]}"
        data = {p.relative_to(REPO).as_posix() for p in files if p.name.endswith(DATA_SUFFIXES)}
        assert data <= names, sorted(data - names)[:10]
    assert not any(n.startswith(("templates/", "firmware/")) for n in names)  # no stray top-level packages


@pytest.mark.slow
def test_wheel_install_finds_its_own_templates_and_firmware(wheel, tmp_path):
    """Install the wheel into a fresh venv (dependencies from this environment via a .pth) and
    deploy with it: both backends render from the installed codegen/templates and firmware."""
    from codegen.native import testmodels as tm

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # The dependencies (numpy, jinja2, tflite-micro ...) of the running environment, appended to
    # sys.path without running that environment's .pth files (its editable ofa-mcu stays out).
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
                   check=True, timeout=300, capture_output=True)
    probe = ("import codegen, codegen.paths as p; print(codegen.__file__); print(p.templates_dir()); "
             "print(p.firmware_dir())")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the wheel, not a checkout on the path
    lines = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path,
                           timeout=120, env=env).stdout.split()
    assert all(line.startswith(str(site)) for line in lines), lines
    assert lines[1].endswith("codegen/templates") and lines[2].endswith("codegen/firmware")

    # (tflite-micro crashes on arenas below a few hundred bytes, which the arena bisection of a
    # model this size never probes)
    m, shape = tm.head_model(hw=8, c=32, classes=5, seed=3)
    (tmp_path / "head.tflite").write_bytes(tm.convert(m, shape))
    ofa = venv / "bin" / "ofa-mcu"
    for args, must_have in (
        ([str(tmp_path / "head.tflite"), "--board", "qemu-mps2-an386", "--out", "tflm"], ["tflm/src/startup_cortexm.c", "tflm/linker.ld"]),
        ([str(tmp_path / "head.tflite"), "--board", "qemu-mps2-an386", "--backend", "native", "--out", "native"],
         ["native/startup/startup_cortexm.c", "native/startup/linker.ld", "native/ofa_native/ofa_native.h"]),
    ):
        proc = subprocess.run([str(ofa), "deploy", *args], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                              env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        for rel in must_have:
            assert (tmp_path / rel).is_file(), rel
