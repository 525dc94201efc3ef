"""The image_quality check and fixer on real photos (scikit-image) made dark, light, blurry..."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from labeler_plugins.image_quality import KINDS, ImageQuality, severity, size_scores
from PIL import Image, ImageEnhance, ImageFilter

from labeler.cli import cli
from labeler.dataset import open_dataset
from labeler.image_properties import decode_small, entropy, measure
from labeler.pipeline import run_check

skimage_data = pytest.importorskip("skimage.data")

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "colorwheel")


def _photo(name: str, side: int = 320) -> Image.Image:
    im = Image.fromarray(getattr(skimage_data, name)()).convert("RGB")
    im.thumbnail((side, side))
    return im


#: file name -> the image; every kind once, on top of six plain colour photos.
def _variants() -> dict[str, Image.Image]:
    base = _photo("astronaut")
    out = {f"plain_{n}.jpg": _photo(n) for n in PHOTOS}
    out["dark.jpg"] = ImageEnhance.Brightness(base).enhance(0.15)
    out["light.png"] = Image.blend(base, Image.new("RGB", base.size, "white"), 0.96)
    out["blurry.jpg"] = base.filter(ImageFilter.GaussianBlur(12))
    out["gray_one_channel.png"] = base.convert("L")
    out["gray_rgb.jpg"] = base.convert("L").convert("RGB")  # three equal channels
    out["strip.png"] = base.crop((0, 0, base.width, 40))
    out["tiny.png"] = base.resize((20, 20))
    out["flat.png"] = Image.new("RGB", base.size, (90, 140, 60))
    return out


EXPECTED = {
    "dark.jpg": {"dark"},
    "light.png": {"light"},
    "blurry.jpg": {"blurry"},
    "gray_one_channel.png": {"grayscale"},
    "gray_rgb.jpg": {"grayscale"},
    "strip.png": {"odd_aspect_ratio"},
    "tiny.png": {"odd_size"},
    "flat.png": {"low_information"},  # no edges, but a one-colour histogram is not blur (as cleanvision)
}


@pytest.fixture
def quality_set(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    root.mkdir()
    for name, im in _variants().items():
        im.save(root / name, **({"quality": 92} if name.endswith(".jpg") else {}))
    return root


def _kinds_by_image(findings: list) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in findings:
        out.setdefault(f.rel, set()).add(f.issue.kind)
    return out


def test_each_kind_is_found_on_its_image_only(quality_set: Path) -> None:
    summary, findings = run_check(open_dataset(quality_set), ImageQuality())
    assert not summary.failed
    got = _kinds_by_image(findings)
    for name, kinds in EXPECTED.items():
        assert got.get(name) == kinds, (name, got.get(name))
    plain = {n for n in got if n.startswith("plain_")}
    assert not plain, {n: got[n] for n in plain}
    assert {f.issue.kind for f in findings} == set(KINDS)
    for f in findings:
        assert 0.5 <= f.issue.score <= 1.0
        assert f.issue.suggested_fix == {"action": "exclude", "reason": f.issue.kind.replace("_", " ")}
        assert f.issue.source.plugin == "image_quality"
    one = next(f for f in findings if f.rel == "gray_one_channel.png")
    assert "one-channel" in one.issue.detail
    rgb = next(f for f in findings if f.rel == "gray_rgb.jpg")
    assert "channels are equal" in rgb.issue.detail


def test_scores_match_cleanvision_formulas(quality_set: Path) -> None:
    """The properties equal cleanvision's on the same file (full decode vs our reduced one)."""
    from PIL import ImageStat

    path = quality_set / "dark.jpg"
    props = measure(decode_small(path))
    with Image.open(path) as im:
        full = np.asarray(im.convert("RGB")).astype(float)
        pil_entropy = im.entropy()
        stat_var = None
        ratio = max(im.size) / 64
        grey = im.resize((int(im.width // ratio), int(im.height // ratio))).convert("L")
        stat_var = ImageStat.Stat(grey.filter(ImageFilter.FIND_EDGES)).var[0]
    bright = np.sqrt(0.241 * full[..., 0] ** 2 + 0.691 * full[..., 1] ** 2 + 0.068 * full[..., 2] ** 2) / 255
    assert props.brightness_p99 == pytest.approx(np.percentile(bright, 99), abs=0.02)
    assert props.brightness_p5 == pytest.approx(np.percentile(bright, 5), abs=0.02)
    assert props.entropy == pytest.approx(pil_entropy, abs=0.15)
    assert props.edge_std == pytest.approx(np.sqrt(stat_var), rel=0.1)
    # entropy of one flat colour is 0 bits, of a photo several
    assert entropy(np.full((8, 8), 7, np.uint8)) == 0.0
    assert props.entropy > 4


def test_thresholds_are_settable(quality_set: Path) -> None:
    ds = open_dataset(quality_set)
    _, strict = run_check(ds, ImageQuality({"kinds": ["dark"], "dark_threshold": 0.05}), dry_run=True)
    assert not strict  # 0.15 x brightness is not *that* dark
    _, lax = run_check(ds, ImageQuality({"kinds": "dark", "dark_threshold": 0.99}), dry_run=True)
    assert {f.rel for f in lax} > {"dark.jpg"}  # nearly everything is "dark" at 0.99
    assert {f.issue.kind for f in lax} == {"dark"}
    with pytest.raises(ValueError, match="unknown kind 'shiny'"):
        ImageQuality({"kinds": ["shiny"]})


def test_size_score_and_severity() -> None:
    scores, t = size_scores(np.array([100.0, 110, 105, 98, 102, 400, 5]), 3.0)
    assert t == 0.5
    assert scores[5] < t and scores[6] < t and (scores[:5] > t).all()
    same, t_same = size_scores(np.array([50.0, 50, 50]), 3.0)
    assert t_same == 1.0 and (same == 1.0).all()
    assert severity(0.32, 0.32) == 0.5 and severity(0.0, 0.32) == 1.0
    assert severity(0.16, 0.32) == pytest.approx(0.75)


def test_exif_rotated_jpeg_reports_displayed_size(tmp_path: Path) -> None:
    im = _photo("rocket").crop((0, 0, 300, 100))
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated by 90 degrees
    im.save(tmp_path / "rot.jpg", exif=exif)
    small = decode_small(tmp_path / "rot.jpg")
    assert small.size == (100, 300)
    h, w = small.pixels.shape[:2]
    assert (h, w) == (256, 85)  # reduced to 256 px on the long side, upright


def test_bad_image_is_reported_and_the_rest_checked(quality_set: Path) -> None:
    (quality_set / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    data = (quality_set / "dark.jpg").read_bytes()
    (quality_set / "truncated.jpg").write_bytes(data[: len(data) // 3])
    summary, findings = run_check(open_dataset(quality_set), ImageQuality())
    failed = "\n".join(summary.failed)
    assert "broken.jpg" in failed
    assert "dark.jpg" in {f.rel for f in findings}


def test_cli_check_fix_undo(quality_set: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    html = tmp_path / "report.html"
    res = runner.invoke(cli, ["check", str(quality_set), "--plugin", "image_quality", "--html", str(html),
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    page = html.read_text()
    assert "dark (1)" in page and "Image statistics" in page
    doc = json.loads((quality_set / "dark.json").read_text())
    assert [i["kind"] for i in doc["labeler"]["issues"]] == ["dark"]
    res = runner.invoke(cli, ["fix", str(quality_set), "--plugin", "image_quality", "--kind", "dark"])
    assert res.exit_code == 0, res.output
    doc = json.loads((quality_set / "dark.json").read_text())
    assert doc["labeler"]["exclude"] is True and doc["labeler"]["exclude_reason"] == "dark"
    assert not json.loads((quality_set / "tiny.json").read_text())["labeler"].get("exclude")
    res = runner.invoke(cli, ["fix", str(quality_set), "--plugin", "image_quality", "--undo"])
    assert res.exit_code == 0, res.output
    assert not json.loads((quality_set / "dark.json").read_text())["labeler"].get("exclude")


def test_other_modes_decode_to_the_same_figures(tmp_path: Path) -> None:
    """16-bit grey, palette, and RGBA files are read as their 8-bit grey or colour pixels."""
    photo = _photo("coffee")
    grey = np.asarray(photo.convert("L"))
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "grey16.png")  # 16-bit PNG
    photo.convert("L").save(tmp_path / "grey8.png")
    photo.quantize(256).save(tmp_path / "palette.png")
    rgba = photo.convert("RGBA")
    rgba.putalpha(0)  # fully transparent: the colour channels still count
    rgba.save(tmp_path / "rgba.png")
    photo.save(tmp_path / "rgb.png")
    p16, p8 = measure(decode_small(tmp_path / "grey16.png")), measure(decode_small(tmp_path / "grey8.png"))
    assert p16.mode == "I;16" and p16.brightness_p99 == pytest.approx(p8.brightness_p99, abs=0.01)
    assert p16.entropy == pytest.approx(p8.entropy, abs=0.05)
    rgb = measure(decode_small(tmp_path / "rgb.png"))
    for name in ("palette.png", "rgba.png"):
        other = measure(decode_small(tmp_path / name))
        assert other.brightness_p99 == pytest.approx(rgb.brightness_p99, abs=0.03), name
        assert other.channel_spread > 2, name
    _, findings = run_check(open_dataset(tmp_path), ImageQuality({"kinds": "grayscale"}), dry_run=True)
    assert {f.rel for f in findings} == {"grey16.png", "grey8.png"}
