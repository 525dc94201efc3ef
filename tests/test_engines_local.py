"""The local engine and its bounded hand-over: pipelined runs write what unpipelined runs
write, the reader stays a bounded distance ahead, reading overlaps the model, and errors and
Ctrl+C stop the threads cleanly with everything handed over written."""

from __future__ import annotations

import os
import threading
import time

import pytest
from test_ray_engine import BrightestQuarter, FlatOrTiny, small_set, written

from labeler.dataset import open_dataset
from labeler.engines.local import LocalEngine
from labeler.engines.streams import read_ahead, write_behind
from labeler.pipeline import run_autolabel, run_check


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
