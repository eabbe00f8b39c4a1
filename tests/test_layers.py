"""The import rules of the layers, as ``docs/architecture.md`` states them: every import of every
module of ``ofa_mcu`` and ``codegen`` (at module level or inside a function) is checked against
the table there, parsed from the document itself so the rule is written once."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "architecture.md"
# Modules every package may import: the version, errors, the space config, files, validation.
BASE = {"ofa_mcu", "ofa_mcu.errors", "ofa_mcu.config", "ofa_mcu.io", "ofa_mcu.validate"}


def layer_rules() -> dict[str, set[str]]:
    """``{package: packages it may import}`` from the table under "## Layers" in the document:
    rows bottom-up, ``-`` for nothing beyond the base modules, ``all above`` for every package
    of the rows before."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n## Layers", 1)[1].split("\n## ", 1)[0]
    rules: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not re.fullmatch(r"`[\w.]+`", cells[0]):
            continue
        allowed: set[str] = set()
        if "all above" in cells[-1]:
            allowed |= set(rules)
        allowed |= set(re.findall(r"`([\w.]+)`", cells[-1]))
        rules[cells[0].strip("`")] = allowed
    return rules


def package_of(module: str, rules: dict[str, set[str]]) -> str | None:
    """The table row a module belongs to (the longest matching package), None for base modules."""
    if module in BASE:
        return None
    best = None
    for pkg in rules:
        if (module == pkg or module.startswith(pkg + ".")) and (best is None or len(pkg) > len(best)):
            best = pkg
    return best


def imports_of(path: Path) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every import in ``path`` (relative ones resolved)."""
    package = list(path.relative_to(REPO).parts[:-1])  # the package the module is in (or is)
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
                if node.module:
                    out.append((node.lineno, mod))
                else:  # from . import x: x is a module of the package, or a name defined in it
                    out += [(node.lineno, f"{mod}.{a.name}" if _is_module(f"{mod}.{a.name}") else mod)
                            for a in node.names]
            else:
                out.append((node.lineno, node.module))
    return out


def _is_module(name: str) -> bool:
    p = REPO.joinpath(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def own_modules() -> list[Path]:
    return sorted(p for top in ("ofa_mcu", "codegen") for p in (REPO / top).rglob("*.py"))


def test_the_document_has_a_rule_for_every_package():
    rules = layer_rules()
    assert {"ofa_mcu.space", "ofa_mcu.efficiency", "ofa_mcu.quant", "ofa_mcu.pipeline", "ofa_mcu.cli",
            "codegen"} <= set(rules)
    packages = {f"ofa_mcu.{p.name}" for p in (REPO / "ofa_mcu").iterdir() if (p / "__init__.py").is_file()}
    assert packages - set(rules) == set(), "give every package of ofa_mcu a row in docs/architecture.md"
    # the two rules the layering exists for
    lower = ("ofa_mcu.space", "ofa_mcu.efficiency", "ofa_mcu.search", "ofa_mcu.predictor", "ofa_mcu.nn",
             "ofa_mcu.quant", "ofa_mcu.data", "ofa_mcu.train", "ofa_mcu.boards")
    for pkg in lower:
        assert "codegen" not in rules[pkg] and "ofa_mcu.pipeline" not in rules[pkg], pkg
    assert "ofa_mcu.quant" not in rules["ofa_mcu.efficiency"]
    assert "codegen" in rules["ofa_mcu.pipeline"] and "codegen" in rules["ofa_mcu.cli"]


def test_every_import_follows_the_layer_rules():
    rules = layer_rules()
    bad = []
    for path in own_modules():
        rel = path.relative_to(REPO).with_suffix("")
        module = ".".join(p for p in rel.parts if p != "__init__")
        src = package_of(module, rules)
        for line, target in imports_of(path):
            if not (target.startswith("ofa_mcu") or target.startswith("codegen")):
                continue
            dst = package_of(target, rules)
            if target in BASE:
                continue
            if src is None:  # a base module: only other base modules
                if target not in BASE:
                    bad.append(f"{rel}.py:{line} imports {target} (base modules import only base modules)")
                continue
            if dst is None:
                bad.append(f"{rel}.py:{line} imports {target}, which no row of the layer table covers")
            elif dst != src and dst not in rules[src]:
                bad.append(f"{rel}.py:{line}: {src} may not import {target} ({dst})")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("source, target, ok", [
    ("ofa_mcu.efficiency", "ofa_mcu.quant", False),
    ("ofa_mcu.search", "codegen", False),
    ("ofa_mcu.pipeline", "codegen", True),
    ("codegen", "ofa_mcu.pipeline", False),
    ("ofa_mcu.quant", "ofa_mcu.space", True),
])
def test_the_rules_read_from_the_document_say_what_they_should(source, target, ok):
    assert (target in layer_rules()[source]) is ok
