"""Every hook in ``labeler.hookspecs`` has a test here, run for real through the plugin manager.

The plugin used is ``examples/labeler-example-plugin`` (it implements every hook). A new hook
needs a ``test_hook_<name>`` function: ``test_every_hook_has_a_test`` fails until it has one.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from PIL import Image

from labeler import hookspecs, plugins
from labeler.dataset import Dataset, open_dataset
from labeler.exporting import ExportOptions, run_export, run_import
from labeler.model import Annotation, Shape
from labeler.pipeline import reject_shape, run_autolabel, run_check, run_fix
from labeler.plugins import Registry

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "labeler-example-plugin"
try:
    import labeler_example_plugin
except ImportError:  # not pip-installed: import it from the source tree
    sys.path.insert(0, str(EXAMPLE_DIR))
    import labeler_example_plugin

HOOKS = sorted(name for name, obj in vars(hookspecs).items() if hasattr(obj, "labeler_spec"))

Box = tuple[int, int, int, int]


# -- helpers and fixtures ---------------------------------------------------------------------
def make_image(
    path: Path, boxes: list[Box] = (), size: tuple[int, int] = (64, 48), background: int = 60
) -> Path:
    """A grey image with white rectangles at ``boxes`` (x1, y1, x2, y2; x2/y2 exclusive)."""
    img = Image.new("RGB", size, (background,) * 3)
    for x1, y1, x2, y2 in boxes:
        img.paste((255, 255, 255), (x1, y1, x2, y2))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rects(ann: Annotation, plugin: str | None = None) -> list[tuple[str, tuple[float, ...]]]:
    """(label, bbox) of the shapes, optionally only one plugin's suggestions, sorted."""
    out = []
    for s in ann.shapes:
        if plugin is not None and not (s.is_suggestion and s.source and s.source.plugin == plugin):
            continue
        out.append((s.label, tuple(round(v, 1) for v in s.bbox())))
    return sorted(out)


def stop_after(n: int) -> Callable[[], bool]:
    """A ``should_stop`` that lets ``n`` images start, then asks to stop."""
    calls = 0

    def should_stop() -> bool:
        nonlocal calls
        calls += 1
        return calls > n

    return should_stop


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """Only the example plugin, registered by hand (no entry points load)."""
    monkeypatch.setenv(plugins.ENV_VAR, "")
    plugins.reset()
    plugins.register_plugin(labeler_example_plugin, "example")
    yield plugins.get_registry()
    plugins.unregister_plugin("example")
    plugins.reset()


@pytest.fixture
def blobs_ds(tmp_path: Path) -> Dataset:
    """Three images: two blobs, one blob, no blob."""
    root = tmp_path / "ds"
    make_image(root / "a.png", [(5, 5, 15, 15), (30, 20, 50, 35)])
    make_image(root / "b.png", [(40, 4, 60, 12)])
    make_image(root / "c.png", [])
    return open_dataset(root)


# -- the rule: one test per hook --------------------------------------------------------------
@functools.cache
def _test_function_names() -> frozenset[str]:
    names: set[str] = set()
    for path in Path(__file__).parent.rglob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names.update(n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))
    return frozenset(names)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook: str) -> None:
    names = _test_function_names()
    wanted = f"test_hook_{hook}"
    assert any(n == wanted or n.startswith(wanted + "_") for n in names), (
        f"hook {hook} has no test: add a function {wanted}() to tests/test_hookspecs.py"
    )


def test_hookspecs_are_all_collected_by_the_registry() -> None:
    # A register_* hook that plugins.KINDS does not know would be silently ignored.
    assert set(HOOKS) == set(plugins.KINDS) | {"register_commands", "register_gui_extensions",
                                                "register_segmenters"}
    pm = plugins.get_plugin_manager()
    assert all(hasattr(pm.hook, name) for name in HOOKS)


def test_example_plugin_implements_every_hook(registry: Registry) -> None:
    pm = plugins.get_plugin_manager()
    callers = pm.get_hookcallers(pm.get_plugin("example")) or []
    assert sorted(c.name for c in callers) == HOOKS


# -- register_autolabelers --------------------------------------------------------------------
def test_hook_register_autolabelers(registry: Registry, blobs_ds: Dataset) -> None:
    cls = registry.get("autolabelers", "example_blobs")
    assert registry.plugins["example"].provides["autolabelers"] == ["example_blobs"]
    # A person already drew the first blob of a.png (so it must not be suggested) and a cat.
    a = blobs_ds.item("a.png")
    human = blobs_ds.new_annotation(a)
    human.add_shape(Shape(label="blob", points=[(5, 5), (15, 15)], shape_type="rectangle"))
    human.add_shape(Shape(label="cat", points=[(1, 30), (20, 47)], shape_type="rectangle"))
    blobs_ds.save(a, human)
    human_dump = [s.model_dump() for s in human.shapes]

    summary = run_autolabel(blobs_ds, cls({"label": "blob"}))

    assert summary.failed == []
    assert (summary.total, summary.processed, summary.changed) == (3, 3, 3)
    ann_a = blobs_ds.load(a)
    assert [s.model_dump() for s in ann_a.shapes if s.is_human] == human_dump
    assert rects(ann_a, "example_blobs") == [("blob", (30.0, 20.0, 50.0, 35.0))]
    sugg = ann_a.suggestions[0]
    assert sugg.shape_type == "rectangle"
    assert sugg.source is not None and sugg.source.plugin == "example_blobs"
    assert sugg.source.model == "numpy-threshold"
    assert sugg.score == 1.0
    assert ann_a.meta.processed["example_blobs"].count == 1
    ann_b = blobs_ds.load(blobs_ds.item("b.png"))
    assert rects(ann_b) == [("blob", (40.0, 4.0, 60.0, 12.0))]
    ann_c = blobs_ds.load(blobs_ds.item("c.png"))
    assert ann_c.shapes == [] and ann_c.meta.processed["example_blobs"].count == 0
    assert summary.per_class == {"blob": 2}


def test_hook_register_autolabelers_rerun_is_idempotent(
    registry: Registry, blobs_ds: Dataset
) -> None:
    cls = registry.get("autolabelers", "example_blobs")
    run_autolabel(blobs_ds, cls())
    files = {item.rel: item.label_path.read_bytes() for item in blobs_ds.items}

    again = run_autolabel(blobs_ds, cls())  # same options: every image is already done
    assert (again.skipped_done, again.processed, again.changed) == (3, 0, 0)
    assert {item.rel: item.label_path.read_bytes() for item in blobs_ds.items} == files

    redo = run_autolabel(blobs_ds, cls(), redo=True)  # replaces its own suggestions, no stacking
    assert redo.processed == 3
    a = blobs_ds.item("a.png")
    assert len(blobs_ds.load(a).shapes) == 2
    assert rects(blobs_ds.load(a)) == sorted(rects(Annotation.model_validate_json(files["a.png"])))

    changed = run_autolabel(blobs_ds, cls({"min_area": 150}))  # new options: not "done" any more
    assert changed.skipped_done == 0
    assert rects(blobs_ds.load(a)) == [("blob", (30.0, 20.0, 50.0, 35.0))]


def test_hook_register_autolabelers_rejected_not_suggested_again(
    registry: Registry, blobs_ds: Dataset
) -> None:
    cls = registry.get("autolabelers", "example_blobs")
    run_autolabel(blobs_ds, cls())
    a = blobs_ds.item("a.png")
    ann = blobs_ds.load(a)
    index = next(i for i, s in enumerate(ann.shapes) if s.bbox() == (5, 5, 15, 15))
    reject_shape(ann, index)
    blobs_ds.save(a, ann)

    run_autolabel(blobs_ds, cls(), redo=True)

    ann = blobs_ds.load(a)
    assert rects(ann) == [("blob", (30.0, 20.0, 50.0, 35.0))]
    assert [r.points for r in ann.meta.rejected] == [[(5.0, 5.0), (15.0, 15.0)]]


def test_hook_register_autolabelers_bad_image_is_isolated(
    registry: Registry, tmp_path: Path
) -> None:
    root = tmp_path / "ds"
    make_image(root / "a.png", [(5, 5, 15, 15)])
    good = make_image(root / "c.png", [(20, 20, 30, 30)])
    data = good.read_bytes()
    (root / "b.png").write_bytes(data[: len(data) // 2])  # truncated
    (root / "d.png").write_text("not an image")
    ds = open_dataset(root)
    cls = registry.get("autolabelers", "example_blobs")

    summary = run_autolabel(ds, cls({"batch": 4}))

    assert summary.processed == 2
    assert len(summary.failed) == 2
    assert "b.png" in summary.failed[0] and "truncated" in summary.failed[0]
    assert "d.png" in summary.failed[1] and "not an image" in summary.failed[1]
    assert rects(ds.load(ds.item("a.png"))) == [("blob", (5.0, 5.0, 15.0, 15.0))]
    assert rects(ds.load(ds.item("c.png"))) == [("blob", (20.0, 20.0, 30.0, 30.0))]
    assert not (root / "b.json").exists() and not (root / "d.json").exists()


def test_hook_register_autolabelers_resume(registry: Registry, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    for i in range(5):
        make_image(root / f"img{i}.png", [(4 + i, 4, 14 + i, 14)])
    ds = open_dataset(root)
    cls = registry.get("autolabelers", "example_blobs")

    first = run_autolabel(ds, cls({"batch": 2}), should_stop=stop_after(2))
    assert first.interrupted and first.processed == 2
    assert [it.has_labels for it in ds.items] == [True, True, False, False, False]
    written = {it.rel: it.label_path.read_bytes() for it in ds.items[:2]}

    second = run_autolabel(ds, cls({"batch": 2}))
    assert (second.skipped_done, second.processed, second.interrupted) == (2, 3, False)
    assert all(it.has_labels for it in ds.items)
    assert {it.rel: it.label_path.read_bytes() for it in ds.items[:2]} == written


# -- register_checks --------------------------------------------------------------------------
def test_hook_register_checks(registry: Registry, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    make_image(root / "ok.png", [(5, 5, 30, 30)], background=90)
    make_image(root / "dark.png", [(5, 5, 8, 8)], background=5)
    make_image(root / "flat.png", [], background=128)
    ds = open_dataset(root)
    check = registry.get("checks", "example_dark")()

    summary, findings = run_check(ds, check)

    assert summary.failed == []
    assert sorted((f.rel, f.issue.kind) for f in findings) == [
        ("dark.png", "too_dark"),
        ("flat.png", "low_contrast"),
    ]
    assert not (root / "ok.json").exists()  # nothing found: no label file created
    dark = ds.load(ds.item("dark.png"))
    (issue,) = dark.meta.issues
    assert issue.source is not None and issue.source.plugin == "example_dark"
    assert 0.5 < (issue.score or 0) <= 1.0
    assert issue.suggested_fix == {"action": "exclude", "reason": issue.suggested_fix["reason"]}

    # A re-run replaces the check's findings instead of adding to them.
    run_check(ds, check)
    assert len(ds.load(ds.item("dark.png")).meta.issues) == 1

    # A dismissed finding stays dismissed.
    dark = ds.load(ds.item("dark.png"))
    dark.meta.issues[0].state = "dismissed"
    ds.save(ds.item("dark.png"), dark)
    run_check(ds, check)
    assert [i.state for i in ds.load(ds.item("dark.png")).meta.issues] == ["dismissed"]

    # Fixed in the data: the finding goes away on the next run.
    make_image(root / "flat.png", [(10, 10, 40, 40)], background=128)
    run_check(ds, check)
    assert ds.load(ds.item("flat.png")).meta.issues == []


def test_hook_register_checks_dataset_scope(registry: Registry, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    a = make_image(root / "a.png", [(5, 5, 15, 15)])
    make_image(root / "b.png", [(6, 5, 15, 15)], size=(40, 30))
    (root / "sub").mkdir()
    (root / "sub" / "a_copy.png").write_bytes(a.read_bytes())
    (root / "z.png").write_bytes(a.read_bytes())
    ds = open_dataset(root)
    check = registry.get("checks", "example_duplicates")()
    assert check.scope == "dataset"
    progress: list[tuple[int, int]] = []

    summary, findings = run_check(ds, check, progress=lambda d, t, m="": progress.append((d, t)))

    assert summary.failed == []
    assert sorted(f.rel for f in findings) == ["sub/a_copy.png", "z.png"]
    issue = ds.load(ds.item("z.png")).meta.issues[0]
    assert issue.kind == "duplicate" and issue.related_files == ["a.png", "sub/a_copy.png"]
    assert not (root / "a.json").exists() and not (root / "b.json").exists()
    assert progress and progress[-1] == (3, 3)  # only the three same-size files were hashed


def test_hook_register_checks_failed_image_keeps_its_findings(
    registry: Registry, tmp_path: Path
) -> None:
    root = tmp_path / "ds"
    dark = make_image(root / "dark.png", [(5, 5, 8, 8)], background=5)
    ds = open_dataset(root)
    check = registry.get("checks", "example_dark")()
    run_check(ds, check)
    ann = ds.load(ds.item("dark.png"))
    ann.meta.issues[0].state = "dismissed"
    ds.save(ds.item("dark.png"), ann)
    data = dark.read_bytes()
    dark.write_bytes(data[: len(data) // 2])  # the image cannot be read this time

    summary, _ = run_check(ds, check)

    assert len(summary.failed) == 1
    assert [i.state for i in ds.load(ds.item("dark.png")).meta.issues] == ["dismissed"]


# -- register_fixers --------------------------------------------------------------------------
def test_hook_register_fixers(registry: Registry, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    make_image(root / "ok.png", [(5, 5, 30, 30)], background=90)
    dark = make_image(root / "dark.png", [(5, 5, 8, 8)], background=5)
    ds = open_dataset(root)
    image_hash = sha(dark)
    run_check(ds, registry.get("checks", "example_dark")())
    fixer = registry.get("fixers", "example_exclude")()

    summary = run_fix(ds, fixer)

    assert (summary.processed, summary.changed, summary.failed) == (1, 1, [])
    ann = ds.load(ds.item("dark.png"))
    assert ann.meta.exclude and ann.meta.exclude_reason and "too dark" in ann.meta.exclude_reason
    (issue,) = ann.meta.issues
    assert (issue.state, issue.fixed_by) == ("fixed", "example_exclude")
    assert sha(dark) == image_hash  # fixers never touch image files
    assert run_fix(ds, fixer).processed == 0  # nothing left to fix

    undone = run_fix(ds, fixer, undo=True)

    assert undone.processed == 1
    ann = ds.load(ds.item("dark.png"))
    assert not ann.meta.exclude and ann.meta.exclude_reason is None
    assert (ann.meta.issues[0].state, ann.meta.issues[0].undo) == ("open", None)
    assert sha(dark) == image_hash


def test_hook_register_fixers_two_issues_on_one_image(registry: Registry, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    dark = make_image(root / "dark.png", [(5, 5, 8, 8)], background=5)
    (root / "dark2.png").write_bytes(dark.read_bytes())
    ds = open_dataset(root)
    run_check(ds, registry.get("checks", "example_dark")())
    run_check(ds, registry.get("checks", "example_duplicates")())
    item = ds.item("dark2.png")
    assert sorted(i.kind for i in ds.load(item).meta.issues) == ["duplicate", "too_dark"]
    fixer = registry.get("fixers", "example_exclude")()

    run_fix(ds, fixer, kinds=["too_dark"])
    assert ds.load(item).meta.exclude
    run_fix(ds, fixer)  # the duplicate issue: the image is already excluded by our first fix
    assert all(i.state == "fixed" for i in ds.load(item).meta.issues)

    run_fix(ds, fixer, undo=True, kinds=["too_dark"])  # the duplicate still wants it excluded
    ann = ds.load(item)
    assert ann.meta.exclude and "duplicate" in (ann.meta.exclude_reason or "")
    run_fix(ds, fixer, undo=True)
    ann = ds.load(item)
    assert not ann.meta.exclude and ann.meta.exclude_reason is None
    assert [i.state for i in ann.meta.issues] == ["open", "open"]


def test_hook_register_fixers_undo_survives_a_check_rerun(
    registry: Registry, tmp_path: Path
) -> None:
    root = tmp_path / "ds"
    make_image(root / "dark.png", [(5, 5, 8, 8)], background=5)
    ds = open_dataset(root)
    check = registry.get("checks", "example_dark")()
    fixer = registry.get("fixers", "example_exclude")()
    run_check(ds, check)
    run_fix(ds, fixer)
    make_image(root / "dark.png", [(5, 5, 30, 30)], background=90)  # the person fixed the photo
    run_check(ds, check)  # the issue is not found any more

    run_fix(ds, fixer, undo=True)

    assert not ds.load(ds.item("dark.png")).meta.exclude


# -- register_exporters and register_importers ------------------------------------------------
def _labelled_dataset(root: Path) -> Dataset:
    make_image(root / "a.png", [(5, 5, 15, 15)])
    make_image(root / "sub" / "b.png", [])
    make_image(root / "empty.png", [])
    ds = open_dataset(root)
    a = ds.new_annotation(ds.item("a.png"))
    a.add_shape(Shape(label="cat", points=[(5, 5), (15, 15)], shape_type="rectangle"))
    a.add_shape(Shape(label="dog", points=[(20, 10), (40, 10), (30, 30)], shape_type="polygon"))
    ds.save(ds.item("a.png"), a)
    b = ds.new_annotation(ds.item("sub/b.png"))
    b.add_shape(Shape(label="cat", points=[(1.25, 2.5), (10, 20)], shape_type="rectangle"))
    ds.save(ds.item("sub/b.png"), b)
    ds.save(ds.item("empty.png"), ds.new_annotation(ds.item("empty.png")))
    return ds


def test_hook_register_exporters(registry: Registry, tmp_path: Path) -> None:
    ds = _labelled_dataset(tmp_path / "ds")
    exporter = registry.get("exporters", "bbox-csv")()
    out = tmp_path / "out"

    report = run_export(ds, exporter, out, ExportOptions())

    assert report.problems == []
    assert report.counts["boxes"] == 3 and report.counts["converted to boxes"] == 1
    assert (out / "labels.csv").read_text().splitlines() == [
        "image,label,x1,y1,x2,y2",
        "a.png,cat,5.0,5.0,15.0,15.0",
        "a.png,dog,20.0,10.0,40.0,30.0",
        "empty.png,,,,,",
        "sub/b.png,cat,1.2,2.5,10.0,20.0",
    ]
    assert sha(out / "sub" / "b.png") == sha(ds.item("sub/b.png").image_path)

    split_out = tmp_path / "split"
    run_export(ds, exporter, split_out, ExportOptions(split=[0.5, 0.5], seed=1))
    rows = [
        line
        for name in ("train", "val")
        for line in (split_out / name / "labels.csv").read_text().splitlines()[1:]
    ]
    assert len(rows) == 4


def test_hook_register_importers(registry: Registry, tmp_path: Path) -> None:
    ds = _labelled_dataset(tmp_path / "ds")
    exported = tmp_path / "csv"
    run_export(
        ds, registry.get("exporters", "bbox-csv")({"decimals": 2}), exported, ExportOptions()
    )
    importer = registry.get("importers", "bbox-csv")()
    out = tmp_path / "back"

    report = run_import(importer, exported, out)

    assert report.problems == []
    assert report.counts == {"images": 3, "shapes": 3}
    back = open_dataset(out)
    assert [it.rel for it in back.items] == [it.rel for it in ds.items]
    for item in ds.items:
        original = ds.load(item)
        imported = back.load(back.item(item.rel))
        assert rects(imported) == rects(original)
        assert all(s.is_human and s.shape_type == "rectangle" for s in imported.shapes)
        assert (imported.imageWidth, imported.imageHeight) == (
            original.imageWidth,
            original.imageHeight,
        )
        assert sha(back.item(item.rel).image_path) == sha(item.image_path)

    # Importing again into the same folder keeps the existing label files.
    again = run_import(importer, exported, out)
    assert again.counts.get("skipped") == 3 and len(again.problems) == 3


# -- register_commands ------------------------------------------------------------------------
def test_hook_register_commands(registry: Registry, blobs_ds: Dataset) -> None:
    group = click.Group("labeler")
    plugins.add_plugin_commands(group, on_error=pytest.fail)
    assert "example-hello" in group.commands
    run_autolabel(blobs_ds, registry.get("autolabelers", "example_blobs")())

    result = CliRunner().invoke(group, ["example-hello", str(blobs_ds.root)])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "3 images, 2 labeled, 3 labels: blob 3"


def test_hook_register_commands_in_labeler_cli(
    registry: Registry, blobs_ds: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_module = pytest.importorskip("labeler.cli")
    # The CLI adds plugin commands once per process; start afresh and leave the group as it was.
    monkeypatch.setattr(cli_module, "_plugin_commands_loaded", False, raising=False)
    monkeypatch.setattr(cli_module.cli, "commands", dict(cli_module.cli.commands))

    result = CliRunner().invoke(cli_module.cli, ["example-hello", str(blobs_ds.root), "--json"])

    assert result.exit_code == 0, result.output
    assert '"images": 3' in result.output
    help_text = CliRunner().invoke(cli_module.cli, ["--help"]).output
    assert "example-hello" in help_text


# -- register_segmenters ----------------------------------------------------------------------
def test_hook_register_segmenters(registry: Registry, tmp_path: Path) -> None:
    from labeler.plugins import collect_segmenters

    errors: list[str] = []
    found = {s.name: s for s in collect_segmenters(errors)}
    assert errors == []
    assert registry.plugins["example"].segmenters
    session = found["example_blob"].open(None)
    session.set_image(Image.open(make_image(tmp_path / "seg.png", [(10, 8, 30, 20)])))
    mask, score = session.predict(points=[(15, 12)], labels=[1])
    assert score == 1.0 and mask.shape == (48, 64)
    ys, xs = mask.nonzero()
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == (10, 8, 29, 19)  # exactly the blob
    # a box prompt without clicks takes the brightest pixel inside it
    mask, _ = session.predict(box=(0, 0, 40, 30))
    assert mask.sum() == 20 * 12
    # a click on the background outside the box finds nothing there
    mask, score = session.predict(points=[(50, 40)], labels=[1], box=(0, 0, 40, 30))
    assert not mask.any() and score == 0.0

