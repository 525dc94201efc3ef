"""The orientation plugin: shape rotation, the non-destructive fix and its undo, detection with
the bundled OCR models (slow), and the CLI loop on the sample receipts (slow)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import labeler_plugins.orientation as orientation
import numpy as np
import pytest
from click.testing import CliRunner
from labeler_plugins.orientation import (
    ORIGINALS_DIR,
    OrientationCheck,
    OrientationFixer,
    rotate_point,
    rotate_shape,
)
from PIL import Image

from labeler import plugins
from labeler.cli import cli
from labeler.dataset import open_dataset
from labeler.io.images import open_image, read_image_info
from labeler.masks import encode_mask_png, shape_mask_to_full
from labeler.model import Issue, Shape, Source
from labeler.pipeline import run_fix
from labeler.plugin_api import Sample
from tests.conftest import SAMPLE, labelme_json, snapshot, write_json

RECEIPTS = SAMPLE / "receipts"
TRUTH = json.loads((SAMPLE / "truth" / "receipts_noise.json").read_text(encoding="utf-8"))


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Only this plugin, registered by hand (entry points need a reinstall to appear)."""
    monkeypatch.setenv(plugins.ENV_VAR, "")
    plugins.reset()
    plugins.register_plugin(orientation, "orientation")
    yield
    plugins.unregister_plugin("orientation")
    plugins.reset()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- geometry ----------------------------------------------------------------------------------
@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_points_follow_the_pixels(degrees: int) -> None:
    w, h = 7, 4
    arr = np.zeros((h, w), dtype=np.uint8)
    arr[1, 5] = 255  # pixel (x=5, y=1): its centre is (5.5, 1.5)
    turned = np.asarray(
        Image.fromarray(arr).transpose(getattr(Image.Transpose, orientation._TRANSPOSE[degrees]))
    )
    y, x = np.argwhere(turned == 255)[0]
    assert rotate_point(5.5, 1.5, (w, h), degrees) == (x + 0.5, y + 0.5)


def test_four_quarter_turns_are_the_identity() -> None:
    shape = Shape(label="t", points=[(1.25, 2.5), (30.1, 2.5), (30.1, 9.0)])
    size = (40, 20)
    for _ in range(4):
        rotate_shape(shape, size, 90)
        size = (size[1], size[0])
    assert shape.points == [(1.25, 2.5), (30.1, 2.5), (30.1, 9.0)]


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_mask_shapes_rotate_with_the_image(degrees: int) -> None:
    w, h = 12, 8
    full = np.zeros((h, w), dtype=bool)
    full[2:5, 3:9] = True
    full[4, 3] = False
    shape = Shape(
        label="m", shape_type="mask", points=[(3.0, 2.0), (8.0, 4.0)], mask=encode_mask_png(full[2:5, 3:9])
    )
    rotate_shape(shape, (w, h), degrees)
    k = {90: -1, 180: 2, 270: 1}[degrees]
    expected = np.rot90(full, k=k)
    got = shape_mask_to_full(shape.points, shape.mask or "", (expected.shape[1], expected.shape[0]))
    assert np.array_equal(got, expected)


# -- fix and undo (no model) -------------------------------------------------------------------
def make_dataset(root: Path, fmt: str = "png", exif_tag: int = 0) -> Path:
    """A 60x40 image with one shape of each common type and an open 'rotated' issue."""
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, size=(40, 60, 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    path = root / f"page.{fmt}"
    root.mkdir(parents=True, exist_ok=True)
    if fmt == "jpg":
        exif = Image.Exif()
        if exif_tag:
            exif[0x0112] = exif_tag
        img.save(path, quality=90, exif=exif.tobytes())
    else:
        img.save(path)
    w, h = read_image_info(path).size
    shapes = [
        {"label": "a", "points": [[1.5, 2.25], [20, 2.25], [20, 10], [1.5, 10]], "shape_type": "polygon"},
        {"label": "b", "points": [[5, 5], [15, 30]], "shape_type": "rectangle"},
        {"label": "c", "points": [[7, 8]], "shape_type": "point"},
    ]
    issue = Issue(
        kind="rotated",
        score=0.99,
        source=Source(plugin="orientation"),
        suggested_fix={"action": "rotate", "degrees_cw": 90},
    )
    doc = labelme_json(path.name, (w, h), shapes, labeler={"issues": [issue.model_dump(mode="json")]})
    write_json(root / "page.json", doc)
    return path


def test_fix_keeps_the_original_rotates_shapes_and_undo_restores_everything(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    image = make_dataset(root)
    before_img, before_json = sha(image), (root / "page.json").read_text()
    before_pixels = np.asarray(open_image(image))
    ds = open_dataset(root)

    summary = run_fix(ds, OrientationFixer())
    assert summary.per_class["fixed"] == 1 and not summary.failed
    kept = root / ORIGINALS_DIR / "page.png"
    assert sha(kept) == before_img  # the untouched original
    assert np.array_equal(np.asarray(open_image(image)), np.rot90(before_pixels, k=-1))  # lossless
    ann = ds.load(ds.items[0])
    assert ann is not None
    assert (ann.imageWidth, ann.imageHeight) == (40, 60)
    assert ann.shapes[0].points[0] == (40 - 2.25, 1.5)
    issue = ann.meta.issues[0]
    assert issue.state == "fixed" and issue.fixed_by == "orientation"
    assert issue.undo and issue.undo["original"] == f"{ORIGINALS_DIR}/page.png"
    assert [item.rel for item in open_dataset(root).items] == ["page.png"]  # originals not scanned

    summary = run_fix(ds, OrientationFixer(), undo=True)
    assert summary.per_class["undone"] == 1 and not summary.failed
    assert sha(image) == before_img
    assert not kept.exists()
    after = json.loads((root / "page.json").read_text())
    original = json.loads(before_json)
    assert [s["points"] for s in after["shapes"]] == [s["points"] for s in original["shapes"]]
    assert after["labeler"]["issues"][0].get("state", "open") == "open"


def test_dry_run_touches_no_file(tmp_path: Path) -> None:
    """The fixer writes image files, so a dry run must describe the fix without calling it."""
    root = tmp_path / "ds"
    make_dataset(root)
    before = snapshot(root)
    summary = run_fix(open_dataset(root), OrientationFixer(), dry_run=True)
    assert summary.per_class["to fix"] == 1 and summary.changes == [
        "page.png: rotated: image 60x40 -> 40x60 (90 clockwise), 3 shape(s) turned with it"
    ]
    assert snapshot(root) == before
    assert not (root / ORIGINALS_DIR).exists()


def test_jpeg_fix_resets_the_exif_orientation(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    image = make_dataset(root, fmt="jpg", exif_tag=6)  # displayed 40x60
    shown = np.asarray(open_image(image)).astype(int)
    ds = open_dataset(root)
    assert not run_fix(ds, OrientationFixer()).failed
    info = read_image_info(image)
    assert info.orientation == 1 and info.size == (60, 40)
    again = np.asarray(open_image(image)).astype(int)
    right = np.abs(again - np.rot90(shown, k=-1)).mean()  # lossy (quality 95) re-encode
    wrong = np.abs(again - np.rot90(shown, k=1)).mean()
    assert right < 10 and right < wrong / 5
    with Image.open(image) as im:
        assert im.format == "JPEG"


def test_an_existing_original_is_never_overwritten(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    make_dataset(root)
    older = root / ORIGINALS_DIR / "page.png"
    older.parent.mkdir(parents=True)
    older.write_bytes(b"an earlier original")
    ds = open_dataset(root)
    assert not run_fix(ds, OrientationFixer()).failed
    assert older.read_bytes() == b"an earlier original"
    assert (root / ORIGINALS_DIR / "page.1.png").is_file()
    assert not run_fix(ds, OrientationFixer(), undo=True).failed
    assert older.read_bytes() == b"an earlier original"


def test_undo_refuses_to_overwrite_an_image_edited_after_the_fix(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    image = make_dataset(root)
    ds = open_dataset(root)
    run_fix(ds, OrientationFixer())
    Image.new("RGB", (40, 60), "white").save(image)
    summary = run_fix(ds, OrientationFixer(), undo=True)
    assert summary.failed and "changed since the rotation" in summary.failed[0]
    assert (root / ORIGINALS_DIR / "page.png").is_file()


def test_a_rerun_of_the_check_keeps_the_applied_fix_on_record(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    make_dataset(root)
    ds = open_dataset(root)
    run_fix(ds, OrientationFixer())
    item = ds.items[0]
    ann = ds.load(item)
    assert ann is not None
    check = OrientationCheck()  # no setup: a fixed page is not looked at again
    issues = check.check_sample(Sample(item=item, annotation=ann, image=open_image(item.image_path)))
    assert [(i.kind, i.state) for i in issues] == [("rotated", "fixed")]


# -- with the bundled models -------------------------------------------------------------------
@pytest.mark.slow
def test_detects_all_four_rotations_of_a_receipt() -> None:
    page = open_image(RECEIPTS / "receipt_01.jpg")
    for content in (0, 90, 180, 270):
        turned = page.rotate(-content, expand=True)  # PIL: positive is anticlockwise
        result = orientation.detect_orientation(turned)
        assert result.rotation == (360 - content) % 360, (content, result)
        assert result.confidence > 0.8


@pytest.mark.slow
def test_cli_check_fix_undo_on_sample_receipts(tmp_path: Path, registry: None) -> None:
    root = tmp_path / "receipts"
    root.mkdir()
    names = ["receipt_01.jpg", "receipt_10.jpg", "receipt_14.jpg"]
    for name in names:
        for f in RECEIPTS.glob(Path(name).stem + ".*"):
            shutil.copy2(f, root / f.name)
    hashes = {n: sha(root / n) for n in names}
    run = CliRunner().invoke
    res = run(cli, ["check", str(root), "--plugin", "orientation", "--no-progress", "--json"])
    assert res.exit_code == 0, res.output
    found = {}
    for name in names:
        doc = json.loads((root / name).with_suffix(".json").read_text())
        found[name] = [(i["kind"], i["suggested_fix"]["degrees_cw"]) for i in doc.get("labeler", {}).get("issues", [])]
    assert found == {
        "receipt_01.jpg": [],
        "receipt_10.jpg": [("rotated", TRUTH["images"]["receipt_10.jpg"]["fix_rotation"])],
        "receipt_14.jpg": [("exif_orientation", TRUTH["images"]["receipt_14.jpg"]["fix_rotation"])],
    }
    res = run(cli, ["fix", str(root), "--plugin", "orientation", "--json"])
    assert res.exit_code == 0, res.output
    assert sha(root / "receipt_01.jpg") == hashes["receipt_01.jpg"]
    for name in names[1:]:
        assert sha(root / ORIGINALS_DIR / name) == hashes[name]
        assert read_image_info(root / name).orientation == 1
        result = orientation.detect_orientation(open_image(root / name))
        assert result.rotation == 0
    # Shapes still sit on their text: the first one is the store name, a wide line at the top.
    doc = json.loads((root / "receipt_10.json").read_text())
    xs = [p[0] for p in doc["shapes"][0]["points"]]
    ys = [p[1] for p in doc["shapes"][0]["points"]]
    assert max(xs) - min(xs) > 3 * (max(ys) - min(ys)) and max(ys) < doc["imageHeight"] / 4
    # Checking again: the fixed pages are not listed as problems any more.
    res = run(cli, ["check", str(root), "--plugin", "orientation", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "2 finding(s) already fixed or dismissed" in res.output
    assert "Top findings" not in res.output and "rotated" not in res.output
    res = run(cli, ["fix", str(root), "--plugin", "orientation", "--undo", "--json"])
    assert res.exit_code == 0, res.output
    assert {n: sha(root / n) for n in names} == hashes
