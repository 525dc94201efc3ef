"""The one write path (labeler.io.writes): lock, compare and swap, transactions, recovery."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from labeler.dataset import open_dataset
from labeler.errors import LabelFileWriteError
from labeler.io.writes import (
    ConcurrentChangeError,
    DatasetLock,
    Transaction,
    is_stale_temp,
    recover,
    replace_if_unchanged,
)
from labeler.model import Shape
from tests.conftest import labelme_json, make_image, rect, write_json


def _dataset(tmp_path: Path, n: int = 2) -> Path:
    root = tmp_path / "ds"
    for i in range(n):
        make_image(root / f"img{i}.png", seed=i)
        write_json(root / f"img{i}.json", labelme_json(f"img{i}.png", (64, 48), [rect("person", 1, 1, 9, 9)]))
    return root


def _add(label: str):
    def change(ann):
        ann.shapes.append(Shape(label=label, shape_type="rectangle", points=[(2, 2), (8, 8)]))
        return ann

    return change


def _labels(path: Path) -> list[str]:
    return [s["label"] for s in json.loads(path.read_text())["shapes"]]


def test_update_applies_the_change_to_what_is_on_disk_now(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    ds = open_dataset(root)
    item = ds.items[0]
    stale = ds.load(item)
    # Someone saves after our read: the update must start from their version, not ours.
    doc = json.loads(item.label_path.read_text())
    doc["shapes"].append(rect("theirs", 3, 3, 6, 6))
    write_json(item.label_path, doc)
    assert ds.update(item, _add("ours"))
    assert _labels(item.label_path) == ["person", "theirs", "ours"]
    assert stale is not None and [s.label for s in stale.shapes] == ["person"]
    assert not ds.update(item, lambda ann: ann)  # no change, no write


def test_update_starts_over_when_a_writer_without_the_lock_saves_during_it(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    ds = open_dataset(root)
    item = ds.items[0]
    calls = []

    def change(ann):
        calls.append([s.label for s in ann.shapes])
        if len(calls) == 1:  # a labelme save lands between our read and our rename
            doc = json.loads(item.label_path.read_text())
            doc["shapes"].append(rect("labelme", 3, 3, 6, 6))
            write_json(item.label_path, doc)
        return _add("ours")(ann)

    assert ds.update(item, change)
    assert calls == [["person"], ["person", "labelme"]]
    assert _labels(item.label_path) == ["person", "labelme", "ours"]


def test_replace_if_unchanged_refuses_a_changed_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b"one")
    with pytest.raises(ConcurrentChangeError, match="changed on disk"):
        replace_if_unchanged(path, b"two", b"zero")
    assert path.read_bytes() == b"one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    replace_if_unchanged(path, b"two", b"one")
    assert path.read_bytes() == b"two"


def test_save_with_expect_is_a_compare_and_swap(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    ds = open_dataset(root)
    item = ds.items[0]
    raw = item.label_path.read_bytes()
    ann = ds.load(item)
    ann.shapes.clear()
    write_json(item.label_path, labelme_json("img0.png", (64, 48), [rect("newer", 1, 1, 5, 5)]))
    with pytest.raises(ConcurrentChangeError):
        ds.save(item, ann, expect=raw)
    assert _labels(item.label_path) == ["newer"]


def test_the_lock_excludes_other_processes_and_is_freed_when_its_holder_is_killed(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from labeler.io.writes import DatasetLock;"
         "lock = DatasetLock(Path(sys.argv[1])); lock.acquire(); print('held', flush=True); time.sleep(60)",
         str(root)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(TimeoutError, match="another labeler process"):
            DatasetLock(root, timeout=0.3).acquire()
        holder.kill()
        holder.wait()
        lock = DatasetLock(root, timeout=5)
        with lock:  # the kernel dropped the dead holder's lock: nothing stale to clean
            pass
    finally:
        holder.kill()


def test_the_lock_excludes_other_threads_of_one_process(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    order: list[str] = []
    first = DatasetLock(root)
    first.acquire()

    def other() -> None:
        with DatasetLock(root):
            order.append("other")

    t = threading.Thread(target=other)
    t.start()
    time.sleep(0.2)
    order.append("first")
    first.release()
    t.join(5)
    assert order == ["first", "other"]


def _txn(root: Path) -> Transaction:
    return Transaction(root, DatasetLock(root))


def test_a_transaction_commits_all_files_at_once(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    a, b, c = root / "img0.json", root / "img1.json", root / "new.txt"
    txn = _txn(root)
    txn.write(a, b"A", expect=a.read_bytes())
    txn.write(b, b"B")
    txn.write(c, b"C", expect=None)
    assert a.read_bytes() != b"A" and not c.exists()  # nothing applied before the commit
    txn.commit()
    assert (a.read_bytes(), b.read_bytes(), c.read_bytes()) == (b"A", b"B", b"C")
    assert not list((root / ".labeler" / "journal").iterdir())
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]


def test_a_transaction_changes_nothing_when_a_checked_file_changed(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    a, b = root / "img0.json", root / "img1.json"
    before_b = b.read_bytes()
    txn = _txn(root)
    txn.write(b, b"B")
    txn.write(a, b"A", expect=a.read_bytes())
    a.write_bytes(b"labelme saved this")
    with pytest.raises(ConcurrentChangeError):
        txn.commit()
    assert a.read_bytes() == b"labelme saved this" and b.read_bytes() == before_b
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]


def _two_file_txn(tmp_path: Path) -> tuple[Path, Path, Path, Transaction]:
    """A dataset and a transaction writing b"A" over img0.json and b"B" over img1.json."""
    root = _dataset(tmp_path)
    a, b = root / "img0.json", root / "img1.json"
    txn = _txn(root)
    txn.write(a, b"A", expect=a.read_bytes())
    txn.write(b, b"B", expect=b.read_bytes())
    return root, a, b, txn


def test_a_change_found_after_the_commit_point_is_rolled_back(tmp_path: Path, monkeypatch) -> None:
    """A writer without the lock saves between the commit record and a file's rename."""
    import labeler.io.writes as writes

    root, a, b, txn = _two_file_txn(tmp_path)
    before_b = b.read_bytes()
    real = writes._apply

    def apply_then_interfere(ops, verify=False):
        # After the first file is renamed, labelme saves the second.
        first, *rest = ops
        real([first], verify)
        rest[0].target.write_bytes(b"labelme")
        real(ops, verify)

    monkeypatch.setattr(writes, "_apply", apply_then_interfere)
    with pytest.raises(ConcurrentChangeError):
        txn.commit()
    assert b.read_bytes() == b"labelme"  # their edit stays
    assert a.read_bytes() != b"A"  # and the first file is put back
    assert json.loads(a.read_text())["shapes"][0]["label"] == "person"
    assert before_b != b"labelme"
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]


def _journal(root: Path, state: str, ops: list[dict]) -> None:
    jdir = root / ".labeler" / "journal"
    jdir.mkdir(parents=True, exist_ok=True)
    (jdir / "1-99999999-abc.json").write_text(json.dumps({"id": "x", "state": state, "ops": ops}))


def test_recover_rolls_a_committed_entry_forward_and_a_prepared_one_back(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    a = root / "img0.json"
    staged = root / ".img0.json.99999999.0001.tmp"
    staged.write_bytes(b"new content")
    _journal(root, "committed", [{"op": "write", "target": "img0.json", "staged": staged.name}])
    result = recover(root, DatasetLock(root))
    assert result.rolled_forward and a.read_bytes() == b"new content" and not staged.exists()

    staged.write_bytes(b"half made")
    before = a.read_bytes()
    _journal(root, "prepared", [{"op": "write", "target": "img0.json", "staged": staged.name}])
    result = recover(root, DatasetLock(root))
    assert result.rolled_back and a.read_bytes() == before and not staged.exists()
    assert not list((root / ".labeler" / "journal").iterdir())


def test_recover_puts_back_a_rolling_back_entry(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    a = root / "img0.json"
    backup = root / ".img0.json.99999999.0002.tmp"
    os.link(a, backup)
    original = a.read_bytes()
    renamed = root / "renamed"
    renamed.write_bytes(b"applied")
    os.replace(renamed, a)  # the rename happened (its staged file is gone)
    gone = root / ".img0.json.99999999.0003.tmp"
    _journal(root, "rolling_back", [{"op": "write", "target": "img0.json", "staged": gone.name,
                                     "backup": backup.name}])
    recover(root, DatasetLock(root))
    assert a.read_bytes() == original and not backup.exists()


def test_stale_temp_files_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    dead = root / ".img0.json.99999999.00ff.tmp"
    live = root / f".img0.json.{os.getpid()}.00ff.tmp"
    other = root / ".img0.json.swp"
    for p in (dead, live, other):
        p.write_bytes(b"x")
    assert is_stale_temp(dead.name) and not is_stale_temp(live.name) and not is_stale_temp(other.name)
    result = open_dataset(root).recover()
    assert result.temp_removed == [dead]
    assert live.exists() and other.exists() and not dead.exists()


def test_a_fifo_in_place_of_a_label_file_is_an_error_not_a_hang(tmp_path: Path) -> None:
    root = _dataset(tmp_path, 1)
    (root / "img0.json").unlink()
    os.mkfifo(root / "img0.json")
    ds = open_dataset(root)
    with pytest.raises(LabelFileWriteError, match="img0.json: cannot write: not a regular file"):
        ds.update(ds.items[0], _add("x"))


def test_update_many_is_update_for_each_file_with_one_lock_hold(tmp_path: Path) -> None:
    root = _dataset(tmp_path, n=4)
    ds = open_dataset(root)
    a, b, c, d = ds.items
    (root / "img3.json").unlink()  # no file yet: the change decides

    def broken(ann):
        raise ValueError("plugin output unusable")

    def save_b_meanwhile(ann):  # a labelme save of b lands after b was read, before its rename
        doc = json.loads(b.label_path.read_text())
        doc["shapes"].append(rect("labelme", 3, 3, 6, 6))
        write_json(b.label_path, doc)
        return _add("ours")(ann)

    def new_file(ann):
        assert ann is None
        ann = ds.new_annotation(d)
        return _add("ours")(ann)

    results = ds.update_many([(a, _add("ours")), (b, _add("ours")), (c, save_b_meanwhile),
                              (d, new_file)])
    assert results[0] is True and results[2] is True and results[3] is True
    assert results[1] is True  # b went through update() again, on the labelme version
    assert _labels(a.label_path) == ["person", "ours"]
    assert _labels(b.label_path) == ["person", "labelme", "ours"]
    assert _labels(d.label_path) == ["ours"]
    again = ds.update_many([(a, broken), (c, lambda ann: ann)])
    assert isinstance(again[0], ValueError) and again[1] is False  # an error stays with its file
    assert _labels(a.label_path) == ["person", "ours"]
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]


def _labelme_saves_at_the_rename(monkeypatch: pytest.MonkeyPatch, path: Path, times: int = 1) -> list[str]:
    """A labelme save (temp file, rename: no lock) that lands after labeler's last look, at
    the very moment before its rename (the commit point), ``times`` times."""
    from labeler.io import writes

    saved: list[str] = []

    def at(what: str) -> None:
        if what == f"commit {path.name}" and len(saved) < times:
            doc = json.loads(path.read_text())
            doc["shapes"].append(rect(f"labelme{len(saved)}", 3, 3, 6, 6))
            tmp = path.with_name(f"{path.name}.labelme~")
            tmp.write_text(json.dumps(doc))
            os.replace(tmp, path)
            saved.append(f"labelme{len(saved)}")

    monkeypatch.setattr(writes, "fault_point", at)
    return saved


@pytest.mark.parametrize("many", [False, True], ids=["update", "update_many"])
def test_a_save_between_the_last_look_and_the_rename_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, many: bool
) -> None:
    """The window a plain rename leaves after the compare (seen once as a lost edit in
    bench/concurrency.py on a loaded machine): the rename is an exchange, the file it took
    out is compared, and a save that came in between goes back in place; labeler then applies
    its change to that save."""
    root = _dataset(tmp_path)
    ds = open_dataset(root)
    item = ds.items[0]
    saved = _labelme_saves_at_the_rename(monkeypatch, item.label_path)
    if many:
        assert ds.update_many([(item, _add("ours"))]) == [True]
    else:
        assert ds.update(item, _add("ours"))
    assert saved == ["labelme0"]
    assert _labels(item.label_path) == ["person", "labelme0", "ours"]
    assert [p.name for p in item.label_path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_without_the_exchange_that_save_would_be_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same save against a plain rename (systems without renameat2): what the exchange is
    for. The measurement above can fail."""
    from labeler.io import atomic

    monkeypatch.setattr(atomic, "_RENAMEAT2", None)
    root = _dataset(tmp_path)
    ds = open_dataset(root)
    item = ds.items[0]
    _labelme_saves_at_the_rename(monkeypatch, item.label_path)
    assert ds.update(item, _add("ours"))
    assert _labels(item.label_path) == ["person", "ours"]  # labelme0 is gone


def test_a_new_file_is_not_written_over_one_made_since_the_look(tmp_path: Path) -> None:
    """expect None (no file yet): the rename refuses to replace a file that appeared."""
    from labeler.io.atomic import replace_if_holds, write_temp

    path = tmp_path / "a.json"
    tmp = write_temp(path, b"ours")
    path.write_bytes(b"theirs")
    assert replace_if_holds(tmp, path, None) is False
    assert path.read_bytes() == b"theirs" and not tmp.exists()
    tmp = write_temp(path, b"ours")
    assert replace_if_holds(tmp, path, b"theirs") is True
    assert path.read_bytes() == b"ours" and not tmp.exists()


def test_a_transaction_keeps_a_save_made_between_its_last_look_and_a_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transaction's own window (a fixer's change over two files): labelme saves the
    second file after the commit's last look at it, at its rename. That save stays, the
    first file is put back, and nothing is half done."""
    root, a, b, txn = _two_file_txn(tmp_path)
    before_a = a.read_bytes()  # nothing is written before the commit
    saved = []
    from labeler.io import writes

    def at(what: str) -> None:
        if what == f"apply write {b.name}":
            doc = json.loads(b.read_text())
            doc["shapes"].append(rect("labelme", 3, 3, 6, 6))
            tmp = b.with_name("img1.json.labelme~")
            tmp.write_text(json.dumps(doc))
            os.replace(tmp, b)
            saved.append(b.read_bytes())

    monkeypatch.setattr(writes, "fault_point", at)
    with pytest.raises(ConcurrentChangeError):
        txn.commit()
    assert saved and b.read_bytes() == saved[0]  # labelme's save stays
    assert a.read_bytes() == before_a  # and the first file is put back
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]
