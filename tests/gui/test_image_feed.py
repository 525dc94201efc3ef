"""The shown image's pre-scaled frame: made by the loader's thread, painted 1:1 while the view is
fitted, the decode painted otherwise; shapes and pixels land at the same place either way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from labeler.model import Shape
from tests.gui.conftest import open_and_wait

RED = (220, 30, 30)
BLOCK = (400, 300, 800, 600)  # x1, y1, x2, y2 of the red block, image pixels


def _photo(path: Path, size: tuple[int, int] = (1600, 1200)) -> Path:
    """A grey JPEG larger than the canvas with a red block at :data:`BLOCK`."""
    arr = np.full((size[1], size[0], 3), 90, dtype=np.uint8)
    x1, y1, x2, y2 = BLOCK
    arr[y1:y2, x1:x2] = RED
    Image.fromarray(arr).save(path, quality=95)
    return path


def _folder(tmp_path: Path, n: int = 3) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(n):
        _photo(root / f"p{i}.jpg")
    return root


def _red_box(window) -> tuple[int, int, int, int]:  # noqa: ANN001
    """Bounding box (widget pixels) of the red block as painted on the canvas."""
    img = window.canvas.grab().toImage().convertToFormat(img_format())
    h, w = img.height(), img.width()
    arr = np.frombuffer(img.constBits(), dtype=np.uint8).reshape(h, img.bytesPerLine())[:, : w * 4]
    rgb = arr.reshape(h, w, 4)[..., :3].astype(int)
    ys, xs = np.nonzero((rgb[..., 0] > 160) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90))
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def img_format():  # noqa: ANN201
    from PySide6.QtGui import QImage

    return QImage.Format.Format_RGBA8888


def _after_a_look(qtbot, window, root: Path) -> None:  # noqa: ANN001
    open_and_wait(qtbot, window, root)
    qtbot.waitUntil(lambda: window.loader.cached_frame(root / "p1.jpg") is not None, timeout=5000)


def test_the_next_image_is_painted_from_the_frame_its_prefetch_made(window, qtbot, tmp_path: Path) -> None:
    root = _folder(tmp_path)
    _after_a_look(qtbot, window, root)
    c = window.canvas
    frame = window.loader.cached_frame(root / "p1.jpg")
    vp = c.viewport()
    assert vp is not None and (frame.width(), frame.height()) == vp.frame_size(1600, 1200)
    assert frame.width() < c._pixmap.width()  # smaller than the screen-size decode
    with qtbot.assertNotEmitted(window.loader.loaded, wait=0):
        window.next_image()  # shown at once, from the cache, with its frame
    assert c.fitted_frame() is not None
    assert window.loader.info(root / "p1.jpg").size == (1600, 1200) == c.image_size()


def test_shapes_and_pixels_are_at_the_same_place_with_and_without_the_frame(window, qtbot, tmp_path: Path) -> None:
    root = _folder(tmp_path)
    _after_a_look(qtbot, window, root)
    window.next_image()
    c = window.canvas
    x1, y1, x2, y2 = BLOCK
    window.doc.add_shape(Shape(label="block", points=[(float(x1), float(y1)), (float(x2), float(y2))],
                               shape_type="rectangle"))
    c.hide_shapes = True  # the block's own pixels, not the outline over them
    assert c.fitted_frame() is not None
    with_frame = _red_box(window)
    frame = c._frame
    c.set_frame(None)
    assert c.fitted_frame() is None
    without = _red_box(window)
    assert all(abs(a - b) <= 1 for a, b in zip(with_frame, without, strict=True))
    # the shape's corners are drawn where the block's corners are, in both paintings
    tl, br = c.to_widget(x1, y1), c.to_widget(x2, y2)
    for box in (with_frame, without):
        assert abs(box[0] - tl.x()) <= 1.5 and abs(box[1] - tl.y()) <= 1.5
        assert abs(box[2] - br.x()) <= 1.5 and abs(box[3] - br.y()) <= 1.5
    # and the whole canvas, shapes drawn, looks the same either way
    c.hide_shapes = False
    plain = c.grab().toImage()
    c._frame = frame
    framed = c.grab().toImage()
    assert plain.size() == framed.size()
    q = c.to_widget((x1 + x2) / 2, (y1 + y2) / 2)
    assert framed.pixelColor(int(q.x()), int(q.y())) == plain.pixelColor(int(q.x()), int(q.y()))


def test_a_resize_makes_the_frame_again_and_a_stale_frame_is_not_painted(window, qtbot, tmp_path: Path) -> None:
    root = _folder(tmp_path)
    _after_a_look(qtbot, window, root)
    c = window.canvas
    old_frame, old_view = c._frame, c.viewport()
    assert c.fitted_frame() is not None
    before = _red_box(window)
    with qtbot.waitSignal(window.loader.frameLoaded, timeout=5000) as blocker:
        window.resize(1300, 900)
    assert blocker.args[0] == str(root / "p0.jpg") and c.viewport() != old_view
    assert window.loader.viewport == c.viewport()
    frame = c.fitted_frame()
    assert frame is not None and (frame.width(), frame.height()) == c.viewport().frame_size(1600, 1200)
    after = _red_box(window)
    assert after[2] - after[0] > before[2] - before[0]  # a larger view: a larger image
    c._frame = old_frame  # the frame of the old size (before the new one comes): the decode is painted
    assert c.fitted_frame() is None
    x1, y1, x2, y2 = BLOCK
    box, tl, br = _red_box(window), c.to_widget(x1, y1), c.to_widget(x2, y2)
    assert abs(box[0] - tl.x()) <= 1.5 and abs(box[3] - br.y()) <= 1.5


def test_zooming_by_hand_paints_the_decode_and_fit_takes_the_frame_back(window, qtbot, tmp_path: Path) -> None:
    root = _folder(tmp_path)
    _after_a_look(qtbot, window, root)
    c = window.canvas
    c.zoom_by(1.25)
    assert c.viewport() is None and c.fitted_frame() is None and window.loader.viewport is None
    x1, y1, x2, y2 = BLOCK
    box = _red_box(window)
    tl = c.to_widget(x1, y1)
    assert abs(box[0] - tl.x()) <= 1.5 and abs(box[1] - tl.y()) <= 1.5
    c.fit_window()  # the same view as before: the frame made for it is good again
    assert c.fitted_frame() is not None


def test_brightness_applies_to_the_frame(window, qtbot, tmp_path: Path) -> None:
    root = _folder(tmp_path)
    _after_a_look(qtbot, window, root)
    c = window.canvas
    assert c.fitted_frame() is not None
    q = c.to_widget(100, 100)  # grey (90) there
    before = c.grab().toImage().pixelColor(int(q.x()), int(q.y()))
    c.view.adjust.brightness = 2.0
    c.update()
    after = c.grab().toImage().pixelColor(int(q.x()), int(q.y()))
    assert abs(before.red() - 90) <= 3 and abs(after.red() - 180) <= 4


def test_the_neighbours_documents_are_read_ahead_and_next_reads_no_label_file(window, qtbot, tmp_path: Path,
                                                                              monkeypatch) -> None:  # noqa: ANN001
    import json

    from labeler.editing import document as document_module

    root = _folder(tmp_path, n=4)
    shape = {"label": "block", "points": [[400, 300], [800, 600]], "shape_type": "rectangle", "flags": {}}
    (root / "p1.json").write_text(json.dumps({"version": "5.5.0", "flags": {}, "shapes": [shape], "imagePath": "p1.jpg",
                                              "imageData": None, "imageHeight": 1200, "imageWidth": 1600}))
    _after_a_look(qtbot, window, root)
    docs = window.session.docs
    qtbot.waitUntil(lambda: "p1.jpg" in docs and "p2.jpg" in docs, timeout=5000)  # next two, read ahead
    assert window.doc is not None and window.doc.item.rel == "p0.jpg"  # the open image did not change
    assert docs["p2.jpg"].image_size() == (1600, 1200)  # its size from the decode, as an open gives it
    row = window.files.rows["p1.jpg"]  # its row's status from the document read ahead
    assert window.file_model.statuses[row] is not None and window.file_model.statuses[row].labeled
    opened: list[str] = []
    real_open = document_module.Document.open
    monkeypatch.setattr(document_module.Document, "open",
                        classmethod(lambda cls, ds, it, info=None: opened.append(it.rel) or real_open(ds, it, info)))
    from labeler.gui import main_window as main_window_module

    statuses: list[int] = []
    real_status = main_window_module.status_of_annotation
    monkeypatch.setattr(main_window_module, "status_of_annotation",
                        lambda ann: statuses.append(len(ann.shapes)) or real_status(ann))
    ahead = docs["p1.jpg"]
    assert window.next_image()
    assert window.doc is ahead and opened == [] and [s.label for s in ahead.shapes] == ["block"]
    assert window.shape_panel.count() == 1  # shown like any opened document
    assert statuses == []  # its row was set when it was read ahead: nothing to compute again
    # a file another program rewrites after it was read ahead is read again, and its row follows
    (root / "p2.json").write_text((root / "p1.json").read_text().replace('"block"', '"lynx"').replace("p1.jpg", "p2.jpg"))
    assert window.next_image()
    assert opened == ["p2.jpg"] and [s.label for s in window.doc.shapes] == ["lynx"]
    row = window.files.rows["p2.jpg"]
    assert statuses == [1] and window.file_model.statuses[row].labels == frozenset({"lynx"})


def _pixels(window) -> np.ndarray:  # noqa: ANN001
    img = window.canvas.grab().toImage().convertToFormat(img_format())
    h, w = img.height(), img.width()
    arr = np.frombuffer(img.constBits(), dtype=np.uint8).reshape(h, img.bytesPerLine())[:, : w * 4]
    return arr.reshape(h, w, 4)[..., :3].astype(int)


def _drawn_box(window, background: np.ndarray) -> tuple[int, int, int, int]:  # noqa: ANN001
    """Bounding box (widget pixels) of what the canvas paints over the ``background`` pixels."""
    ys, xs = np.nonzero(np.abs(_pixels(window) - background).sum(axis=2) > 40)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def test_outlines_painted_through_the_view_transform_land_on_their_points(window, qtbot, tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    Image.fromarray(np.full((1200, 1600, 3), 90, dtype=np.uint8)).save(root / "g.png")
    open_and_wait(qtbot, window, root)
    c, doc = window.canvas, window.doc
    c.show_labels = False
    shapes = {
        "polygon": [(300.0, 200.0), (900.0, 260.0), (700.0, 800.0)],
        "rectangle": [(1000.0, 900.0), (400.0, 300.0)],  # corners in any order
        "circle": [(800.0, 600.0), (800.0, 900.0)],  # centre, a point on the circle
        "linestrip": [(300.0, 1000.0), (500.0, 700.0), (900.0, 1100.0)],
    }
    for zoom in (None, 1.7):  # fitted, then zoomed in about a point (panned)
        if zoom:
            c.zoom_by(zoom, c.to_widget(700, 500))
        c.hide_shapes = True  # the image and the background around it, without shapes
        background = _pixels(window)
        c.hide_shapes = False
        for kind, pts in shapes.items():
            while doc.shapes:
                doc.remove_shapes([0])
            doc.add_shape(Shape(label="thing", points=pts, shape_type=kind))
            if kind == "circle":
                (cx, cy), r = pts[0], 300.0
                expect = (cx - r, cy - r, cx + r, cy + r)
            else:
                expect = (min(x for x, _ in pts), min(y for _, y in pts), max(x for x, _ in pts), max(y for _, y in pts))
            tl, br = c.to_widget(expect[0], expect[1]), c.to_widget(expect[2], expect[3])
            want = (tl.x(), tl.y(), br.x(), br.y())
            assert 0 < want[0] < want[2] < c.width() and 0 < want[1] < want[3] < c.height()  # all in view
            got = _drawn_box(window, background)
            assert all(abs(a - b) <= 3 for a, b in zip(got, want, strict=True)), (kind, zoom, got, want)
