"""Turn user-supplied names (projects, models, labels) into safe C identifiers and strings."""
from __future__ import annotations

import re

# C and C++ keywords (C11 + C++17) and names the firmware already uses at file scope.
RESERVED = frozenset(
    """
    alignas alignof and and_eq asm auto bitand bitor bool break case catch char char16_t char32_t
    class compl const constexpr const_cast continue decltype default delete do double dynamic_cast
    else enum explicit export extern false float for friend goto if inline int long mutable
    namespace new noexcept not not_eq nullptr operator or or_eq private protected public register
    reinterpret_cast restrict return short signed sizeof static static_assert static_cast struct
    switch template this thread_local throw true try typedef typeid typename union unsigned using
    virtual void volatile wchar_t while xor xor_eq main
    """.split()
)


def c_identifier(name: str, prefix: str = "m") -> str:
    """A valid, non-reserved C identifier made from ``name`` (lower case, ``_`` for the rest).

    ``"My Model-v2.tflite"`` -> ``"my_model_v2_tflite"``; a leading digit or an empty result
    gets ``prefix`` in front; keywords get a trailing ``_``. Leading underscores are dropped
    (names beginning ``_`` + capital or ``__`` are reserved for the implementation).
    """
    s = re.sub(r"[^0-9A-Za-z]+", "_", str(name)).strip("_").lower()
    s = re.sub(r"_+", "_", s)
    if not s or s[0].isdigit():
        s = f"{prefix}_{s}" if s else prefix
    if s in RESERVED:
        s += "_"
    return s


def c_macro(name: str, prefix: str = "M") -> str:
    """An upper-case identifier for macros and include guards."""
    return c_identifier(name, prefix.lower()).upper()


def c_string(text: str) -> str:
    """``text`` as a C string literal (quotes included): printable ASCII as is, everything else
    (and ``?``, so no trigraph forms) as octal escapes of its UTF-8 bytes."""
    out = []
    for ch in str(text):
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif 32 <= o < 127 and ch != "?":  # '?' escaped so no trigraph can form
            out.append(ch)
        else:
            out.extend(f"\\{b:03o}" for b in ch.encode("utf-8"))
    return '"' + "".join(out) + '"'


def c_comment(text: str) -> str:
    """``text`` safe inside a ``/* */`` or ``//`` comment (one line, no comment terminators)."""
    return re.sub(r"\s+", " ", str(text)).replace("*/", "* /").replace("/*", "/ *").replace("\\", "/").strip()
