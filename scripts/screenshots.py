"""Render screenshots of the desktop labeler on the sample data into ``docs/images/gui_*.png``.

Under X (Xvfb) the pictures are what a person sees: the window runs on Qt's ``xcb`` platform and
each shot is grabbed from the X screen itself, menus and dialogs included. Without a display it
falls back to Qt's ``offscreen`` platform (widgets rendered to images, popups composited).
Works on a copy of ``sample_data`` in a temporary folder, with a few suggestions and issues
added so that the review panels have something to show; the sample data itself is never changed.

    python scripts/screenshots.py --xvfb          # starts Xvfb itself (xvfb-run -a), platform xcb
    xvfb-run -a -s "-screen 0 1600x1200x24" python scripts/screenshots.py   # the same by hand
    python scripts/screenshots.py                 # no display: offscreen
    python scripts/screenshots.py --out /tmp/shots

Xvfb needs ``apt-get install xvfb`` and Qt's xcb plugin needs the xcb libraries
(``libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0`` on Debian).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"


def _suggest(shape_type: str, label: str, points: list, score: float, plugin: str = "yolo") -> dict:
    return {"label": label, "points": points, "group_id": None, "description": "", "shape_type": shape_type,
            "flags": {}, "labeler": {"score": score, "source": {"plugin": plugin, "model": "scenes_yolo.pt"},
                                     "review": "suggested"}}


def prepare(tmp: Path) -> tuple[Path, Path]:
    """Copies of the sample sets, with suggestions (scenes) and issues (sketches)."""
    scenes = tmp / "scenes"
    sketches = tmp / "sketches"
    shutil.copytree(SAMPLE / "scenes", scenes)
    shutil.copytree(SAMPLE / "sketches", sketches)
    truth = json.loads((SAMPLE / "truth" / "scenes_ground_truth.json").read_text())["images"]
    # scene_0003 is unlabeled: pretend a detector suggested its objects (one box a bit off).
    objs = truth["scene_0003.jpg"]["objects"]
    shapes = []
    for k, o in enumerate(objs):
        x1, y1, x2, y2 = o["bbox_xyxy"]
        score = [0.93, 0.81, 0.47, 0.66, 0.88, 0.72][k % 6]
        if k % 2:
            shapes.append(_suggest("polygon", o["label"], o["polygon"], score, "yolo_sam"))
        else:
            shapes.append(_suggest("rectangle", o["label"], [[x1, y1], [x2, y2]], score))
    doc = {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": "scene_0003.jpg", "imageData": None,
           "imageHeight": truth["scene_0003.jpg"]["height"], "imageWidth": truth["scene_0003.jpg"]["width"]}
    (scenes / "scene_0003.json").write_text(json.dumps(doc, indent=2))
    # sketches: a duplicate group and a mislabel, as the checks would raise them.
    noise = json.loads((SAMPLE / "truth" / "sketches_noise.json").read_text())
    dup = noise["exact_duplicates"][0]
    path = sketches / dup["image"].replace(".png", ".json")
    data = json.loads(path.read_text())
    data.setdefault("labeler", {})["issues"] = [{
        "kind": "duplicate", "score": 1.0, "detail": f"byte-identical to {dup['original']}",
        "suggested_fix": {"action": "exclude", "reason": "duplicate"},
        "related_files": [dup["original"]],
        "source": {"plugin": "duplicates"}}]
    path.write_text(json.dumps(data, indent=2))
    mis = noise["mislabeled"][0]
    path = sketches / mis["image"].replace(".png", ".json")
    data = json.loads(path.read_text())
    data.setdefault("labeler", {})["issues"] = [{
        "kind": "mislabel", "score": 0.91, "detail": f"labeled {mis['label']} but looks like a {mis['true_label']}",
        "suggested_fix": {"action": "relabel", "label": mis["true_label"]}, "source": {"plugin": "clip_outliers"}}]
    path.write_text(json.dumps(data, indent=2))
    return scenes, sketches


def _mixed_scene(folder: Path) -> str:
    """A labeled scene with both rectangles and polygons (the richest first shot)."""
    best = ("scene_0001.jpg", 0)
    for path in sorted(folder.glob("*.json")):
        shapes = json.loads(path.read_text())["shapes"]
        kinds = {s["shape_type"] for s in shapes}
        score = len(kinds) * 10 + len(shapes)
        if score > best[1] and not any("labeler" in s for s in shapes):
            best = (path.with_suffix(".jpg").name, score)
    return best[0]


def _box_iou(poly: list, box: list) -> float:
    if len(poly) < 3:
        return 0.0
    xs, ys = [p[0] for p in poly], [p[1] for p in poly]
    a = (min(xs), min(ys), max(xs), max(ys))
    ix = max(0.0, min(a[2], box[2]) - max(a[0], box[0]))
    iy = max(0.0, min(a[3], box[3]) - max(a[1], box[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (box[2] - box[0]) * (box[3] - box[1]) - inter
    return inter / union if union > 0 else 0.0


#: The X screen xvfb-run starts (the window is 1440x900; dialogs need room beside it).
XVFB_SCREEN = "1600x1200x24"


def _rerun_under_xvfb(argv: list[str]) -> int:
    """Run this script again inside ``xvfb-run -a`` with Qt's xcb platform."""
    if shutil.which("xvfb-run") is None:
        print("xvfb-run not found (apt-get install xvfb); falling back to offscreen", file=sys.stderr)
        return main([a for a in argv if a != "--xvfb"])
    env = dict(os.environ, QT_QPA_PLATFORM="xcb")
    cmd = ["xvfb-run", "-a", "-s", f"-screen 0 {XVFB_SCREEN}", sys.executable, str(Path(__file__).resolve()),
           *[a for a in argv if a != "--xvfb"]]
    return subprocess.call(cmd, env=env)


def choose_platform() -> None:
    """xcb when there is a display (offscreen if its plugin cannot load), else offscreen."""
    if os.environ.get("QT_QPA_PLATFORM"):
        if os.environ["QT_QPA_PLATFORM"] == "xcb":
            os.environ["QT_QPA_PLATFORM"] = "xcb;offscreen"  # Qt tries each in turn
        return
    os.environ["QT_QPA_PLATFORM"] = "xcb;offscreen" if os.environ.get("DISPLAY") else "offscreen"


class Camera:
    """Grabs top-level windows as they appear: from the X screen under xcb, else rendered."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.on_screen = app.platformName() == "xcb"

    def grab(self, widget: Any, popups: tuple[Any, ...] = ()) -> Any:
        from PySide6.QtGui import QPainter

        if self.on_screen:
            screen = widget.screen()
            geo = widget.frameGeometry()
            return screen.grabWindow(0, geo.x(), geo.y(), geo.width(), geo.height())
        pm = widget.grab()
        if popups:
            painter = QPainter(pm)
            for pop in popups:  # offscreen: popups are separate windows, paint them in
                painter.drawPixmap(widget.mapFromGlobal(pop.pos()), pop.grab())
            painter.end()
        return pm


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    parser.add_argument("--xvfb", action="store_true", help="start Xvfb (xvfb-run -a) and use Qt's xcb platform")
    args = parser.parse_args(argv)
    if args.xvfb:
        return _rerun_under_xvfb(argv)
    choose_platform()

    from PySide6.QtCore import QPoint, QPointF, QSettings
    from PySide6.QtWidgets import QApplication

    from labeler.gui.main_window import MainWindow
    from labeler.gui.options_dialog import PluginOptionsDialog
    from labeler.gui.sam import find_checkpoint, plugin_session_factory
    from labeler.gui.shortcuts import ShortcutsDialog

    app = QApplication.instance() or QApplication(sys.argv[:1])
    camera = Camera(app)
    print(f"Qt platform: {app.platformName()}"
          + (f" (screen {app.primaryScreen().size().width()}x{app.primaryScreen().size().height()})"
             if camera.on_screen else ""), file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="labeler-shots-") as tmpdir:
        tmp = Path(tmpdir)
        scenes, sketches = prepare(tmp)
        settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
        ckpt = find_checkpoint()
        w = MainWindow(settings=settings, sam_factory=plugin_session_factory(ckpt), autosave=False)
        w.resize(1440, 900)
        w.move(0, 0)
        w.show()

        def settle(ms: int = 150) -> None:
            w.loader.wait(5000)
            for _ in range(max(1, ms // 10)):
                app.processEvents()
                w.loader.wait(10)

        def place(dlg: Any) -> None:
            """Centre a dialog on the window, kept inside the screen."""
            geo = app.primaryScreen().availableGeometry()
            pos = w.frameGeometry().center() - dlg.rect().center()
            dlg.move(max(geo.left(), min(pos.x(), geo.right() - dlg.width())),
                     max(geo.top(), min(pos.y(), geo.bottom() - dlg.height())))

        def shot(name: str, widget: Any = None, popups: tuple[Any, ...] = (), keep_message: bool = False) -> None:
            if not keep_message:
                w.statusBar().clearMessage()  # no leftover message from the previous step
            for ext in w.extensions.values():  # plugin docks show the image on screen now
                refresh = getattr(ext, "refresh", None)
                if callable(refresh):
                    refresh()
            settle()
            path = args.out / f"gui_{name}.png"
            camera.grab(widget or w, popups).save(str(path))
            written.append(path)

        w.open_folder(scenes)
        w.wait_for_scan()
        w.open_rel(_mixed_scene(scenes))
        w.canvas.select([0])
        shot("main")

        # relabelling a shape: the dialog beside it, the completion list open on what was typed
        from PySide6.QtCore import QTimer

        label = w.doc.shapes[0].label

        def type_a_prefix() -> None:
            dlg = w.label_dialog
            if not dlg.isVisible():
                QTimer.singleShot(20, type_a_prefix)
                return
            dlg.edit.setText("")
            dlg.edit.setFocus()
            for ch in label[:2]:
                dlg.edit.insert(ch)
                dlg.edit.textEdited.emit(dlg.edit.text())
            dlg.completer.setCompletionPrefix(label[:2])
            dlg.completer.complete()
            settle(300)
            shot("label", popups=(dlg, dlg.completer.popup()))
            dlg.reject()

        QTimer.singleShot(0, type_a_prefix)
        w.edit_label(0)

        # a linestrip (Draw > Create LineStrip): one finished, one being drawn towards the cursor
        from labeler.model import Shape

        boxes = [sh.bbox() for sh in w.doc.shapes if sh.shape_type == "rectangle"]
        x1, y1, x2, y2 = boxes[0]
        bw, bh = x2 - x1, y2 - y1
        w.doc.add_shape(Shape(label="back", shape_type="linestrip", points=[
            (x1 + 0.02 * bw, y1 + 0.45 * bh), (x1 + 0.2 * bw, y1 + 0.2 * bh), (x1 + 0.55 * bw, y1 + 0.12 * bh),
            (x1 + 0.85 * bw, y1 + 0.16 * bh), (x2 - 0.02 * bw, y1 + 0.4 * bh)]))
        w.mode_linestrip()
        x1, y1, x2, y2 = boxes[-1]
        bw, bh = x2 - x1, y2 - y1
        w.canvas.tool.points = [(x1 + 0.05 * bw, y1 + 0.3 * bh), (x1 + 0.3 * bw, y1 + 0.05 * bh),
                                (x1 + 0.6 * bw, y1 + 0.03 * bh)]
        w.canvas.view.cursor = (x1 + 0.8 * bw, y1 + 0.1 * bh)
        w.canvas.select([])
        w.statusBar().showMessage("Create LineStrip (Ctrl+Shift+L): click points; double-click or Enter finishes")
        shot("linestrip", keep_message=True)
        w.canvas.cancel_drawing()
        w.mode_edit()
        w.doc.undo()
        w._refresh_classes()  # "back" was only for this picture
        # the File menu with labelme's Open File, Save As, Change Output Dir, Delete File
        file_menu = w.menuBar().actions()[0].menu()
        file_menu.popup(w.mapToGlobal(w.menuBar().geometry().bottomLeft()))
        shot("file_menu", popups=(file_menu,))
        file_menu.close()
        # the Edit menu with labelme's Keep Previous Annotation ticked, and Edit > Preferences
        edit_menu = w.menuBar().actions()[1].menu()
        w.actions["toggle_keep_previous"].setChecked(True)
        edit_menu.popup(w.mapToGlobal(w.menuBar().actionGeometry(w.menuBar().actions()[1]).bottomLeft()))
        shot("edit_menu", popups=(edit_menu,))
        edit_menu.close()
        w.actions["toggle_keep_previous"].setChecked(False)
        from labeler.gui.options_dialog import preferences_dialog

        prefs = preferences_dialog(w)
        prefs.show()
        place(prefs)
        shot("preferences", widget=prefs)
        prefs.close()

        w.open_rel("scene_0003.jpg")
        w.review_panel.threshold.setValue(0.6)
        w.session.next_suggestion()
        w.session.next_suggestion()
        shot("review")

        if ckpt is not None:
            w.open_rel("scene_0006.jpg")
            w.mode_sam()
            w.sam.wait(120000)
            settle(300)
            truth = json.loads((SAMPLE / "truth" / "scenes_ground_truth.json").read_text())["images"]
            obj = truth["scene_0006.jpg"]["objects"][0]
            x1, y1, x2, y2 = obj["bbox_xyxy"]
            w.canvas.segment_tool.box = (x1 - 4, y1 - 4, x2 + 4, y2 + 4)
            w.segment.prompt([], [], w.canvas.sam_box)
            poly = w.canvas.sam_preview or []
            if _box_iou(poly, obj["bbox_xyxy"]) > 0.5:
                shot("sam", keep_message=True)  # the status bar reports the SAM answer
            else:
                print(f"note: {ckpt.name} did not segment the prompted {obj['label']}; no gui_sam.png",
                      file=sys.stderr)
            w.canvas.clear_sam()
            w.mode_edit()

        # vertex editing, zoomed in: a selected vertex and the right-click menu on an edge
        w.open_rel(_mixed_scene(scenes))
        poly_index = next(i for i, sh in enumerate(w.doc.shapes) if sh.shape_type == "polygon" and len(sh.points) > 12)
        pts = w.doc.shapes[poly_index].points
        w.canvas.select([poly_index])
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
        w.canvas.set_zoom(3.0)
        w.canvas.pan_by(w.canvas.width() / 2 - w.canvas.to_widget(cx, cy).x(),
                        w.canvas.height() / 2 - w.canvas.to_widget(cx, cy).y())
        # the right-click goes on the rightmost long edge (the menu opens beside the shape), the
        # selected vertex is the topmost one
        n = len(pts)
        longest = max(abs(complex(*pts[j]) - complex(*pts[(j + 1) % n])) for j in range(n))
        k = max((j for j in range(n) if abs(complex(*pts[j]) - complex(*pts[(j + 1) % n])) > longest / 3),
                key=lambda j: pts[j][0] + pts[(j + 1) % n][0])
        w.canvas.selected_vertex = (poly_index, min(range(n), key=lambda j: pts[j][1]))
        a, b = pts[k], pts[(k + 1) % len(pts)]
        edge_pos = w.canvas.to_widget((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
        menu = w.canvas.context_menu(QPointF(edge_pos))
        settle()
        menu.popup(w.canvas.mapToGlobal(QPoint(round(edge_pos.x()) + 4, round(edge_pos.y()) + 4)))
        w.statusBar().showMessage("Alt+click on an edge adds a point; Shift+click or Delete removes the selected one")
        shot("vertices", popups=(menu,), keep_message=True)
        menu.close()
        w.canvas.selected_vertex = None
        w.canvas.fit_window()

        # labelme's view controls: the Labels dock (one shape hidden by its checkbox), image
        # flags in the Flags dock, the Brightness/Contrast dialog; then the label dialog's flags
        w.session.image_flags = ["blurry", "night", "crowded"]
        w.session.label_flags = {".*": ["occluded", "truncated"]}
        w.open_rel("scene_0001.jpg")
        w.session.set_image_flag("crowded", True)
        w.controls.set_shape_visible(1, False)
        bc = w.controls.brightness_contrast()
        bc.brightness.setValue(75)
        bc.contrast.setValue(160)
        bc.hide()  # shown where the window manager puts it: at the canvas' corner here
        bc.move(w.canvas.mapToGlobal(QPoint(12, 12)))
        bc.show()
        shot("view_controls", popups=(bc,))
        bc.reset()
        bc.close()
        ld = w.label_dialog
        ld.set_labels(w.classes)
        w.session.labeling = w.doc.shapes[0]
        ld.edit.setText(w.doc.shapes[0].label)
        ld._show_attributes()
        ld.description.setPlainText("partly behind the bench")
        ld.difficult.setChecked(True)
        ld.flag_boxes["occluded"].setChecked(True)
        ld.show()
        place(ld)
        shot("label_flags", widget=ld)
        ld.hide()
        w.session.labeling = None
        w.doc.undo()  # the flag ticked above
        w.controls.set_shape_visible(1, True)
        w.session.image_flags, w.session.label_flags = [], {}
        w.controls.refresh()

        # the options form of a plugin, as the Plugins menu opens it
        from labeler.plugins import get_registry

        reg = get_registry()
        cls = reg.autolabelers.get("yolo") or next(iter(reg.autolabelers.values()), None)
        if cls is not None:
            from PySide6.QtWidgets import QToolTip

            dlg = PluginOptionsDialog(cls, "autolabelers", settings, parent=w)
            dlg.show()
            place(dlg)
            editors = dlg.form.editors
            # a typo is reported under its field (Run stays disabled until it is fixed) ...
            typo = next((e for e in editors.values() if e.kind == "number"), None)
            if typo is not None:
                typo.widget.setText("640px")
                typo.widget.setFocus()
            settle()
            # ... and each field's description is its tooltip
            tip = next((e for e in editors.values() if e.kind in ("float", "int") and e.widget.toolTip()), None)
            popups: tuple[Any, ...] = ()
            if tip is not None:
                at = tip.widget.mapToGlobal(QPoint(tip.widget.width() // 2, tip.widget.height()))
                QToolTip.showText(at, tip.widget.toolTip(), tip.widget)
                settle(300)
                popups = tuple(t for t in app.topLevelWidgets() if t.inherits("QTipLabel") and t.isVisible())
            shot("options", widget=dlg, popups=popups)
            QToolTip.hideText()
            for t in popups:  # no tooltip left on screen for the next shots
                t.hide()
            dlg.close()

        w.open_folder(sketches)
        w.wait_for_scan()
        w.status_filter.setCurrentIndex(w.status_filter.findData("issues"))
        noise = json.loads((SAMPLE / "truth" / "sketches_noise.json").read_text())
        w.open_rel(noise["exact_duplicates"][0]["image"])
        shot("issues")

        # a file that is not an image: nothing of the previous image stays on screen
        (sketches / "zz_not_an_image.png").write_bytes(b"this is a text file, not a PNG\n")
        w.open_folder(sketches)
        w.wait_for_scan()
        w.status_filter.setCurrentIndex(w.status_filter.findData(""))
        w.open_rel("zz_not_an_image.png")
        shot("unreadable", keep_message=True)

        dlg = ShortcutsDialog(w)
        dlg.show()
        place(dlg)
        shot("shortcuts", widget=dlg)
        dlg.close()
        w.close()
    for p in written:
        print(p.relative_to(REPO) if p.is_relative_to(REPO) else p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
