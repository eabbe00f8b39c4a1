"""Number formatting shared by the Markdown and HTML reports (pure functions, one style)."""
from __future__ import annotations

KB = 1024  # the project's KB (search limits, board budgets) is 1024 bytes
MISSING = "-"


def pct(fraction: float | None, digits: int = 2) -> str:
    """A fraction in [0, 1] as a percentage: ``0.9125 -> '91.25 %'``."""
    if fraction is None:
        return MISSING
    return f"{100.0 * fraction:.{digits}f} %"


def points(delta_fraction: float | None, digits: int = 2) -> str:
    """A difference of two fractions in percentage points, signed: ``-0.0035 -> '-0.35 pt'``."""
    if delta_fraction is None:
        return MISSING
    value = round(100.0 * delta_fraction, digits)
    if value == 0:
        value = 0.0  # no '-0.00'
    return f"{value:+.{digits}f} pt"


def kb(n: int | None) -> str:
    """Bytes as KB with one decimal: ``175424 -> '171.3 KB'``."""
    if n is None:
        return MISSING
    return f"{n / KB:,.1f} KB"


def nbytes(n: int | None) -> str:
    """Bytes as KB plus the exact count: ``175424 -> '171.3 KB (175,424 B)'``."""
    if n is None:
        return MISSING
    return f"{kb(n)} ({n:,} B)"


def count(n: int | float | None) -> str:
    """An integer with thousands separators."""
    if n is None:
        return MISSING
    return f"{int(n):,}"


def mega(n: int | float | None, digits: int = 2) -> str:
    """A large count in millions: ``12_345_678 -> '12.35 M'``."""
    if n is None:
        return MISSING
    return f"{n / 1e6:,.{digits}f} M"


def share(part: int | float | None, whole: int | float | None) -> str:
    """``part`` as a percentage of ``whole`` with one decimal (``'-'`` when undefined)."""
    if part is None or not whole:
        return MISSING
    return f"{100.0 * part / whole:.1f} %"


def yes_no(flag: bool | None) -> str:
    """``'yes'``, ``'NO'`` (loud, it is the interesting case) or ``'-'``."""
    if flag is None:
        return MISSING
    return "yes" if flag else "NO"


def ms(value: float | None) -> str:
    """Milliseconds with two decimals."""
    if value is None:
        return MISSING
    return f"{value:,.2f} ms"


def seconds(value: float | None) -> str:
    """Seconds with one decimal."""
    if value is None:
        return MISSING
    return f"{value:,.1f} s"
