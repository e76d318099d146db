"""The look of report.html (and of `harness compare`'s page): status colours and headlines, the
stylesheet, small formatting helpers."""
from __future__ import annotations

import math
from typing import Any

from harness.report.figures import escape as _e

STATUS_STYLE = {  # status -> (css class, headline)
    "passed": ("ok", "Green"),
    "failed": ("bad", "Tests failed"),
    "error": ("bad", "Harness or collection error"),
    "invalid": ("warn", "Artifacts failed validation"),
    "over_budget": ("warn", "Over budget"),
    "empty": ("muted", "Nothing selected"),
    "interrupted": ("muted", "Interrupted"),
    "running": ("muted", "Still running"),
}
VERDICT_CLASS = {"passed": "ok", "ok": "ok", "failed": "bad", "error": "bad", "invalid": "warn",
                 "over_ceiling": "bad", "too_slow": "warn", "too_fast": "warn", "empty": "muted",
                 "info": "info", "warning": "warn", "violation": "bad"}
COLOURS = {"ok": "#1a7f37", "warn": "#bf6a02", "bad": "#cf222e", "muted": "#6e7781",
           "info": "#0969da", "band": "#d6f0dc", "track": "#eef1f4", "ink": "#1f2328"}

CSS = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 color:#1f2328;background:#f6f8fa}
main{max-width:1200px;margin:0 auto;padding:20px 24px 40px}
h1{font-size:26px;margin:0}h2{font-size:18px;margin:28px 0 10px;padding-bottom:4px;
 border-bottom:1px solid #d0d7de}h3{font-size:15px;margin:14px 0 6px}
code,.mono{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.verdict{border-radius:10px;padding:18px 22px;color:#fff;display:flex;gap:24px;
 align-items:center;flex-wrap:wrap}
.verdict.ok{background:#1a7f37}.verdict.bad{background:#cf222e}.verdict.warn{background:#bf6a02}
.verdict.muted{background:#6e7781}.verdict .sub{opacity:.92;font-size:13px}
.verdict .big{font-size:30px;font-weight:700;letter-spacing:.5px}
.stats{display:flex;gap:10px;margin-left:auto;flex-wrap:wrap}
.stat{background:rgba(255,255,255,.18);border-radius:8px;padding:6px 12px;text-align:center;
 min-width:74px}.stat b{display:block;font-size:20px}
.meta{color:#57606a;margin:8px 2px 0;font-size:13px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d0d7de;
 border-radius:8px;overflow:hidden}
th,td{padding:7px 10px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:middle}
th{background:#f6f8fa;font-weight:600;font-size:12.5px;color:#57606a}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr:last-child td{border-bottom:none}td code{word-break:break-all}.nowrap{white-space:nowrap}
.pill{display:inline-block;border-radius:999px;padding:1px 9px;font-size:12px;font-weight:600;
 color:#fff}.pill.ok{background:#1a7f37}.pill.bad{background:#cf222e}.pill.warn{background:#bf6a02}
.pill.muted{background:#8c959f}.pill.info{background:#0969da}
.card{background:#fff;border:1px solid #d0d7de;border-left:5px solid #8c959f;border-radius:8px;
 padding:10px 14px;margin:10px 0}.card.bad{border-left-color:#cf222e}
.card.warn{border-left-color:#bf6a02}.card.ok{border-left-color:#1a7f37}
.card.info{border-left-color:#0969da}.card ul{margin:6px 0 2px;padding-left:20px}
.card li{margin:2px 0}.small{font-size:12.5px;color:#57606a}.empty{color:#57606a;font-style:italic}
.recon{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:14px}
.backend{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px}
.backend h3{margin:0 0 8px}.backend .mono{word-break:break-all}.images{display:flex;gap:10px}
figure{margin:0;flex:1;text-align:center}figure img{width:100%;max-width:260px;
 image-rendering:pixelated;border:1px solid #d0d7de;border-radius:4px;background:#000}
figcaption{font-size:12px;color:#57606a}
.cbar{max-width:260px;margin:4px auto 0}.cbar div{height:8px;border:1px solid #d0d7de}
.cbar span{display:flex;justify-content:space-between;font-size:11px;color:#57606a}
.metrics td{padding:3px 8px;font-size:12.5px}.metrics{margin-top:8px}
.trends{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:12px}
.trend{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:8px 12px}
.legend{font-size:12px;color:#57606a;margin:4px 0 8px}
.legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin:0 4px -1px 10px}
footer{margin-top:30px;color:#57606a;font-size:12px}
"""


# ---------------------------------------------------------------- small helpers

def _seconds(value: Any) -> str:
    try:
        return f"{float(value):.2f} s"
    except (TypeError, ValueError):
        return "-"


def _pill(text: str, kind: str | None = None) -> str:
    return f'<span class="pill {VERDICT_CLASS.get(kind or text, "muted")}">{_e(text)}</span>'


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
