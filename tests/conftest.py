"""Shared fixtures: tiny real images and label files built in tmp_path."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"
COMPAT = Path(__file__).resolve().parent / "data" / "compat"

# Keep model libraries offline and out of the user's config in every test.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def make_image(path: Path, size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (120, 80, 40),
               seed: int = 0) -> Path:
    """Write a small real image with some texture (format from the suffix)."""
    rng = np.random.default_rng(seed)
    w, h = size
    arr = np.empty((h, w, 3), dtype=np.uint8)
    arr[:] = color
    arr = np.clip(arr.astype(int) + rng.integers(-20, 20, size=arr.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def labelme_json(image_name: str, size: tuple[int, int], shapes: list[dict] | None = None, **extra: object) -> dict:
    """A labelme 5.x style document."""
    w, h = size
    return {
        "version": "5.4.1",
        "flags": {},
        "shapes": shapes or [],
        "imagePath": image_name,
        "imageData": None,
        "imageHeight": h,
        "imageWidth": w,
        **extra,
    }


def rect(label: str, x1: float, y1: float, x2: float, y2: float, **extra: object) -> dict:
    """A labelme rectangle shape dict."""
    return {"label": label, "points": [[x1, y1], [x2, y2]], "group_id": None, "description": "",
            "shape_type": "rectangle", "flags": {}, "mask": None, **extra}


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every file under ``folder`` (to prove nothing changed)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(folder))] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
    return out


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    """Three labeled images, one unlabeled, one nested."""
    root = tmp_path / "ds"
    make_image(root / "a.jpg", (64, 48), seed=1)
    write_json(root / "a.json", labelme_json("a.jpg", (64, 48), [rect("cat", 5, 5, 30, 30)]))
    make_image(root / "b.png", (40, 30), seed=2)
    write_json(root / "b.json", labelme_json("b.png", (40, 30), [rect("dog", 1, 1, 20, 20), rect("cat", 10, 10, 39, 29)]))
    make_image(root / "sub" / "c.jpg", (32, 32), seed=3)
    write_json(root / "sub" / "c.json", labelme_json("c.jpg", (32, 32), [
        {"label": "dog", "points": [[2, 2], [20, 3], [10, 25]], "shape_type": "polygon", "group_id": None,
         "flags": {}, "description": ""}]))
    make_image(root / "d.jpg", (50, 40), seed=4)  # unlabeled
    return root


@pytest.fixture
def image_factory(tmp_path: Path) -> Callable[..., Path]:
    def factory(name: str, size: tuple[int, int] = (64, 48), **kw: object) -> Path:
        return make_image(tmp_path / name, size, **kw)  # type: ignore[arg-type]

    return factory


class _Planted:
    """Unpickling it opens (creates) ``marker``: what a hostile model file could do instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def save_planted_pickle(path: Path, marker: Path) -> Path:
    """A torch.save file (zip, like a real .pt/.pth) whose unpickling creates ``marker``."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": _Planted(marker), "state_dict": {}}, path)
    return path


@pytest.fixture(scope="session")
def ray_cluster() -> object:
    """A real single-node Ray cluster (2 CPUs), started once for the whole test session.

    Its workers import the test modules (plugins defined in tests run on them; pytest imports
    ``tests/test_x.py`` as ``test_x``), so the repo root and ``tests/`` go on their ``PYTHONPATH``.
    """
    import ray

    paths = [str(REPO), str(REPO / "tests"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=128 * 1024 * 1024, configure_logging=False)
    yield ray
    ray.shutdown()
