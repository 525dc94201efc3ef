"""The duplicates check and fixer: exact and transformed copies, groups, leakage, reversible fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from labeler_plugins.duplicates import (
    TRANSFORMS,
    Duplicates,
    ExcludeDuplicates,
    best_match,
    image_fidelity,
    image_hashes,
    near_pairs,
    split_of,
)
from PIL import Image

from labeler.cli import cli
from labeler.dataset import open_dataset
from labeler.pipeline import run_check, run_fix
from tests.conftest import SAMPLE, labelme_json, make_image, rect, write_json

pytest.importorskip("scipy")

SKETCHES = SAMPLE / "sketches"


def _label(path: Path, label: str) -> None:
    with Image.open(path) as im:
        size = im.size
    write_json(path.with_suffix(".json"),
               labelme_json(path.name, size, labeler={"schema_version": 1, "image_labels": [{"label": label}]}))


def _crop(im: Image.Image, frac: float) -> Image.Image:
    w, h = im.size
    dx, dy = int(w * frac / 2), int(h * frac / 2)
    return im.crop((dx, dy, w - dx, h - dy))


COPIES = {
    "flip": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "rot90": lambda im: im.transpose(Image.Transpose.ROTATE_90),
    "rot180": lambda im: im.transpose(Image.Transpose.ROTATE_180),
    "rot270": lambda im: im.transpose(Image.Transpose.ROTATE_270),
    "half": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.BICUBIC),
    "double": lambda im: im.resize((im.width * 2, im.height * 2), Image.Resampling.BICUBIC),
    "crop": lambda im: _crop(im, 0.08),
}


@pytest.fixture
def transformed(tmp_path: Path) -> Path:
    """10 distinct originals (drawings and photos-like scenes) plus one copy per transform."""
    root = tmp_path / "ds"
    root.mkdir()
    originals = [SKETCHES / f"sketch_{i:04d}.png" for i in (1, 3, 6, 7, 12, 13)]
    originals += [SAMPLE / "scenes" / f"scene_{i:04d}.jpg" for i in (1, 2, 4, 5)]
    for src in originals:
        shutil.copy(src, root / src.name)
    for n, (name, fn) in enumerate(COPIES.items()):
        src = originals[n % len(originals)]
        with Image.open(src) as im:
            fn(im.convert("RGB")).save(root / f"copy_{name}_{src.stem}.png")
    src = originals[-1]
    with Image.open(src) as im:
        im.save(root / f"copy_jpeg_{src.stem}.jpg", quality=35)
    shutil.copy(originals[0], root / "copy_exact.png")
    return root


def test_every_transform_is_found_and_nothing_else(transformed: Path) -> None:
    ds = open_dataset(transformed)
    _summary, findings = run_check(ds, Duplicates(), dry_run=True)
    flagged = {f.rel: f for f in findings}
    copies = sorted(p.name for p in transformed.glob("copy_*"))
    groups = {}
    for f in findings:
        groups[f.rel] = {f.rel, *f.issue.related_files}
    for name in copies:
        stem = name.split("_", 2)[-1].rsplit(".", 1)[0]
        group = groups.get(name) or next((g for g in groups.values() if name in g), set())
        original = "sketch_0001.png" if name == "copy_exact.png" else next(
            (m for m in group if m.startswith(stem)), None)
        assert original in group, f"{name} not grouped with its original: {group}"
    members = set().union(*groups.values())
    assert all(m.startswith(("copy_", "sketch_0001", "sketch_0003", "sketch_0006", "sketch_0007",
                             "sketch_0012", "sketch_0013", "scene_0001", "scene_0002",
                             "scene_0004", "scene_0005")) for m in members)
    # Only one image per group is left unflagged: flags = copies (every original kept).
    assert len(flagged) == len(copies)
    exact = [f for f in findings if f.issue.kind == "duplicate"]
    assert [{f.rel, f.issue.related_files[0]} for f in exact] == [{"copy_exact.png", "sketch_0001.png"}]
    assert exact[0].issue.score == 1.0
    near = [f for f in findings if f.issue.kind == "near_duplicate"]
    assert all(0.5 <= (f.issue.score or 0) <= 1.0 for f in near)
    assert any("flipped horizontally" in f.issue.detail for f in near)


def test_transform_names_match_pil_operations(tmp_path: Path) -> None:
    from PIL import ImageFilter

    rng = np.random.default_rng(3)
    base = Image.fromarray((rng.random((48, 48)) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(3))
    ops = {"rotated 90": Image.Transpose.ROTATE_90, "rotated 180": Image.Transpose.ROTATE_180,
           "rotated 270": Image.Transpose.ROTATE_270, "flipped horizontally": Image.Transpose.FLIP_LEFT_RIGHT,
           "flipped vertically": Image.Transpose.FLIP_TOP_BOTTOM, "transposed": Image.Transpose.TRANSPOSE,
           "anti-transposed": Image.Transpose.TRANSVERSE}

    def hashes(im: Image.Image, name: str) -> np.ndarray:
        im.save(tmp_path / name)
        return image_hashes(tmp_path / name)[0]

    h0 = hashes(base, "base.png")
    for name, op in ops.items():
        dist, t = best_match(h0, hashes(base.transpose(op), f"{t_safe(name)}.png"))
        assert dist == 0 and TRANSFORMS[t] == name


def t_safe(name: str) -> str:
    return name.replace(" ", "_")


def test_sample_sketches_injected_duplicates_exactly(tmp_path: Path) -> None:
    root = tmp_path / "sketches"
    shutil.copytree(SKETCHES, root)
    truth = json.loads((SAMPLE / "truth" / "sketches_noise.json").read_text())
    pairs = {frozenset((d["image"], d["original"])) for d in truth["flipped_near_duplicates"] + truth["exact_duplicates"]}
    _summary, findings = run_check(open_dataset(root), Duplicates())
    found = {frozenset((f.rel, f.issue.related_files[0])) for f in findings}
    assert found == pairs
    kinds = {f.rel: f.issue.kind for f in findings}
    exact = {d["image"] for d in truth["exact_duplicates"]} | {d["original"] for d in truth["exact_duplicates"]}
    assert {r for r, k in kinds.items() if k == "duplicate"} <= exact


def test_shortlist_path_matches_brute_force(transformed: Path) -> None:
    files = sorted(p for p in transformed.iterdir() if p.suffix in (".png", ".jpg"))
    hs, inv = zip(*(image_hashes(p) for p in files), strict=True)
    hashes, invs = np.stack(hs), np.stack(inv)
    brute = near_pairs(hashes, 36)
    short = near_pairs(hashes, 36, invs, candidates=5)
    assert set(brute) <= set(short) | set()  # every pair the brute force finds
    assert set(short) <= set(brute)
    assert brute


def test_groups_keep_one_representative_and_report_leakage(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    for split in ("train", "val", "test"):
        (root / split).mkdir(parents=True)
    src = SKETCHES / "sketch_0001.png"
    shutil.copy(src, root / "val" / "a.png")
    shutil.copy(src, root / "train" / "a_copy.png")
    with Image.open(src) as im:
        im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(root / "test" / "a_flipped.png")
        im.save(root / "train" / "a_again.png")  # same pixels, other bytes? (PNG re-encode)
    shutil.copy(SKETCHES / "sketch_0007.png", root / "train" / "other.png")
    for p in root.rglob("*.png"):
        _label(p, "bird")
    _summary, findings = run_check(open_dataset(root), Duplicates(), dry_run=True)
    by_rel = {f.rel: f.issue for f in findings}
    # The train copies outrank val/test, the first by path among equals is kept.
    assert "train/a_again.png" not in by_rel
    assert set(by_rel) == {"train/a_copy.png", "val/a.png", "test/a_flipped.png"}
    assert by_rel["val/a.png"].kind == "leakage" and by_rel["test/a_flipped.png"].kind == "leakage"
    assert by_rel["train/a_copy.png"].kind in ("duplicate", "near_duplicate")
    assert all(i.suggested_fix == {"action": "exclude", "reason": i.suggested_fix["reason"],
                                   "keep": "train/a_again.png"} for i in by_rel.values())
    assert "other.png" not in str(by_rel)
    assert split_of("data/Validation/x.png") == "val" and split_of("x.png") == ""


def test_labeled_image_is_kept_over_unlabeled_copy(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    shutil.copy(SKETCHES / "sketch_0005.png", root / "a.png")
    shutil.copy(SKETCHES / "sketch_0005.png", root / "b.png")
    _label(root / "b.png", "bird")
    _summary, findings = run_check(open_dataset(root), Duplicates(), dry_run=True)
    assert [f.rel for f in findings] == ["a.png"]


def test_fix_excludes_copies_and_undo_restores(tmp_path: Path) -> None:
    root = tmp_path / "sketches"
    shutil.copytree(SKETCHES, root)
    images_before = {p.name: p.read_bytes() for p in root.glob("*.png")}
    runner = CliRunner()
    res = runner.invoke(cli, ["check", str(root), "--plugin", "duplicates", "--no-progress"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["fix", str(root), "--plugin", "duplicates"])
    assert res.exit_code == 0, res.output
    ds = open_dataset(root)
    excluded = {it.rel: ann.meta.exclude_reason for it, ann in ds.annotations() if ann.meta.exclude}
    assert set(excluded) == {"sketch_0071.png", "sketch_0092.png", "sketch_0097.png",
                             "sketch_0104.png", "sketch_0107.png", "sketch_0124.png"}
    assert "sketch_0063.png" in excluded["sketch_0092.png"]
    # A rerun of the check keeps the fix recorded (still undoable).
    runner.invoke(cli, ["check", str(root), "--plugin", "duplicates", "--no-progress"])
    out = tmp_path / "export"
    res = runner.invoke(cli, ["export", str(root), "--to", "imagefolder", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert len(list(out.rglob("*.png"))) == 120
    res = runner.invoke(cli, ["fix", str(root), "--plugin", "duplicates", "--undo"])
    assert res.exit_code == 0, res.output
    ds = open_dataset(root)
    assert not any(ann.meta.exclude for _it, ann in ds.annotations())
    assert all(i.state == "open" for _it, ann in ds.annotations() for i in ann.meta.issues)
    # Image files were never touched or deleted.
    assert {p.name: p.read_bytes() for p in root.glob("*.png")} == images_before


def test_fix_keeps_an_earlier_exclusion_on_undo(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    shutil.copy(SKETCHES / "sketch_0005.png", root / "a.png")
    shutil.copy(SKETCHES / "sketch_0005.png", root / "b.png")
    _label(root / "a.png", "bird")
    _label(root / "b.png", "bird")
    ds = open_dataset(root)
    item = ds.item("b.png")
    ann = ds.load(item)
    assert ann is not None
    ann.meta.exclude, ann.meta.exclude_reason = True, "blurry"
    ds.save(item, ann)
    run_check(ds, Duplicates())
    run_fix(ds, ExcludeDuplicates())
    assert ds.load(item).meta.exclude_reason.startswith("duplicate of a.png")  # type: ignore[union-attr]
    run_fix(ds, ExcludeDuplicates(), undo=True)
    after = ds.load(item)
    assert after is not None and after.meta.exclude and after.meta.exclude_reason == "blurry"


def test_an_unreadable_image_is_reported_not_skipped_silently(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from labeler.cli import cli

    root = tmp_path / "ds"
    for i in range(3):
        make_image(root / f"im{i}.png", (32, 32), seed=i)
        write_json(root / f"im{i}.json", labelme_json(f"im{i}.png", (32, 32), [rect("a", 1, 1, 9, 9)]))
    (root / "im1.png").write_bytes(b"this is not an image")
    res = CliRunner().invoke(cli, ["check", str(root), "--plugin", "duplicates", "--no-progress"])
    assert res.exit_code == 1
    assert "im1.png" in res.output and "1 failed" in res.output


def test_images_without_label_file_are_counted_as_checked(tmp_path: Path) -> None:
    from labeler.dataset import open_dataset
    from labeler.pipeline import run_check

    root = tmp_path / "ds"
    for i in range(3):
        make_image(root / f"im{i}.png", (32, 32), seed=i)
    write_json(root / "im0.json", labelme_json("im0.png", (32, 32), [rect("a", 1, 1, 9, 9)]))
    summary, findings = run_check(open_dataset(root), Duplicates())
    assert summary.total == 3 and summary.processed == 3 and not findings
    assert not (root / "im1.json").exists()  # nothing found: no file created


def _bad_copies(root: Path) -> Path:
    """An original photo and three worse copies whose names sort before it: rotated 90 degrees
    (lossless, as many pixels), half size, recompressed at JPEG quality 8."""
    root.mkdir(parents=True)
    original = root / "z_original.jpg"
    shutil.copy(SAMPLE / "scenes" / "scene_0001.jpg", original)
    with Image.open(original) as im:
        im.transpose(Image.Transpose.ROTATE_90).save(root / "a_rotated.png")
        im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS).save(root / "b_half.jpg", quality=95)
        im.save(root / "c_recompressed.jpg", quality=8)
    return original


def test_group_keeps_the_upright_largest_least_compressed_original(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    _bad_copies(root)
    for p in root.iterdir():
        _label(p, "scene")
    ds = open_dataset(root)
    _summary, findings = run_check(ds, Duplicates())
    by_rel = {f.rel: f.issue for f in findings}
    assert set(by_rel) == {"a_rotated.png", "b_half.jpg", "c_recompressed.jpg"}, by_rel
    assert {i.suggested_fix["keep"] for i in by_rel.values()} == {"z_original.jpg"}  # type: ignore[index]
    assert "rotated" in by_rel["a_rotated.png"].detail
    run_fix(ds, ExcludeDuplicates())
    excluded = {it.rel for it, ann in ds.annotations() if ann.meta.exclude}
    assert excluded == {"a_rotated.png", "b_half.jpg", "c_recompressed.jpg"}


def test_group_keeps_the_copy_a_person_labeled(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    original = _bad_copies(root)
    # Only the half-size copy carries a person's label; the others have a machine suggestion.
    for p in root.iterdir():
        if p.suffix != ".json":
            with Image.open(p) as im:
                size = im.size
            lab: dict[str, object] = {"label": "scene"}
            if p.name != "b_half.jpg":
                lab.update(review="suggested", source={"plugin": "autolabel"})
            write_json(p.with_suffix(".json"), labelme_json(p.name, size, labeler={"schema_version": 1, "image_labels": [lab]}))
    ds = open_dataset(root)
    _summary, findings = run_check(ds, Duplicates(), dry_run=True)
    assert {f.rel for f in findings} == {"a_rotated.png", "c_recompressed.jpg", original.name}
    assert {f.issue.suggested_fix["keep"] for f in findings} == {"b_half.jpg"}  # type: ignore[index]


def test_jpeg_quality_estimate_and_fidelity(tmp_path: Path) -> None:
    with Image.open(SAMPLE / "scenes" / "scene_0001.jpg") as im:
        for q in (8, 50, 75, 95):
            im.save(tmp_path / f"q{q}.jpg", quality=q)
        im.save(tmp_path / "lossless.png")
    est = {q: image_fidelity(tmp_path / f"q{q}.jpg").quality for q in (8, 50, 75, 95)}
    assert all(abs(est[q] - q) <= 3 for q in (50, 75, 95)), est
    assert est[8] < 20  # below ~25 libjpeg clips table entries at 255: still lowest, less exact
    png = image_fidelity(tmp_path / "lossless.png")
    assert png.quality == 100.0 and png.pixels == im.width * im.height
