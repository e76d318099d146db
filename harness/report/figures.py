"""Pieces of report.html that a project's own sections use too (the pytest_harness_html_sections
hook, see harness.plugin.hookspecs): escaping, a section, a PNG figure embedded as a data URI
(linked when over MAX_EMBED_BYTES) with the labelled colour bar its text chunks describe, a table
of numbers. Standard library only (Pillow, when installed, reads the colour-bar text chunks)."""
from __future__ import annotations

import base64
import math
import re
from html import escape as _html_escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

MAX_EMBED_BYTES = 2_000_000  # a PNG larger than this is linked, not embedded
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def escape(value: Any) -> str:
    return _html_escape(str(value), quote=True)


_e = escape


def section(title: str, body: str, anchor: str) -> str:
    """A top-level section of the page (`anchor` is its id)."""
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{body}</section>'


def is_png(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE
    except OSError:
        return False


def colour_bar(path: Path) -> str:
    """A labelled colour bar from the PNG's text chunks `display-range` ("lo hi"),
    `colormap-stops` (hex colours, low to high) and `unit`; '' when it has none."""
    try:
        from PIL import Image
        with Image.open(path) as image:
            text = dict(getattr(image, "text", {}) or {})
        low, high = (float(x) for x in text["display-range"].split())
        stops = [s for s in text["colormap-stops"].split() if re.fullmatch(r"#[0-9a-fA-F]{6}", s)]
    except (ImportError, OSError, KeyError, ValueError, SyntaxError):
        return ""
    if len(stops) < 2 or not all(map(math.isfinite, (low, high))):
        return ""
    unit = f" {text.get('unit', '')}".rstrip()
    ticks = [low, (low + high) / 2, high]
    return (f'<div class="cbar"><div style="background:linear-gradient(to right,'
            f'{",".join(stops)})"></div><span>'
            + "".join(f"<i>{tick:.3g}{_e(unit)}</i>" for tick in ticks) + "</span></div>")


def figure(path: Path, caption: str, run_dir: Path) -> str:
    """The PNG embedded as a data URI; linked instead when it is over MAX_EMBED_BYTES."""
    if not is_png(path):
        return f'<figure><div class="empty">{_e(caption)}: missing or not a PNG</div></figure>'
    size = Path(path).stat().st_size
    if size > MAX_EMBED_BYTES:  # too big to inline: linked, relative, opens beside report.html
        href = quote(Path(path).relative_to(run_dir).as_posix())
        return (f'<figure><div class="empty"><a href="{_e(href)}">{_e(caption)}: open the PNG'
                f'</a><br>{size / 1e6:.1f} MB, over the {MAX_EMBED_BYTES / 1e6:g} MB inline limit: '
                'linked, not embedded (it opens from the run folder)</div>'
                f'<figcaption>{_e(caption)}</figcaption></figure>')
    uri = "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<figure><img src="{uri}" alt="{_e(caption)}">{colour_bar(path)}'
            f'<figcaption>{_e(caption)}</figcaption></figure>')


def metrics_table(metrics: dict) -> str:
    rows = "".join(f'<tr><td>{_e(key)}</td><td class="num">{value:.4g}</td></tr>'
                   for key, value in metrics.items()
                   if isinstance(value, (int, float)) and not isinstance(value, bool))
    return f'<table class="metrics"><tbody>{rows}</tbody></table>' if rows else \
        '<p class="small">no metrics.json</p>'
