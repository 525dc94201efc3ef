"""labeler.report: the JSON findings and the self-contained HTML page."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from labeler.dataset import open_dataset
from labeler.model import Issue, Source
from labeler.plugin_api import Finding
from labeler.report import class_distribution_svg, findings_to_json, write_html_report
from tests.conftest import SAMPLE


def _findings() -> list[Finding]:
    keep = {"action": "exclude", "reason": "duplicate of sketch_0063.png", "keep": "sketch_0063.png"}
    return [
        Finding("sketch_0092.png", Issue(kind="duplicate", score=1.0, detail="same file bytes as sketch_0063.png",
                                         related_files=["sketch_0063.png"], suggested_fix=keep)),
        Finding("sketch_0002.png", Issue(kind="mislabel", score=0.97, detail="label 'cow' looks like <horse>",
                                         suggested_fix={"action": "relabel", "label": "horse"},
                                         source=Source(plugin="clip_outliers", model="m1"))),
        Finding("sketch_0050.png", Issue(kind="ambiguous", score=0.8, detail="zebra or giraffe")),
    ]


def test_json_is_ranked_by_score() -> None:
    data = findings_to_json(_findings())
    assert data["count"] == 3
    assert [r["image"] for r in data["findings"]] == ["sketch_0092.png", "sketch_0002.png", "sketch_0050.png"]


def test_class_distribution_svg() -> None:
    svg = class_distribution_svg({"cat": 3, "dog <&>": 12})
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.index("dog &lt;&amp;&gt;") < svg.index("cat")  # largest first, escaped
    widths = [float(w) for w in re.findall(r"<rect [^>]*width='([\d.]+)'", svg)]
    assert widths[0] == max(widths) and widths[1] == widths[0] * 3 / 12
    assert class_distribution_svg({}) == ""


def test_html_has_plot_groups_cards_and_no_external_files(tmp_path: Path) -> None:
    root = tmp_path / "sketches"
    shutil.copytree(SAMPLE / "sketches", root)
    page = tmp_path / "r.html"
    write_html_report(open_dataset(root), _findings(), page)
    text = page.read_text()
    assert "<svg" in text and "Class distribution (10 classes, 126 labels" in text
    assert "Duplicate groups (1 group, 1 copy)" in text
    group = text[text.index("<div class='group'>"):]
    assert group.index("sketch_0063.png") < group.index("sketch_0092.png")  # kept one first
    assert "<h2>mislabel (1)</h2>" in text and "from clip_outliers (m1)" in text
    assert "&lt;horse&gt;" in text and "<horse>" not in text
    assert "<h2>duplicate" not in text  # shown as a group, not as cards
    assert text.count("data:image/jpeg;base64,") >= 4
    assert not re.search(r"src='(?!data:)", text)  # self-contained
