"""Fixtures of the editing layer's tests: a small real dataset, no Qt anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def make_image(path: Path, size: tuple[int, int], seed: int = 0) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def rect(label: str, x1: float, y1: float, x2: float, y2: float, **extra: object) -> dict:
    return {"label": label, "points": [[x1, y1], [x2, y2]], "group_id": None, "description": "",
            "shape_type": "rectangle", "flags": {}, **extra}


def labelme_json(image: str, size: tuple[int, int], shapes: list[dict], **extra: object) -> dict:
    return {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": image, "imageData": None,
            "imageHeight": size[1], "imageWidth": size[0], **extra}


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def four_images(tmp_path: Path) -> Path:
    """Four images: two labeled (one with suggestions), one with an issue, one unlabeled."""
    root = tmp_path / "ds"
    make_image(root / "a.jpg", (120, 90), seed=1)
    write_json(root / "a.json", labelme_json("a.jpg", (120, 90), [rect("cat", 10, 10, 50, 40)]))
    make_image(root / "b.jpg", (120, 90), seed=2)
    sugg = {"source": {"plugin": "fake"}, "review": "suggested"}
    write_json(root / "b.json", labelme_json("b.jpg", (120, 90), [
        rect("dog", 5, 5, 40, 40, labeler={**sugg, "score": 0.9}),
        rect("cat", 60, 20, 100, 70, labeler={**sugg, "score": 0.3}),
    ]))
    make_image(root / "c.jpg", (120, 90), seed=3)
    write_json(root / "c.json", labelme_json("c.jpg", (120, 90), [rect("dog", 10, 10, 50, 50)], labeler={
        "issues": [{"kind": "mislabel", "score": 0.8, "detail": "looks like a cat",
                    "suggested_fix": {"action": "relabel", "label": "cat"}, "shape_index": 0,
                    "source": {"plugin": "fakecheck"}}]}))
    make_image(root / "d.jpg", (120, 90), seed=4)
    return root


@pytest.fixture
def gui_dataset(tmp_path: Path) -> Path:
    """The same four images the GUI tests use."""
    return four_images(tmp_path)
