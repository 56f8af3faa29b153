"""A self-contained HTML report: ordered sections, every image embedded as base64 (one file to share)."""

from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hourglass.atomic import atomic_file

STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9em; } img.pixelated { image-rendering: pixelated; }
table { border-collapse: collapse; } td, th { padding: 0.3em 0.8em; border-bottom: 1px solid #ddd; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } nav ol { columns: 2; } .lead { color: #444; }
"""


@dataclass
class Section:
    """One step of the story: a heading and trusted HTML (built by ``figure``/``table`` helpers)."""

    title: str
    html: str

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


def image(data: bytes, alt: str, mime: str = "image/png", pixelated: bool = False, width: int | None = None) -> str:
    """An ``<img>`` carrying its bytes inline, so the report needs no other file."""
    src = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    extra = (' class="pixelated"' if pixelated else "") + (f' width="{width}"' if width else "")
    return f'<img src="{src}" alt="{html.escape(alt)}"{extra}>'


def figure(
    data: bytes, caption: str, mime: str = "image/png", *, pixelated: bool = False, width: int | None = None
) -> str:
    """An embedded image with a caption; ``caption`` is trusted HTML."""
    img = image(data, _strip_tags(caption), mime, pixelated=pixelated, width=width)
    return f"<figure>{img}<figcaption>{caption}</figcaption></figure>"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain HTML table; numbers are right-aligned, everything is escaped.

    Examples
    --------
    >>> print(table(("n", "name"), [(1, "a<b")]).replace("<tbody>", "\\n<tbody>"))
    <table><thead><tr><th>n</th><th>name</th></tr></thead>
    <tbody><tr><td class="num">1</td><td>a&lt;b</td></tr></tbody></table>
    """
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)

    def cell(value: object) -> str:
        number = isinstance(value, (int, float)) or bool(re.fullmatch(r"[-+]?[\d,.]+(e[-+]?\d+)?x?", str(value)))
        return f'<td class="num">{html.escape(str(value))}</td>' if number else f"<td>{html.escape(str(value))}</td>"

    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(title: str, sections: Sequence[Section], lead: str = "") -> str:
    """The whole page: title, a contents list, then the sections in the order given."""
    contents = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in sections)
    body = "".join(f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>{s.html}</section>' for s in sections)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>\n'
        f'<body><h1>{html.escape(title)}</h1><p class="lead">{lead}</p><nav><ol>{contents}</ol></nav>\n'
        f"{body}\n</body></html>\n"
    )


def write_report(path: str | os.PathLike, title: str, sections: Sequence[Section], lead: str = "") -> Path:
    """Render and write the report atomically; returns its path."""
    target = Path(path)
    with atomic_file(target) as tmp:
        tmp.write_text(render(title, sections, lead), encoding="utf-8")
        tmp.chmod(0o644)  # a page to open and share, not a secret (mkstemp makes it 0600)
    return target


def _strip_tags(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text)
