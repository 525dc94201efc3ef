"""The editing session's writes, killed at every file commit (a real process, SIGKILL).

A person's session in the window (the Qt-free :class:`labeler.editing.session.Session` the
window binds to) saves edits on leaving an image, writes a Save As copy, applies a fix and
deletes a label file. A process doing exactly that is killed at each commit point of those
writes in turn; after each kill every file holds either its version from before the session or
the one the session wrote (byte for byte, keys in the order they were read), nothing is left
half-written, the next command finds the folder valid, and doing the session again ends with
the same files as a session that was never interrupted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.editing.conftest import four_images

SESSION = textwrap.dedent("""
    import hashlib, sys
    from pathlib import Path
    from labeler.editing.session import Session
    from labeler.model import Shape

    root, copies = Path(sys.argv[1]), Path(sys.argv[2])
    s = Session()
    s.resolve_conflict = lambda doc, state: "cancel"
    s.open_dataset(root)
    ds = s.dataset
    a = s.open_item(ds.item("a.jpg"))
    a.set_label([0], "lion")
    a.add_shape(Shape(label="dog", points=[(60, 10), (90, 40)], shape_type="rectangle"))
    b = s.open_item(ds.item("b.jpg"))          # leaving a.jpg saves it
    assert s.review(True)                       # accept the best suggestion
    b.set_reviewed(True)
    assert s.save_as(copies / "b_copy.json")    # a copy outside the dataset
    c = s.open_item(ds.item("c.jpg"))          # leaving b.jpg saves it
    assert s.apply_fix(0)                       # the mislabel's relabel
    d = s.open_item(ds.item("d.jpg"))          # leaving c.jpg saves it
    d.add_shape(Shape(label="cat", points=[(5, 5), (30, 30)], shape_type="rectangle"))
    s.open_item(ds.item("a.jpg"))               # leaving d.jpg creates d.json
    print("a.json", hashlib.sha256((root / "a.json").read_bytes()).hexdigest(), flush=True)
    assert s.delete_label_file()                # a.json goes
    print("done", flush=True)
""")

SAVE_AS_AGAIN = textwrap.dedent("""
    import sys
    from pathlib import Path
    from labeler.editing.session import Session

    s = Session()
    s.open_dataset(sys.argv[1])
    s.open_item(s.dataset.item("b.jpg"))
    assert s.save_as(Path(sys.argv[2]) / "b_copy.json")
""")


def _dataset(root: Path) -> Path:
    ds = four_images(root)
    # A file whose keys are not in labelme's order: each save must keep the order it was read in.
    path = ds / "a.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps(dict(reversed(list(data.items()))), indent=1), encoding="utf-8")
    return ds


def _run(script: str, root: Path, copies: Path, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    copies.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-c", script, str(root), str(copies)], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=120)


def _files(*roots: Path) -> dict[str, str]:
    """sha256 of every file under ``roots`` by name (labeler's own state folder aside)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for root in roots for p in sorted(root.rglob("*")) if p.is_file() and ".labeler" not in p.parts}


def test_kill_at_every_file_commit_of_a_gui_session(tmp_path: Path) -> None:
    pristine = _dataset(tmp_path / "pristine")
    before = _files(pristine)
    reference, ref_copies = tmp_path / "ref" / "ds", tmp_path / "ref" / "copies"
    shutil.copytree(pristine, reference)
    trace = tmp_path / "trace.txt"
    done = _run(SESSION, reference, ref_copies,
                {"LABELER_CRASH_AT": "1000000", "LABELER_FAULT_TRACE": str(trace)})
    assert done.returncode == 0 and "done" in done.stdout, done.stderr
    after = _files(reference, ref_copies)
    saved_a = done.stdout.split()[1]  # a.json as saved, before the session deleted it
    assert "a.json" not in after and saved_a != before["a.json"] and "d.json" not in before
    assert {k for k in before if before[k] != after.get(k)} == {"a.json", "b.json", "c.json"}
    copy = json.loads((ref_copies / "b_copy.json").read_text())
    assert copy["imagePath"] == "../ds/b.jpg" and copy["labeler"]["reviewed"] is True
    points = [line.split(" ", 2)[1:] for line in trace.read_text().splitlines()]
    kinds = [kind for kind, _ in points]
    assert kinds.count("commit") == 5 and kinds.count("remove") == 1, points  # a, copy, b, c, d; a goes
    new = {**after, "a.json": saved_a}
    for n in range(1, len(points) + 1):
        work, copies = tmp_path / f"kill{n}" / "ds", tmp_path / f"kill{n}" / "copies"
        shutil.copytree(pristine, work)
        killed = _run(SESSION, work, copies, {"LABELER_CRASH_AT": str(n)})
        where = (n, " ".join(points[n - 1]))
        assert killed.returncode == -signal.SIGKILL, (where, killed.stderr)
        # Every write the session finished before the kill is there, nothing after it.
        want = dict(before)
        for kind, name in points[: n - 1]:
            if kind == "commit":
                want[name] = new[name]
            elif kind == "remove":
                del want[name]
        check = subprocess.run([sys.executable, "-m", "labeler", "validate", str(work)],
                               capture_output=True, text=True, timeout=120)
        assert check.returncode == 0, (where, check.stdout, check.stderr)
        assert {k: v for k, v in _files(work, copies).items() if not k.endswith(".tmp")} == want, where
        if want.get("a.json") == saved_a:  # saved in the order its keys were read in
            assert list(json.loads((work / "a.json").read_text())) == \
                list(json.loads((pristine / "a.json").read_text())), where
        assert not list(work.rglob("*.tmp")), where  # the next command swept the dataset
        # A temp file of the copy (outside the dataset) goes with the next Save As there.
        again = _run(SAVE_AS_AGAIN, work, copies)
        assert again.returncode == 0, (where, again.stderr)
        assert not list(copies.glob("*.tmp")) and (copies / "b_copy.json").is_file(), where
