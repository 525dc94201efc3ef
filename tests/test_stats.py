"""``labeler stats --images``: normalisation mean/std, sizes, aspect ratios, grayscale share."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from labeler.cli import cli
from labeler.dataset import open_dataset
from labeler.stats import compute_stats
from tests.conftest import SAMPLE

skimage_data = pytest.importorskip("skimage.data")


def _mean_std(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    px = np.concatenate([a.reshape(-1, a.shape[-1]) for a in arrays]).astype(float) / 255
    return px.mean(axis=0), px.std(axis=0)


def test_colour_set_mean_std_sizes(tmp_path: Path) -> None:
    """Small PNGs (not reduced): the figures equal numpy's over all pixels."""
    arrays = [skimage_data.astronaut()[::4, ::4], skimage_data.coffee()[::4, ::4], skimage_data.chelsea()[::3, ::3]]
    for i, a in enumerate(arrays):
        Image.fromarray(a).save(tmp_path / f"{i}.png")
    Image.fromarray(skimage_data.camera()[::4, ::4]).save(tmp_path / "gray.png")  # one-channel file
    arrays.append(np.repeat(skimage_data.camera()[::4, ::4, None], 3, axis=2))
    stats = compute_stats(open_dataset(tmp_path), images=True)["image_statistics"]
    mean, std = _mean_std(arrays)
    assert stats["images"] == 4
    assert stats["mean"] == pytest.approx(mean, abs=1e-3)
    assert stats["std"] == pytest.approx(std, abs=1e-3)
    assert stats["grayscale_images"] == 1 and stats["grayscale_share"] == 0.25
    assert stats["normalize"]["channels"] == 3
    widths = sorted(a.shape[1] for a in arrays)
    assert stats["width"]["min"] == widths[0] and stats["width"]["max"] == widths[-1]
    assert sum(b["count"] for b in stats["aspect_histogram"]) == 4
    assert sum(b["count"] for b in stats["size_histogram"]) == 4


def test_grayscale_set_gives_one_channel_figure(tmp_path: Path) -> None:
    """The shipped sketches are grayscale drawings: one-channel mean/std, share 1."""
    stats = compute_stats(open_dataset(SAMPLE / "sketches"), images=True)["image_statistics"]
    assert stats["grayscale_share"] == 1.0
    norm = stats["normalize"]
    assert norm["channels"] == 1 and norm["mean"] == [stats["gray_mean"]]
    assert stats["mean"][0] == pytest.approx(stats["gray_mean"], abs=0.02)


def test_cli_stats_images_json_html_and_bad_file(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    ds.mkdir()
    Image.fromarray(skimage_data.rocket()[::4, ::4]).save(ds / "a.jpg")
    Image.fromarray(skimage_data.rocket()[::4, ::4, 0]).convert("RGB").save(ds / "b.png")  # equal channels
    (ds / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    html = tmp_path / "stats.html"
    res = CliRunner().invoke(cli, ["stats", str(ds), "--images", "--json", "--html", str(html)])
    assert res.exit_code == 1  # one unreadable image
    data = json.loads(res.output)
    assert data["image_statistics"]["images"] == 2
    assert data["image_statistics"]["grayscale_images"] == 1
    assert any("bad.png" in u for u in data["unreadable"])
    page = html.read_text()
    assert "Image statistics (2 images)" in page and "<svg" in page and "Aspect ratio" in page
    res = CliRunner().invoke(cli, ["stats", str(ds), "--images", "--no-progress"])
    assert "normalise with mean=" in res.output and "grayscale (50.0%)" in res.output
