"""Render the report view (``view.build_view``) as GitHub-flavoured Markdown."""
from __future__ import annotations

import re
from typing import Mapping

# A "<" that could open raw HTML (a tag, a comment, a declaration); "<=" and "a < b" stay as typed.
_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?])")


def escape(text: str) -> str:
    """Make ``text`` safe inside a Markdown table cell or line: no pipes, raw HTML or line breaks
    (only a ``<`` that could start HTML is written as ``&lt;``, so ``<=`` reads as ``<=``)."""
    return _TAG_OPEN.sub("&lt;", str(text).replace("\\", "\\\\").replace("|", "\\|")
                         .replace("\r", " ").replace("\n", " "))


def _table(block: Mapping) -> list[str]:
    align = {"left": ":---", "right": "---:"}
    lines = ["| " + " | ".join(escape(h) for h in block["header"]) + " |",
             "| " + " | ".join(align[a] for a in block["align"]) + " |"]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in block["rows"]]
    if block.get("caption"):
        lines += ["", f"*{escape(block['caption'])}*"]
    return lines


def _facts(block: Mapping) -> list[str]:
    return [f"- **{escape(k)}**: {escape(v)}" for k, v in block["items"]]


def _image(block: Mapping) -> list[str]:
    return [f"![{escape(block['caption'])}]({block['src']})"]


def _text(block: Mapping) -> list[str]:
    return [escape(block["text"])]


RENDERERS = {"table": _table, "facts": _facts, "image": _image, "text": _text}


def render_markdown(view: Mapping) -> str:
    """The whole report as Markdown text (ends with one newline)."""
    lines = [f"# {escape(view['title'])}", ""]
    if view["facts"]:
        lines += [f"- **{escape(k)}**: {escape(v)}" for k, v in view["facts"]] + [""]
    if len(view["sections"]) > 2:
        lines += ["Contents: " + " · ".join(f"[{escape(s['title'])}](#{s['id']})" for s in view["sections"]), ""]
    for section in view["sections"]:
        lines += [f'<a id="{section["id"]}"></a>', "", f"## {escape(section['title'])}", ""]
        for block in section["blocks"]:
            lines += RENDERERS[block["type"]](block) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"
