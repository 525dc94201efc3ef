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
.group{{display:flex;gap:.6em;align-items:flex-start;margin:.6em 0;padding:.5em;
border:1px solid #ddd;border-radius:6px;overflow-x:auto;font-size:12px}}
.member{{width:{THUMB + 20}px;text-align:center}}
.member img{{max-width:{THUMB}px;max-height:{THUMB}px;display:block;margin:auto;image-rendering:pixelated;
border:3px solid #e90}}
.member.kept img{{border-color:#2a2}}
.src{{color:#666;font-size:12px}}
"""

#: Issue kinds shown as groups of images side by side (the kept one first) instead of cards.
GROUP_KINDS = ("duplicate", "near_duplicate", "leakage")


def bar_chart_svg(items: Sequence[tuple[str, int]], width: int = 640, bar: int = 18,
                  label: str = "bar chart") -> str:
    """An inline SVG horizontal bar chart of ``(name, count)`` rows, in the order given."""
    if not items:
        return ""
    biggest = max(n for _, n in items) or 1
    label_w, pad = 150, 4
    plot_w = width - label_w - 60
    h = len(items) * (bar + pad) + pad
    rows = []
    for i, (name, n) in enumerate(items):
        y = pad + i * (bar + pad)
        w = max(1.0, plot_w * n / biggest)
        rows.append(
            f"<text x='{label_w - 6}' y='{y + bar - 5}' text-anchor='end'>{html.escape(name[:24])}</text>"
            f"<rect x='{label_w}' y='{y}' width='{w:.1f}' height='{bar}' fill='#4a90d9'>"
            f"<title>{html.escape(name)}: {n}</title></rect>"
            f"<text x='{label_w + w + 4:.1f}' y='{y + bar - 5}'>{n}</text>"
        )
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{h}' "
        f"font-family='sans-serif' font-size='12' role='img' aria-label='{html.escape(label)}'>"
        + "".join(rows) + "</svg>"
    )


def class_distribution_svg(counts: dict[str, int], width: int = 640, bar: int = 18) -> str:
    """An inline SVG horizontal bar chart of ``{class: count}`` (largest first)."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return bar_chart_svg(items, width=width, bar=bar, label="class distribution")


def image_statistics_html(stats: dict[str, Any]) -> str:
    """The section for ``labeler stats --images`` figures (see
    :meth:`labeler.image_properties.ImageStatistics.to_dict`): normalisation mean and std per
    channel, the share of grayscale images, and the long-side and aspect-ratio histograms."""
    if not stats.get("images"):
        return ""
    mean, std = stats["mean"], stats["std"]
    rows = "".join(
        f"<tr><td>{c}</td><td>{m:.4f}</td><td>{s:.4f}</td>"
        f"<td><svg width='120' height='12'><rect width='{120 * m:.1f}' height='12' fill='{col}'/></svg></td></tr>"
        for c, m, s, col in zip(("R", "G", "B"), mean, std, ("#d33", "#3a3", "#33d"), strict=True)
    )
    rows += (f"<tr><td>grey (one channel)</td><td>{stats['gray_mean']:.4f}</td><td>{stats['gray_std']:.4f}</td>"
             f"<td><svg width='120' height='12'><rect width='{120 * stats['gray_mean']:.1f}' height='12' "
             "fill='#888'/></svg></td></tr>")
    norm = stats["normalize"]
    share = stats["grayscale_share"]
    parts = [
        f"<h2>Image statistics ({stats['images']} images)</h2>",
        f"<p>Grayscale images: {stats['grayscale_images']} ({100 * share:.1f}%). "
        f"Normalise with mean {norm['mean']} and std {norm['std']} "
        f"({'one channel: the set is grayscale' if norm['channels'] == 1 else 'RGB'}; pixel values in [0, 1], "
        f"computed at {html.escape(str(stats.get('computed_at', '')))}).</p>",
        "<table><tr><th>channel</th><th>mean</th><th>std</th><th></th></tr>" + rows + "</table>",
    ]
    for key, title in (("width", "width"), ("height", "height"), ("aspect_ratio", "aspect ratio (w / h)")):
        q = stats[key]
        parts.append(f"<div class='src'>{title}: min {q['min']:g}, 5% {q['p5']:g}, median {q['median']:g}, "
                     f"95% {q['p95']:g}, max {q['max']:g}</div>")
    parts.append("<h3>Long side (pixels)</h3>")
    parts.append(bar_chart_svg([(b["bin"], b["count"]) for b in stats["size_histogram"]], label="long side"))
    parts.append("<h3>Aspect ratio (width / height)</h3>")
    parts.append(bar_chart_svg([(b["bin"], b["count"]) for b in stats["aspect_histogram"]], label="aspect ratio"))
    return "\n".join(parts)


def _class_counts(ds: Dataset) -> dict[str, int]:
    try:
        from labeler.stats import compute_stats

        return dict(compute_stats(ds)["classes"])
    except Exception:  # noqa: BLE001 - the plot is an extra; never lose the report over it
        return {}


def _duplicate_groups(rows: Sequence[Finding]) -> list[tuple[str, list[Finding]]]:
    """Findings of :data:`GROUP_KINDS` grouped by the image each group keeps."""
    groups: dict[str, list[Finding]] = defaultdict(list)
    for f in rows:
        fix = f.issue.suggested_fix or {}
        keep = str(fix.get("keep") or (f.issue.related_files[0] if f.issue.related_files else f.rel))
        groups[keep].append(f)
    return sorted(groups.items(), key=lambda kv: (-max(f.issue.score or 0.0 for f in kv[1]), kv[0]))


def _count(n: int, one: str, many: str | None = None) -> str:
    """``1 class``, ``2 classes``: a count with its noun."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def write_html_report(ds: Dataset, findings: Sequence[Finding], path: Path,
                      image_stats: dict[str, Any] | None = None) -> None:
    """A page grouped by issue kind, ranked by score, with thumbnails embedded (no other files).

    It opens with the class distribution (an SVG bar chart), then the image statistics when
    given (``labeler stats --images``, or what the ``image_quality`` check measured), and shows
    duplicate groups side by side, the kept image first.
    """
    groups: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        groups[f.issue.kind].append(f)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>labeler findings</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{'Findings in' if findings or not image_stats else 'Statistics of'} {html.escape(str(ds.root))}</h1>",
        "<p>"
        + ", ".join(f"{html.escape(k)}: {len(v)}" for k, v in sorted(groups.items()))
        + "</p>",
    ]
    cache: dict[str, str] = {}

    def thumb(rel: str) -> str:
        if rel not in cache:
            cache[rel] = _thumb(ds, rel)
        return cache[rel]

    counts = _class_counts(ds)
    if counts:
        n = sum(counts.values())
        ratio = max(counts.values()) / max(min(counts.values()), 1)
        parts.append(f"<h2>Class distribution ({_count(len(counts), 'class', 'classes')}, {_count(n, 'label')}, "
                     f"largest / smallest {ratio:.1f})</h2>")
        parts.append(class_distribution_svg(counts))
    if image_stats:
        parts.append(image_statistics_html(image_stats))

    dup_rows = [f for f in findings if f.issue.kind in GROUP_KINDS]
    if dup_rows:
        dup_groups = _duplicate_groups(dup_rows)
        parts.append(f"<h2>Duplicate groups ({_count(len(dup_groups), 'group')}, "
                     f"{_count(len(dup_rows), 'copy', 'copies')})</h2>")
        parts.append("<p class='src'>Green: the image kept; orange: copies that "
                     "<code>labeler fix --plugin duplicates</code> excludes from export.</p>")
        for keep, members in dup_groups[:300]:
            cells = [f"<div class='member kept'><img src='{thumb(keep)}' alt=''>"
                     f"<b>{html.escape(keep)}</b><div>kept</div></div>"]
            for f in sorted(members, key=lambda f: f.rel):
                i = f.issue
                score = f"{i.score:.2f}" if i.score is not None else "-"
                cells.append(
                    f"<div class='member'><img src='{thumb(f.rel)}' alt=''><b>{html.escape(f.rel)}</b>"
                    f"<div class='score'>{html.escape(i.kind)} {score}</div>"
                    f"<div>{html.escape(i.detail)}</div></div>"
                )
            parts.append("<div class='group'>" + "".join(cells) + "</div>")

    for kind, rows in sorted(groups.items()):
        if kind in GROUP_KINDS:
            continue
        sources = sorted({f"{f.issue.source.plugin}" + (f" ({f.issue.source.model})" if f.issue.source.model else "")
                          for f in rows if f.issue.source is not None})
        parts.append(f"<h2>{html.escape(kind)} ({len(rows)})</h2>")
        if sources:
            parts.append(f"<div class='src'>from {html.escape(', '.join(sources))}</div>")
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
