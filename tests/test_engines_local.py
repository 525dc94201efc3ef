"""The local engine and its bounded hand-over: pipelined runs write what unpipelined runs
write, the reader stays a bounded distance ahead, reading overlaps the model, and errors and
Ctrl+C stop the threads cleanly with everything handed over written. A plugin that splits its
predict() gets each step in its own thread, answers in order, and a failure in one step of one
image fails that image alone."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
from test_ray_engine import BrightestQuarter, FlatOrTiny, small_set, written

from labeler.dataset import open_dataset
from labeler.engines.local import LocalEngine
from labeler.engines.streams import InOrderBehind, read_ahead, write_behind
from labeler.pipeline import run_autolabel, run_check
from labeler.plugin_api import Autolabeler
from labeler.predictions import Predictions


def test_pipelined_and_unpipelined_runs_write_the_same_files(tmp_path) -> None:
    a, b = small_set(tmp_path / "a"), small_set(tmp_path / "b")
    (a / "broken.png").write_bytes(b"not a png")
    (b / "broken.png").write_bytes(b"not a png")
    one = run_autolabel(open_dataset(a), BrightestQuarter(), engine=LocalEngine(pipelined=False))
    two = run_autolabel(open_dataset(b), BrightestQuarter(), engine=LocalEngine(pipelined=True))
    assert one.processed == two.processed == 12
    assert [f.replace(str(a), "") for f in one.failed] == [f.replace(str(b), "") for f in two.failed]
    assert len(one.failed) == 1
    assert written(a) == written(b)
    c1, _ = run_check(open_dataset(a), FlatOrTiny(), engine=LocalEngine(pipelined=False))
    c2, _ = run_check(open_dataset(b), FlatOrTiny(), engine=LocalEngine(pipelined=True))
    assert c1.per_class == c2.per_class and sum(c1.per_class.values()) > 0
    assert written(a) == written(b)


def test_read_ahead_stays_within_its_depth() -> None:
    produced: list[int] = []

    def source():
        for i in range(50):
            produced.append(i)
            yield i

    got = []
    for value in read_ahead(source(), depth=4):
        time.sleep(0.005)
        # the item being consumed, up to 4 queued and one the reader holds waiting for room
        assert len(produced) - len(got) <= 4 + 2
        got.append(value)
    assert got == list(range(50))


def test_reading_overlaps_the_model() -> None:
    def slow_source():
        for i in range(6):
            time.sleep(0.1)  # reading and decoding
            yield i

    start = time.perf_counter()
    for _ in read_ahead(slow_source(), depth=2):
        time.sleep(0.1)  # the model
    overlapped = time.perf_counter() - start
    assert overlapped < 1.0  # in turn: 1.2 s; overlapped: about 0.7 s


def test_read_ahead_raises_the_readers_error_and_stops_when_left() -> None:
    def failing():
        yield 1
        raise ValueError("disk gone")

    with pytest.raises(ValueError, match="disk gone"):
        list(read_ahead(failing(), depth=2))
    started = threading.active_count()
    it = read_ahead(iter(range(1000)), depth=2)
    next(it)
    it.close()  # a consumer that stops early stops the reader thread
    time.sleep(0.3)
    assert threading.active_count() <= started


def test_write_behind_finishes_what_it_was_handed_on_ctrl_c() -> None:
    consumed: list[int] = []

    def stream():
        yield from range(10)
        raise KeyboardInterrupt

    def slow_consume(values: list[int]) -> None:
        time.sleep(0.01)
        consumed.extend(values)

    with pytest.raises(KeyboardInterrupt):
        write_behind(stream(), slow_consume, depth=4)
    assert consumed == list(range(10))  # all handed over before Ctrl+C were written


@pytest.mark.parametrize("depth", [0, 4])
def test_write_behind_stops_on_a_ctrl_c_that_the_stream_swallowed(depth: int) -> None:
    """A library that catches the KeyboardInterrupt of a real SIGINT (and goes on) does not
    keep the run going: the press is remembered and the next item stops it."""
    consumed: list[int] = []
    swallowed: list[int] = []

    def stream():
        for i in range(50):
            if i == 3:
                try:
                    signal.raise_signal(signal.SIGINT)
                    time.sleep(0.05)
                except KeyboardInterrupt:
                    swallowed.append(i)  # caught on its way up, not raised again
            yield i

    with pytest.raises(KeyboardInterrupt):
        write_behind(stream(), consumed.extend, depth=depth)
    assert swallowed == [3] and consumed == [0, 1, 2]  # 3 was produced after the press: not written
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back


def test_write_behind_stops_the_stream_when_a_write_fails() -> None:
    pulled: list[int] = []

    def stream():
        for i in range(1000):
            pulled.append(i)
            yield i

    def consume(values: list[int]) -> None:
        if 3 in values:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_behind(stream(), consume, depth=2)
    assert len(pulled) < 50


def test_labeler_threads_caps_every_model_s_threads(monkeypatch) -> None:
    from labeler.threads import ENV, cpu_threads

    monkeypatch.delenv(ENV, raising=False)
    everything = cpu_threads()
    assert everything == len(os.sched_getaffinity(0))
    assert cpu_threads(3) == 3  # an explicit option wins
    monkeypatch.setenv(ENV, "1")
    assert cpu_threads() == 1 and cpu_threads(2) == 2
    monkeypatch.setenv(ENV, "lots")  # nonsense is ignored, not fatal
    assert cpu_threads() == everything


# -- plugins that split predict(): prepare in the reader, infer here, finish behind ---------------
class QuarterSteps(Autolabeler):
    """BrightestQuarter's answer in three steps (prepare: the grey pixels; infer: the quarters'
    means, "the model"; finish: the box). Records each step's thread; fails on purpose for
    images named *prepboom* (prepare), *finboom* (finish) and *finhang* (finish never returns);
    finish takes longer for even-numbered images, so answers finish out of step with the model."""

    name = "quarter_steps"
    batch_size = 3

    def __init__(self, options=None) -> None:
        super().__init__(options)
        self.threads: dict[str, set[str]] = {"prepare": set(), "infer": set(), "finish": set()}

    def _note(self, step: str) -> None:
        self.threads[step].add(threading.current_thread().name)

    def prepare(self, sample):
        self._note("prepare")
        if "prepboom" in sample.item.rel:
            raise ValueError("cannot read these pixels")
        return np.asarray(sample.image.convert("L"), dtype=float)

    def infer(self, batch):
        self._note("infer")
        out = []
        for s in batch:
            a = s.prepared
            h, w = a.shape
            means = {(qx, qy): a[qy * h // 2:(qy + 1) * h // 2, qx * w // 2:(qx + 1) * w // 2].mean()
                     for qx in (0, 1) for qy in (0, 1)}
            out.append((max(means, key=means.get), max(means.values()), (w, h)))
        return out

    def finish(self, sample, raw):
        self._note("finish")
        rel = sample.item.rel
        if "finboom" in rel:
            raise RuntimeError("post-processing broke")
        while "finhang" in rel:
            time.sleep(0.01)  # a finish that never returns: the timeout must end it
        time.sleep(0.03 if int(rel[4:6]) % 2 == 0 else 0.0)
        (qx, qy), mean, (w, h) = raw
        x1, y1 = qx * (w // 2), qy * (h // 2)
        return Predictions(xyxy=[[x1, y1, x1 + w // 2, y1 + h // 2]], class_name=["bright"],
                           confidence=[mean / 255])


def test_a_split_plugin_runs_its_steps_in_three_threads_and_writes_what_predict_writes(tmp_path) -> None:
    a, b, c = (small_set(tmp_path / n) for n in "abc")
    steps = QuarterSteps()
    order: list[str] = []
    piped = run_autolabel(open_dataset(a), steps, engine=LocalEngine(pipelined=True),
                          on_result=lambda item, ann: order.append(item.rel))
    inline = run_autolabel(open_dataset(b), QuarterSteps(), engine=LocalEngine(pipelined=False))
    whole = run_autolabel(open_dataset(c), BrightestQuarter(), engine=LocalEngine(pipelined=True))
    assert piped.processed == inline.processed == whole.processed == 12
    assert written(a) == written(b)
    def boxes(folder):  # the suggestions (the plugin's name and config key differ)
        return {f: [(s["label"], s["points"], (s.get("labeler") or {}).get("score"))
                    for s in doc["shapes"]]
                for f, doc in written(folder).items()}

    assert boxes(a) == boxes(c)  # the one-step plugin's boxes
    assert order == sorted(order)  # answers in the dataset's order, though finishes took turns
    main = threading.main_thread().name
    assert steps.threads["infer"] == {main}
    assert steps.threads["prepare"] == {"labeler-read-ahead"}
    assert len(steps.threads["finish"]) == 1 and main not in steps.threads["finish"]


def test_failures_in_prepare_and_finish_fail_their_image_alone(tmp_path) -> None:
    runs = []
    for pipelined in (True, False):
        root = small_set(tmp_path / f"p{pipelined}", n=9)
        for i, kind in ((2, "prepboom"), (4, "finboom"), (7, "finhang")):
            (root / f"img_{i:02d}.png").rename(root / f"img_{i:02d}_{kind}.png")
            if (root / f"img_{i:02d}.json").exists():
                (root / f"img_{i:02d}.json").unlink()
        summary = run_autolabel(open_dataset(root), QuarterSteps(),
                                engine=LocalEngine(pipelined=pipelined), timeout=0.5)
        runs.append(summary)
        assert summary.processed == 6
        failed = sorted(summary.failed)
        assert len(failed) == 3
        assert "img_02_prepboom.png: quarter_steps failed preparing the image: ValueError: cannot read" in failed[0]
        assert "img_04_finboom.png: quarter_steps failed finishing its predictions: RuntimeError" in failed[1]
        assert "img_07_finhang.png: quarter_steps failed finishing its predictions: PluginTimeout" in failed[2]
        assert all(str(root) in f for f in failed)  # each names its file
        assert len(list(root.glob("*.json"))) == 6  # the others written
    assert ([f.replace(str(tmp_path / "pTrue"), "") for f in runs[0].failed]
            == [f.replace(str(tmp_path / "pFalse"), "") for f in runs[1].failed])


def test_a_plugin_without_the_split_runs_as_before(tmp_path) -> None:
    seen: list[tuple[str, object]] = []
    alongside: set[str] = set()

    class Watched(BrightestQuarter):
        def predict(self, batch):
            seen.extend((threading.current_thread().name, s.prepared) for s in batch)
            alongside.update(t.name for t in threading.enumerate())
            return super().predict(batch)

    plugin = Watched()
    assert not plugin.stages_apart()
    summary = run_autolabel(open_dataset(small_set(tmp_path)), plugin, engine=LocalEngine())
    assert summary.processed == 12 and len(seen) == 12
    assert {name for name, _ in seen} == {threading.main_thread().name}  # predict, whole, here
    assert {prepared for _, prepared in seen} == {None}
    assert "labeler-read-ahead" in alongside
    assert not any(name.startswith("labeler-finish") for name in alongside)  # no finisher


def test_a_subclass_that_changes_predict_of_a_split_plugin_gets_its_predict(tmp_path) -> None:
    class Relabelled(QuarterSteps):
        def predict(self, batch):
            out = super().predict(batch)  # the three steps in turn
            for preds in out:
                preds.class_name[:] = "renamed"
            return out

    plugin = Relabelled()
    assert QuarterSteps().stages_apart() and not plugin.stages_apart()
    from labeler.plugins import get_registry

    chain = get_registry().get("autolabelers", "yolo_sam")

    class WholeChain(chain):
        def predict(self, batch):
            return super().predict(batch)

    assert chain().stages_apart() and not WholeChain().stages_apart()
    root = small_set(tmp_path)
    summary = run_autolabel(open_dataset(root), plugin, engine=LocalEngine())
    assert summary.processed == 12 and summary.per_class == {"renamed": 12}
    assert plugin.threads["prepare"] == plugin.threads["finish"] == {threading.main_thread().name}


def test_ctrl_c_during_the_model_finishes_and_writes_what_it_answered(tmp_path) -> None:
    class Interrupted(QuarterSteps):
        calls = 0

        def infer(self, batch):
            Interrupted.calls += 1
            if Interrupted.calls == 3:
                raise KeyboardInterrupt
            return super().infer(batch)

    root = small_set(tmp_path)
    summary = run_autolabel(open_dataset(root), Interrupted(), engine=LocalEngine())
    assert summary.interrupted
    assert summary.processed == 6  # the two batches the model answered, finished and written
    done = [p.stem for p in root.glob("*.json")
            if "quarter_steps" in p.read_text()]
    assert sorted(done) == [f"img_{i:02d}" for i in range(6)]


def test_in_order_behind_keeps_the_order_and_its_depth() -> None:
    running = threading.Semaphore(0)
    answers: list[tuple[int, int]] = []
    with InOrderBehind[int, int](depth=2) as behind:
        for i in range(8):
            def work(i: int = i) -> int:
                time.sleep(0.02 if i % 3 == 0 else 0.0)
                running.release()
                return i * i

            answers += behind.put(i, work)
            assert len(behind._pending) <= 2
            answers += behind.put(100 + i, value=-i)  # already answered: keeps its place
        answers += behind.rest()
    expected = [pair for i in range(8) for pair in ((i, i * i), (100 + i, -i))]
    assert answers == expected

    def broken() -> int:
        raise OSError("gone")

    with InOrderBehind[int, int](depth=4) as behind, pytest.raises(OSError, match="gone"):
        behind.put(1, broken)
        list(behind.rest())


def test_yolo_sam_pipelined_writes_what_unpipelined_and_predict_give(tmp_path) -> None:
    import shutil

    from labeler.engines.work import Job, load_sample
    from labeler.plugins import get_registry
    from labeler.predictions import Predictions as Preds
    from tests.conftest import SAMPLE

    cls = get_registry().get("autolabelers", "yolo_sam")
    opts = {"yolo": {"model": str(SAMPLE / "models" / "scenes_yolo.pt")},
            "sam": {"checkpoint": str(SAMPLE / "models" / "scenes_sam_tiny.pth")}}
    for name in ("a", "b"):
        shutil.copytree(SAMPLE / "scenes", tmp_path / name)
    plugin = cls(opts)
    assert plugin.stages_apart() and plugin.stage1.stages_apart() and plugin.stage2.stages_apart()
    one = run_autolabel(open_dataset(tmp_path / "a"), plugin, engine=LocalEngine(pipelined=True))
    two = run_autolabel(open_dataset(tmp_path / "b"), cls(opts), engine=LocalEngine(pipelined=False))
    assert one.failed == two.failed == [] and one.processed == two.processed == 24
    assert one.per_class == two.per_class and sum(one.per_class.values()) > 20
    assert written(tmp_path / "a") == written(tmp_path / "b")
    # predict() (prepare, infer and finish in turn) gives the same predictions, batch by batch
    ds = open_dataset(SAMPLE / "scenes")
    samples = [load_sample(ds, Job(item)) for item in ds.items[:8]]
    whole = plugin.predict(samples)
    steps = plugin.infer([replace(s, prepared=plugin.prepare(s)) for s in samples])
    for s, p, raw in zip(samples, whole, steps, strict=True):
        q = plugin.finish(s, raw)
        assert isinstance(p, Preds) and np.array_equal(p.xyxy, q.xyxy)
        assert all(np.array_equal(x, y) for x, y in zip(p.polygons or [], q.polygons or [], strict=True))


def test_a_run_keeps_the_collector_off_the_loaded_model_and_gives_it_back(tmp_path) -> None:
    import gc

    seen: list[int] = []

    class Counting(BrightestQuarter):
        def setup(self) -> None:
            self.model = [[i] for i in range(50_000)]  # a model's many long-lived objects

        def predict(self, batch):
            seen.append(gc.get_freeze_count())
            return super().predict(batch)

    before = gc.get_freeze_count()
    for pipelined in (False, True):
        summary = run_autolabel(open_dataset(small_set(tmp_path / str(pipelined))), Counting(),
                                engine=LocalEngine(pipelined=pipelined))
        assert summary.processed == 12 and not summary.failed
    assert seen and min(seen) >= before + 50_000  # the model's objects frozen while it ran
    assert gc.get_freeze_count() == before  # and unfrozen after


def test_keep_freed_memory_tunes_glibc_once_and_honours_the_environment(tmp_path) -> None:
    import subprocess
    import sys

    # a 24 MB block (a decoder chunk's size) freed and allocated again: fresh pages from the
    # kernel by default, reused when kept (malloc itself, as torch's CPU allocator calls it)
    code = ("import ctypes, resource\n"
            "from labeler.threads import keep_freed_memory as k\n"
            "a, b = k(), k()\n"
            "libc = ctypes.CDLL('libc.so.6'); libc.malloc.restype = ctypes.c_void_p\n"
            "libc.free.argtypes = [ctypes.c_void_p]; n = 24 << 20\n"
            "p = libc.malloc(n); ctypes.memset(p, 1, n); libc.free(p)\n"
            "f = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "p = libc.malloc(n); ctypes.memset(p, 1, n)\n"
            "print(a, b, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "LABELER_MALLOC"))}
    on = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    applied, again, faults = on.stdout.split()
    assert (applied, again) == ("True", "True")  # this machine's Linux runs glibc
    assert int(faults) < 500  # the 6,144 pages of the block came back without faulting
    for extra in ({"LABELER_MALLOC_DEFAULTS": "1"}, {"MALLOC_TRIM_THRESHOLD_": "1000"}):
        off = subprocess.run([sys.executable, "-c", code], env={**env, **extra},
                             capture_output=True, text=True, check=True)
        applied, again, faults = off.stdout.split()
        assert (applied, again) == ("False", "False"), extra
        assert int(faults) > 5_000, extra  # handed back and faulted in again
