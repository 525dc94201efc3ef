"""Reading and writing label files: clear errors naming the file and field, atomic writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from labeler.errors import LabelFileReadError, LabelFileWriteError, SchemaVersionError
from labeler.io import labelfile
from labeler.io.labelfile import load_annotation, save_annotation
from labeler.migrations import MIGRATIONS, migrate
from labeler.model import Annotation, Shape
from tests.conftest import labelme_json, rect, write_json


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b'{"version": "5.0", "shapes": [', "invalid JSON at line 1"),
        (b"[1, 2]", "top level must be a JSON object"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
    ],
)
def test_corrupt_json_is_reported_with_the_file_name(tmp_path, content, message) -> None:
    p = tmp_path / "bad.json"
    p.write_bytes(content)
    with pytest.raises(LabelFileReadError) as exc:
        load_annotation(p)
    assert str(p) in str(exc.value)
    assert message in str(exc.value)


def test_validation_error_names_the_field(tmp_path) -> None:
    doc = labelme_json("a.jpg", (10, 10), [rect("a", 0, 0, 5, 5), {"label": "b", "points": [[1, "x"]]}])
    p = write_json(tmp_path / "a.json", doc)
    with pytest.raises(LabelFileReadError) as exc:
        load_annotation(p)
    assert "shapes[1].points[0]" in str(exc.value)
    assert str(p) in str(exc.value)


@pytest.mark.parametrize("image_path", ["../../etc/passwd", "/etc/passwd", "C:\\\\Windows\\\\x.jpg", "..\\\\..\\\\x.jpg"])
def test_hostile_image_path_is_refused(tmp_path, image_path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    p = write_json(root / "a.json", labelme_json(image_path, (10, 10)))
    with pytest.raises(LabelFileReadError) as exc:
        load_annotation(p, allowed_root=root)
    assert "imagePath" in str(exc.value)


def test_image_path_into_a_sibling_folder_inside_the_dataset_is_fine(tmp_path) -> None:
    root = tmp_path / "ds"
    (root / "labels").mkdir(parents=True)
    p = write_json(root / "labels" / "a.json", labelme_json("../images/a.jpg", (10, 10)))
    assert load_annotation(p, allowed_root=root).imagePath == "../images/a.jpg"


def test_huge_image_data_is_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(labelfile, "MAX_IMAGE_DATA_CHARS", 1000)
    p = write_json(tmp_path / "a.json", labelme_json("a.jpg", (10, 10), imageData="A" * 5000))
    with pytest.raises(LabelFileReadError, match="imageData"):
        load_annotation(p)


def test_newer_schema_is_refused_not_truncated(tmp_path) -> None:
    p = write_json(tmp_path / "a.json", labelme_json("a.jpg", (10, 10), labeler={"schema_version": 99}))
    before = p.read_bytes()
    with pytest.raises(SchemaVersionError, match="newer labeler"):
        load_annotation(p)
    assert p.read_bytes() == before


def test_migrations_run_in_order(monkeypatch) -> None:
    def rename(d: dict) -> dict:
        block = dict(d["labeler"])
        block["renamed"] = block.pop("old")
        return {**d, "labeler": block}

    monkeypatch.setitem(MIGRATIONS, 1, rename)
    data = {"labeler": {"schema_version": 1, "old": 5}}
    out = migrate(data, current=2)
    assert out["labeler"] == {"schema_version": 2, "renamed": 5}


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch) -> None:
    p = tmp_path / "a.json"
    ann = Annotation(imagePath="a.jpg")
    save_annotation(ann, p)
    before = p.read_bytes()

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    ann.add_shape(Shape(label="x", points=[(0, 0), (1, 1)], shape_type="rectangle"))
    with pytest.raises(LabelFileWriteError, match="No space left"):
        save_annotation(ann, p)
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["a.json"]  # no temp file left behind


def test_kill_during_writes_never_leaves_a_broken_file(tmp_path) -> None:
    """SIGKILL a process that rewrites a big label file in a loop; the file always parses."""
    p = tmp_path / "a.json"
    shapes = [rect(f"c{i}", i, i, i + 5, i + 5) for i in range(3000)]
    write_json(p, labelme_json("a.jpg", (9000, 9000), shapes))
    code = (
        "import sys\n"
        "from labeler.io.labelfile import load_annotation, save_annotation\n"
        "p = sys.argv[1]\n"
        "ann = load_annotation(p)\n"
        "print('ready', flush=True)\n"
        "i = 0\n"
        "while True:\n"
        "    ann.shapes[0].label = f'n{i}'; i += 1\n"
        "    save_annotation(ann, p)\n"
    )
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", code, str(p)], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        import time

        time.sleep(0.4)
        proc.kill()
        proc.wait()
        data = json.loads(p.read_text())
        assert len(data["shapes"]) == 3000


def test_fast_dumps_is_exactly_jsons_indented_layout() -> None:
    """dumps_annotation renders point lists itself: the text must be json's, to the byte."""
    import random

    rng = random.Random(0)
    values = [0.0, -0.0, 1.0, -3.5, 1e-7, 2.5e16, 123456789.123, 0.1 + 0.2, 1e300, -1e-300]
    shapes = []
    for i in range(30):
        n = rng.choice([1, 2, 3, 40])
        pts = [[rng.choice(values + [rng.uniform(-1e4, 1e4)]), rng.uniform(0, 100)] for _ in range(n)]
        kind = {1: "point", 2: "line"}.get(n, "polygon")
        shapes.append(Shape(label=f"é \"{i}\"\n", points=pts, shape_type=kind, flags={"k": [1, 2]}))
    ann = Annotation(imagePath="a.png", imageHeight=100, imageWidth=100, shapes=shapes, flags={"x": True})
    expected = json.dumps(ann.to_dict(), indent=2, ensure_ascii=False) + "\n"
    assert labelfile.dumps_annotation(ann) == expected
    # anything but plain numbers goes through json itself
    assert labelfile._points_text([[1.0, float("nan")], [2.0, 3.0]], 6) is None
    assert labelfile._points_text([[1.0, "2"], [2.0, 3.0]], 6) is None
    assert labelfile._points_text([[1.0, True], [2.0, 3.0]], 6) is None
    assert labelfile._points_text([[], [2.0, 3.0]], 6) is None
