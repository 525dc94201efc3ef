"""Defects found by trying labeler as a new user: each test failed before its fix.

Real tiny files in tmp_path, run through the CLI (``labeler.cli.cli``) as a user would.
"""

from __future__ import annotations

import json
import os
import threading
import zlib
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

import labeler
from labeler import plugins
from labeler.cli import cli
from labeler.errors import ImageFileError
from labeler.io.images import check_image_file
from labeler.plugin_api import Autolabeler
from labeler.predictions import Predictions
from tests.conftest import labelme_json, make_image, rect, write_json


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def labeled(root: Path, name: str, labels: list[str], size: tuple[int, int] = (40, 30)) -> Path:
    image = make_image(root / name, size)
    shapes = [rect(lab, 1 + i, 1 + i, 20 + i, 20 + i) for i, lab in enumerate(labels)]
    write_json(image.with_suffix(".json"), labelme_json(name, size, shapes))
    return image


def coco(out: Path) -> dict:
    return json.loads((out / "annotations" / "instances.json").read_text())


# -- 1. symlinked images --------------------------------------------------------------------
def test_symlinked_images_export_as_files_and_links_outside_are_refused(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    store = ds / "store"
    make_image(store / "real.jpg", (40, 30))
    ds.mkdir(exist_ok=True)
    (ds / "inside.jpg").symlink_to(store / "real.jpg")
    write_json(ds / "inside.json", labelme_json("inside.jpg", (40, 30), [rect("cat", 1, 1, 9, 9)]))
    make_image(tmp_path / "elsewhere.jpg", (40, 30))
    (ds / "outside.jpg").symlink_to(tmp_path / "elsewhere.jpg")
    write_json(ds / "outside.json", labelme_json("outside.jpg", (40, 30), [rect("cat", 1, 1, 9, 9)]))

    res = run("export", str(ds), "--to", "coco", "--out", str(tmp_path / "out"))

    exported = tmp_path / "out" / "images" / "inside.jpg"
    assert exported.is_file() and not exported.is_symlink()
    assert exported.read_bytes() == (store / "real.jpg").read_bytes()
    assert not (tmp_path / "out" / "images" / "outside.jpg").exists()
    assert res.exit_code == 1
    assert "outside.jpg: symbolic link to" in res.output and "outside the dataset" in res.output


# -- 2. imagefolder import and symlinks out of SRC -------------------------------------------
def test_imagefolder_import_refuses_symlinks_leading_outside_src(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_image(src / "cats" / "a.jpg")
    make_image(tmp_path / "secret.jpg")
    (src / "cats" / "b.jpg").symlink_to(tmp_path / "secret.jpg")
    make_image(tmp_path / "private" / "c.jpg")
    (src / "dogs").symlink_to(tmp_path / "private", target_is_directory=True)

    res = run("import", str(src), "--from", "imagefolder", "--out", str(tmp_path / "ds"))

    assert res.exit_code == 1
    assert (tmp_path / "ds" / "cats" / "a.jpg").is_file()
    assert not (tmp_path / "ds" / "cats" / "b.jpg").exists()
    assert not (tmp_path / "ds" / "dogs").exists()
    assert "b.jpg: symbolic link to" in res.output and "dogs: symbolic link to" in res.output


# -- 3. a backslash in a file name -------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["coco", "csv", "yolo", "labelme"])
def test_backslash_in_a_name_is_renamed_alike_in_files_and_annotations(tmp_path: Path, fmt: str) -> None:
    ds = tmp_path / "ds"
    image = make_image(ds / "back\\slash.jpg", (40, 30))
    doc = labelme_json("back\\slash.jpg", (40, 30), [rect("cat", 1, 1, 9, 9)])
    if fmt == "csv":
        doc["labeler"] = {"image_labels": [{"label": "cat"}]}
    write_json(image.with_suffix(".json"), doc)
    out = tmp_path / "out"

    res = run("export", str(ds), "--to", fmt, "--out", str(out))

    assert res.exit_code == 0, res.output
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))
    assert len(files) == 1 and files[0].endswith("back_slash.jpg"), files
    assert "renamed" in res.output
    if fmt == "coco":
        assert [i["file_name"] for i in coco(out)["images"]] == ["back_slash.jpg"]
    elif fmt == "csv":
        assert "images/back_slash.jpg" in (out / "labels.csv").read_text()
    elif fmt == "yolo":
        assert (out / "labels" / "train" / "back_slash.txt").is_file()
    else:
        assert json.loads((out / "back_slash.json").read_text())["imagePath"] == "back_slash.jpg"


# -- 4. ICDAR and line breaks ----------------------------------------------------------------
def test_icdar_export_writes_one_line_per_region(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    make_image(ds / "a.jpg", (40, 30))
    poly = {"label": "text", "points": [[1, 1], [20, 1], [20, 10], [1, 10]], "shape_type": "polygon",
            "group_id": None, "description": "", "flags": {},
            "labeler": {"text": "two\nlines\r\nhere"}}
    write_json(ds / "a.json", labelme_json("a.jpg", (40, 30), [poly]))
    assert labeler.load_annotation(ds / "a.json").shapes[0].text == "two\nlines\r\nhere"

    res = run("export", str(ds), "--to", "icdar2015", "--out", str(tmp_path / "out"))

    assert res.exit_code == 0, res.output
    gt = (tmp_path / "out" / "gt" / "gt_a.txt").read_text()
    assert gt.count("\n") == 1 and gt.rstrip("\n").endswith(",two lines here"), repr(gt)
    assert "line breaks" in res.output


# -- 5. PNG with a corrupt chunk in the middle -----------------------------------------------
def _png_with_broken_idat(tmp_path: Path, fix_crc: bool) -> Path:
    path = make_image(tmp_path / "ds" / "bad.png", (60, 40))
    data = bytearray(path.read_bytes())
    i = data.find(b"IDAT")
    length = int.from_bytes(data[i - 4 : i], "big")
    data[i + 4 + 2 : i + 4 + min(length, 40)] = b"\x00" * (min(length, 40) - 2)
    if fix_crc:  # a zlib error that the chunk's CRC does not reveal
        data[i + 4 + length : i + 8 + length] = zlib.crc32(bytes(data[i : i + 4 + length])).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("fix_crc", [False, True])
def test_png_with_a_corrupt_data_chunk_is_not_exported(tmp_path: Path, fix_crc: bool) -> None:
    bad = _png_with_broken_idat(tmp_path, fix_crc)
    write_json(bad.with_suffix(".json"), labelme_json("bad.png", (60, 40), [rect("cat", 1, 1, 9, 9)]))
    labeled(tmp_path / "ds", "good.png", ["cat"], (60, 40))
    with pytest.raises(ImageFileError, match="corrupt PNG"):
        check_image_file(bad)
    check_image_file(tmp_path / "ds" / "good.png")

    res = run("export", str(tmp_path / "ds"), "--to", "coco", "--out", str(tmp_path / "out"))

    assert res.exit_code == 1
    assert "bad.png: corrupt PNG" in res.output
    assert [i["file_name"] for i in coco(tmp_path / "out")["images"]] == ["good.png"]


# -- 6. FIFOs and other special files --------------------------------------------------------
def run_unblocked(fifo: Path, *args: str):  # type: ignore[no-untyped-def]
    """``run(*args)``, failing (not hanging) when the command opens ``fifo``."""
    result: dict[str, object] = {}
    worker = threading.Thread(target=lambda: result.update(res=run(*args)), daemon=True)
    worker.start()
    worker.join(60)
    if worker.is_alive():  # it opened the FIFO: unblock it so that the test run can end
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        worker.join(10)
        pytest.fail(f"{args[0]} blocked on a FIFO")
    return result["res"]


def test_special_files_are_reported_and_never_opened(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    labeled(ds, "a.jpg", ["cat"])
    os.mkfifo(ds / "x.jpg")
    (ds / "y.jpg").symlink_to(ds / "x.jpg")
    res = run_unblocked(ds / "x.jpg", "export", str(ds), "--to", "yolo", "--out", str(tmp_path / "out"))
    assert res.exit_code == 1  # type: ignore[attr-defined]
    for name in ("x.jpg", "y.jpg"):
        assert f"{name}: not a regular file: a FIFO" in res.output  # type: ignore[attr-defined]
    assert (tmp_path / "out" / "images" / "train" / "a.jpg").is_file()
    res = run("validate", str(ds), "--json")
    assert res.exit_code == 1 and any("x.jpg: not a regular file" in e for e in json.loads(res.output)["errors"])


def test_imagefolder_import_never_opens_a_fifo(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_image(src / "cats" / "a.jpg")
    os.mkfifo(src / "cats" / "x.jpg")
    res = run_unblocked(src / "cats" / "x.jpg", "import", str(src), "--from", "imagefolder", "--out", str(tmp_path / "ds"))
    assert res.exit_code == 1 and "x.jpg: not a regular file" in res.output


# -- 7. unwritable output paths ----------------------------------------------------------------
def test_unwritable_out_and_report_paths_fail_in_one_line(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    labeled(ds, "a.jpg", ["cat"])
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    for args in (
        ("export", str(ds), "--to", "yolo", "--out", str(blocker / "out")),
        ("import", str(ds), "--from", "labelme", "--out", str(blocker / "out")),
        ("check", str(ds), "--plugin", "orientation", "--no-progress", "--report", str(blocker / "r.json")),
    ):
        res = CliRunner().invoke(cli, list(args))
        assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
        assert res.exit_code == 2, (args, res.output)
        lines = [line for line in res.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: --") and str(blocker) in lines[0], res.output
        assert f"{blocker} is a file, not a folder" in lines[0], res.output  # not "File exists"


# -- 8. labelme's reserved class names ----------------------------------------------------------
@pytest.mark.parametrize("fmt", ["coco", "yolo", "labelme"])
def test_labelme_reserved_classes_are_not_exported(tmp_path: Path, fmt: str) -> None:
    ds = tmp_path / "ds"
    labeled(ds, "a.jpg", ["cat", "__ignore__", "_background_"])
    out = tmp_path / "out"

    res = run("export", str(ds), "--to", fmt, "--out", str(out))

    assert res.exit_code == 0, res.output
    assert "'__ignore__' not exported" in res.output and "'_background_' not exported" in res.output
    if fmt == "coco":
        assert [c["name"] for c in coco(out)["categories"]] == ["cat"]
        assert len(coco(out)["annotations"]) == 1
    elif fmt == "yolo":
        assert "__ignore__" not in (out / "data.yaml").read_text()
    else:
        assert [s["label"] for s in json.loads((out / "a.json").read_text())["shapes"]] == ["cat"]
    stats = json.loads(run("stats", str(ds), "--json").output)
    assert stats["classes"] == {"cat": 1}
    assert stats["reserved_labels"] == {"__ignore__": 1, "_background_": 1}


# -- 9. rich markup in printed extras ----------------------------------------------------------
class _NeedsClip(Autolabeler):
    name = "lbltest_needs_clip"
    requires = ("lbltest_no_such_module",)
    extra = "clip"

    def predict(self, batch):  # noqa: ANN001
        return [Predictions.empty() for _ in batch]


def test_plugins_prints_the_extra_in_brackets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(plugins.ENV_VAR, "")
    plugins.reset()
    module = ModuleType("lbltest_needs_clip")

    @labeler.hookimpl
    def register_autolabelers(register):  # noqa: ANN001
        register(_NeedsClip)

    module.register_autolabelers = register_autolabelers  # type: ignore[attr-defined]
    plugins.register_plugin(module, "needs_clip")
    try:
        res = run("plugins")
    finally:
        plugins.reset()
    assert "'labeler[clip]'" in res.output and "pip install" in res.output, res.output


# -- 10. unknown --exclude kinds -------------------------------------------------------------------
def test_unknown_exclude_kind_is_refused_with_a_hint(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    labeled(ds, "a.jpg", ["cat"])
    res = run("export", str(ds), "--to", "yolo", "--out", str(tmp_path / "out"), "--exclude", "duplicat")
    assert res.exit_code == 2
    assert "unknown issue kind" in res.output and "did you mean 'duplicate'" in res.output
    assert not (tmp_path / "out" / "data.yaml").exists()
    res = run("export", str(ds), "--to", "yolo", "--out", str(tmp_path / "out"), "--exclude", "duplicate")
    assert res.exit_code == 0, res.output


# -- 12. chained plugin options in --help ------------------------------------------------------------
def test_autolabel_help_lists_the_stages_options() -> None:
    res = run("autolabel", "--plugin", "yolo_sam", "--help")
    assert res.exit_code == 0
    for option in ("yolo.conf", "yolo.model", "sam.checkpoint"):
        assert option in res.output, option


# -- 13. COCO category ids on a round trip ---------------------------------------------------------
def test_coco_round_trip_keeps_category_ids(tmp_path: Path) -> None:
    src = tmp_path / "coco"
    make_image(src / "images" / "a.jpg", (40, 30))
    write_json(src / "instances.json", {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 17, "bbox": [1, 1, 10, 10], "iscrowd": 0, "area": 100},
            {"id": 2, "image_id": 1, "category_id": 3, "bbox": [5, 5, 10, 10], "iscrowd": 0, "area": 100},
        ],
        "categories": [{"id": 3, "name": "dog"}, {"id": 17, "name": "cat"}],
    })
    assert run("import", str(src / "instances.json"), "--from", "coco", "--out", str(tmp_path / "ds")).exit_code == 0

    res = run("export", str(tmp_path / "ds"), "--to", "coco", "--out", str(tmp_path / "out"))

    assert res.exit_code == 0, res.output
    data = coco(tmp_path / "out")
    assert {c["name"]: c["id"] for c in data["categories"]} == {"dog": 3, "cat": 17}
    by_box = {tuple(a["bbox"]): a["category_id"] for a in data["annotations"]}
    assert by_box == {(1, 1, 10, 10): 17, (5, 5, 10, 10): 3}
    assert "category ids kept" in res.output
    # a class the COCO file did not have gets a new id, and a note says so
    res = run("export", str(tmp_path / "ds"), "--to", "coco", "--out", str(tmp_path / "out2"),
              "--map", "dog=puppy")
    assert {c["name"]: c["id"] for c in coco(tmp_path / "out2")["categories"]} == {"cat": 17, "puppy": 18}
    assert "got new ids" in res.output


# -- 14. a class folder given as the imagefolder root ----------------------------------------------
def test_imagefolder_import_of_a_class_folder_says_so(tmp_path: Path) -> None:
    make_image(tmp_path / "sample" / "cats" / "a.jpg")
    make_image(tmp_path / "sample" / "cats" / "b.jpg")
    res = run("import", str(tmp_path / "sample" / "cats"), "--from", "imagefolder", "--out", str(tmp_path / "ds"))
    assert res.exit_code == 2
    assert "no class folders" in res.output and "one class folder" in res.output


# -- 15. near-name hints ------------------------------------------------------------------------------
def test_near_name_hints_for_plugins(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    labeled(ds, "a.jpg", ["cat"])
    res = run("autolabel", str(ds), "--plugin", "yolo_sm")
    assert res.exit_code == 2 and "did you mean 'yolo_sam'" in res.output
    res = run("check", str(ds), "--plugin", "relabel")
    assert res.exit_code == 2 and "relabel is a fixer: labeler fix DIR --plugin relabel" in res.output
    res = run("export", str(ds), "--to", "cocoo", "--out", str(tmp_path / "out"))
    assert res.exit_code == 2 and "did you mean 'coco'" in res.output


# -- 11. a file that is no model -----------------------------------------------------------------
def test_a_file_that_is_no_model_fails_the_run_once(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        make_image(ds / name)
    (tmp_path / "x.txt").write_text("not a model")

    res = CliRunner().invoke(
        cli, ["autolabel", str(ds), "--plugin", "yolo", "-o", "model", str(tmp_path / "x.txt"), "--no-progress"]
    )

    assert res.exit_code == 2, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "x.txt" in errors[0] and "not a model" in errors[0], res.output
    assert "failed" not in res.output
    assert not list(ds.glob("*.json"))


# -- a new user's pass, session 8 ----------------------------------------------------------------
def test_mistyped_map_and_classes_names_are_said_with_their_near_names(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    labeled(ds, "a.png", ["kitty", "dog"])
    labeled(ds, "b.png", ["dog"])
    res = run("export", str(ds), "--to", "yolo", "--out", str(tmp_path / "out"), "--no-progress",
              "--map", "kity=cat", "--classes", "kitty,dgo,cow")
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "--map 'kity': no label in the folder has this class, nothing renamed; did you mean 'kitty'?" in out
    assert "--classes 'dgo': no exported label has this class; did you mean 'dog'?" in out
    assert "1 class(es) with no exported label, kept as empty classes: 'cow'" in out
    assert "class 'dog' not exported (2 label(s))" in out
    # A mapping that matches and a list that is all used say nothing of the kind.
    res = run("export", str(ds), "--to", "yolo", "--out", str(tmp_path / "out2"), "--no-progress",
              "--map", "kitty=cat", "--classes", "cat,dog")
    assert res.exit_code == 0, res.output
    assert "--map" not in res.output and "--classes" not in res.output, res.output
    assert (tmp_path / "out2" / "labels" / "train" / "a.txt").read_text().split()[0] == "0"  # cat
    res = run("export", str(ds), "--to", "yolo", "--out", str(tmp_path / "out3"), "--no-progress",
              "--map", "kitty=cat", "--classes", "kitty,dog")
    assert "--classes 'kitty': no exported label has this class; --map renames it to 'cat': --classes " \
           "takes the new names" in " ".join(res.output.split()), res.output


def test_a_refused_export_or_import_leaves_no_empty_out_folder(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    labeled(ds, "a.png", ["cat"])
    res = CliRunner().invoke(cli, ["export", str(ds), "--to", "yolo", "--out", str(tmp_path / "new" / "out"),
                                   "--exclude", "dupe", "--no-progress"])
    assert res.exit_code == 2 and "did you mean 'duplicate'?" in res.output, res.output
    assert not (tmp_path / "new").exists()
    (tmp_path / "kept").mkdir()  # a folder that was there stays
    res = CliRunner().invoke(cli, ["export", str(ds), "--to", "yolo", "--out", str(tmp_path / "kept"),
                                   "--exclude", "dupe", "--no-progress"])
    assert res.exit_code == 2 and (tmp_path / "kept").is_dir()
    # The same guard for import: a source that no importer reads refuses, and no folder stays.
    (tmp_path / "empty-src").mkdir()
    res = CliRunner().invoke(cli, ["import", str(tmp_path / "empty-src"), "--from", "coco",
                                   "--out", str(tmp_path / "imported")])
    assert res.exit_code != 0, res.output
    assert not (tmp_path / "imported").exists(), res.output


# -- a new user's pass, session 9 ----------------------------------------------------------------
def test_a_missing_class_list_file_is_refused_not_read_as_a_class(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    labeled(ds, "a.png", ["cat"])
    for value in ("nofile.txt", "lists/classes", "data.yaml"):
        res = CliRunner().invoke(cli, ["export", str(ds), "--to", "yolo", "--out", str(tmp_path / "out"),
                                       "--classes", value, "--no-progress"])
        assert res.exit_code == 2 and f"--classes {value}: no such file" in res.output, res.output
    res = CliRunner().invoke(cli, ["export", str(ds), "--to", "yolo", "--out", str(tmp_path / "out"),
                                   "--map", "m.yaml", "--no-progress"])
    assert res.exit_code == 2 and "--map m.yaml: no such file" in res.output, res.output
    assert not (tmp_path / "out").exists()
    res = run("export", str(ds), "--to", "yolo", "--out", str(tmp_path / "out"), "--classes", "cat,dog", "--no-progress")
    assert res.exit_code == 0, res.output  # names, as before


def test_an_export_that_writes_nothing_says_so_and_unlabeled_images_are_counted(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    labeled(ds, "a.png", ["cat"])  # boxes only: nothing for imagefolder
    make_image(ds / "b.png", (40, 30))  # no label file
    res = run("export", str(ds), "--to", "imagefolder", "--out", str(tmp_path / "if"), "--no-progress", "--json")
    assert res.exit_code == 1, res.output
    data = json.loads(res.output)
    assert any(p.endswith("nothing exported (see the counts and notes)") for p in data["problems"])
    assert data["counts"]["images without a label file (left out)"] == 1
    assert "images" not in data["counts"]  # not "1 images" for an export of none
    res = run("export", str(ds), "--to", "yolo", "--out", str(tmp_path / "y"), "--no-progress", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["counts"]["exported images"] == 1 and data["counts"]["images without a label file (left out)"] == 1


def test_export_and_import_help_list_each_formats_options() -> None:
    for command, option in (("export", "rectangles [polygon|skip]"), ("import", "flags_as_labels [bool]")):
        res = run(command, "--help")
        assert res.exit_code == 0 and option in res.output, res.output


def test_a_fix_with_nothing_to_fix_or_undo_says_what_to_run(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    labeled(ds, "a.png", ["cat"])
    res = run("fix", str(ds), "--plugin", "duplicates", "--no-progress")
    assert res.exit_code == 0
    out = " ".join(res.output.split())
    assert f"no open issue here that duplicates fixes (duplicate, near_duplicate, leakage): find them first with labeler check {ds} --plugin duplicates" in out
    res = run("fix", str(ds), "--plugin", "duplicates", "--undo", "--no-progress")
    assert "nothing to undo: no issue here was fixed by duplicates" in " ".join(res.output.split())
    res = run("fix", str(ds), "--plugin", "relabel", "--no-progress")
    assert "labeler plugins lists the checks" in " ".join(res.output.split())


def test_a_check_dry_run_lists_only_the_files_a_real_run_would_change(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    labeled(ds, "a.png", ["cat"])
    (ds / "b.png").write_bytes((ds / "a.png").read_bytes())  # an exact duplicate
    write_json(ds / "b.json", labelme_json("b.png", (40, 30), [rect("cat", 1, 1, 20, 20)]))
    res = run("check", str(ds), "--plugin", "duplicates", "--no-progress", "--dry-run")
    assert "would change b.png: 1 issue(s)" in res.output, res.output
    run("check", str(ds), "--plugin", "duplicates", "--no-progress")
    before = {p.name: p.read_bytes() for p in ds.glob("*.json")}
    res = run("check", str(ds), "--plugin", "duplicates", "--no-progress", "--dry-run")
    assert "would change b.png" not in res.output and "0 file(s) would change" in res.output, res.output
    res = run("check", str(ds), "--plugin", "duplicates", "--no-progress")
    assert "0 file(s) written" in res.output
    assert {p.name: p.read_bytes() for p in ds.glob("*.json")} == before


def test_review_names_its_folder_in_the_undo_line_and_check_says_where_reports_went(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    image = make_image(ds / "a.png", (40, 30))
    shape = rect("cat", 1, 1, 20, 20)
    shape["labeler"] = {"review": "suggested", "score": 0.9, "source": {"plugin": "yolo"}}
    write_json(image.with_suffix(".json"), labelme_json("a.png", (40, 30), [shape]))
    res = run("review", str(ds), "--accept-above", "0.5", "--no-progress")
    assert res.exit_code == 0 and f"undo with: labeler review {ds} --undo" in " ".join(res.output.split()), res.output
    res = run("check", str(ds), "--plugin", "duplicates", "--no-progress", "--report", str(tmp_path / "r.json"),
              "--html", str(tmp_path / "r.html"))
    out = " ".join(res.output.split())
    assert f"report: {tmp_path / 'r.json'}" in out and f"html report: {tmp_path / 'r.html'}" in out, res.output


def test_a_yolo_export_over_an_earlier_one_names_the_files_it_did_not_write(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    for i in range(6):
        labeled(ds, f"i{i}.png", ["cat"])
    out = tmp_path / "out"
    res = run("export", str(ds), "--to", "yolo", "--out", str(out), "--split", "0.5,0.5", "--no-progress")
    assert "earlier export" not in res.output
    res = run("export", str(ds), "--to", "yolo", "--out", str(out), "--no-progress")  # no split now
    n_val = len(list((out / "images" / "val").iterdir()))
    assert n_val and f"{2 * n_val} file(s) from an earlier export are still in images/val ({n_val}), " \
        f"labels/val ({n_val})" in " ".join(res.output.split()), res.output
    res = run("export", str(ds), "--to", "yolo", "--out", str(tmp_path / "relative-out"), "--no-progress")
    assert "earlier export" not in res.output  # a fresh folder: nothing stale
