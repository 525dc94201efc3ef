"""Findings reports: JSON for scripts, a self-contained HTML page for people."""

from __future__ import annotations

import base64
import html
import io
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from labeler.dataset import Dataset
from labeler.errors import ImageFileError
from labeler.io.atomic import atomic_write_text
from labeler.io.images import open_image
from labeler.plugin_api import Finding

THUMB = 160


def findings_to_json(findings: Sequence[Finding]) -> dict[str, Any]:
    """``{"findings": [{"image": rel, "kind": ..., ...}], "count": n}`` ranked by score."""
    rows = []
    for f in sorted(findings, key=lambda f: -(f.issue.score or 0.0)):
        data = f.issue.model_dump(mode="json", exclude_none=True)
        rows.append({"image": f.rel, **data})
    return {"count": len(rows), "findings": rows}


def _thumb(ds: Dataset, rel: str) -> str:
    try:
        img = open_image(ds.root / rel, draft_size=(THUMB, THUMB))
    except (ImageFileError, OSError):
        return ""
    img.thumbnail((THUMB, THUMB))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


_CSS = f"""
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}
h2{{border-bottom:1px solid #ccc;padding-bottom:.2em}}
.card{{display:inline-block;vertical-align:top;width:{THUMB + 120}px;margin:.5em;padding:.5em;
border:1px solid #ddd;border-radius:6px;font-size:12px}}
.card img{{max-width:{THUMB}px;max-height:{THUMB}px;display:block;margin:auto;image-rendering:pixelated}}
.related img{{max-width:{THUMB // 2}px;max-height:{THUMB // 2}px;border:2px solid #e90}}
.score{{font-weight:bold;color:#b00}}
"""


def write_html_report(ds: Dataset, findings: Sequence[Finding], path: Path) -> None:
    """A page grouped by issue kind, ranked by score, with thumbnails embedded (no other files)."""
    groups: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        groups[f.issue.kind].append(f)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>labeler findings</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Findings in {html.escape(str(ds.root))}</h1>",
        "<p>"
        + ", ".join(f"{html.escape(k)}: {len(v)}" for k, v in sorted(groups.items()))
        + "</p>",
    ]
    cache: dict[str, str] = {}

    def thumb(rel: str) -> str:
        if rel not in cache:
            cache[rel] = _thumb(ds, rel)
        return cache[rel]

    for kind, rows in sorted(groups.items()):
        parts.append(f"<h2>{html.escape(kind)} ({len(rows)})</h2>")
        for f in sorted(rows, key=lambda f: -(f.issue.score or 0.0))[:500]:
            i = f.issue
            score = f"{i.score:.2f}" if i.score is not None else "-"
            fix = html.escape(str(i.suggested_fix)) if i.suggested_fix else ""
            related = "".join(
                f"<img title='{html.escape(r)}' src='{thumb(r)}'>" for r in i.related_files[:4]
            )
            parts.append(
                "<div class='card'>"
                f"<img src='{thumb(f.rel)}' alt=''><div><b>{html.escape(f.rel)}</b></div>"
                f"<div class='score'>score {score}</div><div>{html.escape(i.detail)}</div>"
                + (f"<div>fix: <code>{fix}</code></div>" if fix else "")
                + (f"<div class='related'>{related}</div>" if related else "")
                + "</div>"
            )
    parts.append("</body></html>")
    atomic_write_text(path, "\n".join(parts))
