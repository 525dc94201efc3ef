"""The plan of Segment Anything embeddings to compute ahead (Qt-free): order, bounds, jumps."""

from __future__ import annotations

import pytest

from labeler.editing.prefetch import EmbeddingQueue


def run_all(q: EmbeddingQueue, upcoming: bool = True) -> list[str]:
    """Compute every job the queue hands out, in its order (the embedding is the key's upper case)."""
    done = []
    while (key := q.next_job(upcoming)) is not None:
        q.start(key)
        q.finish(key, key.upper())
        done.append(key)
    return done


def test_current_first_then_the_upcoming_in_visit_order() -> None:
    q = EmbeddingQueue(capacity=4)
    q.plan("b", ["c", "a", "f"])
    assert q.current == "b" and q.planned == ["b", "c", "a", "f"]
    assert q.next_job(upcoming=False) == "b"
    assert run_all(q, upcoming=False) == ["b"]  # before the look delay: only the current one
    assert run_all(q) == ["c", "a", "f"]
    assert q.get("a") == "A" and q.next_job() is None


def test_plan_is_bounded_by_capacity_and_deduplicated() -> None:
    q = EmbeddingQueue(capacity=2)
    q.plan("a", ["b", "a", "c", "d"])
    assert q.planned == ["a", "b"]
    assert run_all(q) == ["a", "b"]
    with pytest.raises(ValueError):
        EmbeddingQueue(capacity=0)


def test_memory_stays_bounded_while_paging_and_spares_the_planned() -> None:
    q = EmbeddingQueue(capacity=3)
    names = [f"img{i}" for i in range(20)]
    for i, name in enumerate(names):
        q.plan(name, names[i + 1 : i + 3])
        run_all(q)
        assert len(q) <= 3
        assert all(k in q for k in q.planned)  # what is wanted is what is kept
    assert q.keys()[-1] == "img19"  # the current image is the most recently used
    assert "img0" not in q


def test_a_jump_cancels_queued_jobs_and_reprioritises() -> None:
    q = EmbeddingQueue(capacity=3)
    q.plan("a", ["b", "c"])
    q.start(q.next_job())  # "a" is running
    assert q.next_job() is None  # one job at a time
    cancelled = q.plan("x", ["y"])  # the person jumped far away
    assert cancelled == ["b", "c"]  # never started, no longer wanted
    q.finish("a", "A")  # the running one cannot be stopped: its result is kept while there is room
    assert "a" in q
    assert run_all(q) == ["x", "y"]
    assert len(q) == 3
    q.plan("z", [])
    run_all(q)
    assert len(q) == 3 and "a" not in q  # the unplanned, least recently used goes first


def test_coming_back_needs_no_new_job_and_touches_the_lru() -> None:
    q = EmbeddingQueue(capacity=2)
    q.plan("a", ["b"])
    run_all(q)
    q.plan("b", ["a"])
    assert q.next_job() is None  # both already computed
    q.plan("c", [])
    run_all(q)
    assert set(q.keys()) == {"b", "c"}  # "a" was used least recently


def test_a_failed_image_is_not_retried_while_planned() -> None:
    q = EmbeddingQueue(capacity=3)
    q.plan("bad", ["ok"])
    q.start("bad")
    q.fail("bad", "cannot read bad.jpg")
    assert q.failed == {"bad": "cannot read bad.jpg"}
    assert run_all(q) == ["ok"]
    q.plan("other", [])
    assert q.failed == {}  # forgotten once no longer wanted: a later visit tries again
    q.plan("bad", [])
    assert q.next_job() == "bad"


def test_start_while_running_is_refused_and_clear_forgets_all() -> None:
    q = EmbeddingQueue(capacity=2)
    q.plan("a", ["b"])
    q.start("a")
    with pytest.raises(RuntimeError, match="already running"):
        q.start("b")
    q.finish("a", "A")
    q.clear()
    assert len(q) == 0 and q.planned == [] and q.current is None
    assert q.pending() == []


# -- ModelThread: one thread for a model's work, clicks first ---------------------------------
def test_model_thread_runs_urgent_jobs_before_queued_ones_all_on_one_thread() -> None:
    import threading

    from labeler.editing.prefetch import ModelThread

    t = ModelThread("test")
    gate, running, order, threads = threading.Event(), threading.Event(), [], set()

    def job(name: str, wait: bool = False):  # noqa: ANN202
        def run() -> str:
            if wait:
                running.set()
                gate.wait(5)
            order.append(name)
            threads.add(threading.current_thread().name)
            return name
        return run

    first = t.submit(job("encode a", wait=True))  # holds the thread until the gate opens
    assert running.wait(5) and t.busy
    queued = [t.submit(job("encode b")), t.submit(job("encode c"))]
    click = t.submit(job("click"), urgent=True)
    gate.set()
    assert click.result(5) == "click" and [f.result(5) for f in queued] == ["encode b", "encode c"]
    assert first.result(5) == "encode a"
    assert order == ["encode a", "click", "encode b", "encode c"]  # the running one is not interrupted
    assert threads == {"test"} and not t.busy
    t.close(5)


def test_model_thread_answers_a_click_at_the_running_jobs_pause_point() -> None:
    import threading

    from labeler.editing.prefetch import ModelThread

    t = ModelThread("test")
    started, clicked, steps = threading.Event(), threading.Event(), []

    def encode() -> list[str]:
        for i in range(4):
            steps.append(f"layer {i}")
            if i == 1:
                started.set()
                clicked.wait(5)  # the click is queued meanwhile
            t.pause_point()  # between two layers
        return steps

    enc = t.submit(encode)
    assert started.wait(5) and t.busy
    click = t.submit(lambda: (steps.append("click"), threading.current_thread().name)[1], urgent=True)
    clicked.set()
    assert click.result(5) == "test"  # on the model thread, inside the encoding
    assert enc.result(5) == ["layer 0", "layer 1", "click", "layer 2", "layer 3"]
    t.pause_point()  # elsewhere than on the thread: nothing happens
    t.close(5)


def test_model_thread_wait_for_answers_clicks_and_errors_go_to_the_future() -> None:
    import threading
    from concurrent.futures import Future

    import pytest

    from labeler.editing.prefetch import ModelThread

    t = ModelThread("test")
    other: Future[str] = Future()
    order: list[str] = []

    def encode() -> str:
        image = t.wait_for(other)  # an image decoded on another thread
        order.append("encode " + image)
        return image

    enc = t.submit(encode)
    click = t.submit(lambda: order.append("click"), urgent=True)
    click.result(5)  # answered while the encoding waits for its image
    threading.Timer(0.05, lambda: other.set_result("img")).start()
    assert enc.result(5) == "img" and order == ["click", "encode img"]

    def broken() -> None:
        raise ValueError("bad image")

    with pytest.raises(ValueError, match="bad image"):
        t.submit(broken).result(5)
    assert t.submit(lambda: 3).result(5) == 3  # the thread lives on
    t.close(5)
    assert t._thread is not None and not t._thread.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        t.submit(lambda: 1)


def test_model_thread_hold_pauses_the_encoding_ahead_but_answers_clicks_at_once() -> None:
    import threading
    import time

    from labeler.editing.prefetch import ModelThread

    t = ModelThread("test")
    steps: list[float] = []
    started = threading.Event()

    def encode() -> int:
        for _ in range(40):  # 40 layers of 5 ms, a pause point between each two
            steps.append(time.monotonic())
            started.set()
            time.sleep(0.005)
            t.pause_point()
        return len(steps)

    enc = t.submit(encode)
    assert started.wait(5)
    t0 = time.monotonic()
    t.hold(0.4)  # the person opened the next image
    assert t.held
    click = t.submit(lambda: (time.monotonic(), threading.current_thread().name), urgent=True)
    at, name = click.result(5)
    assert name == "test" and at - t0 < 0.2  # a click is answered at once, during the hold
    queued = t.submit(lambda: time.monotonic())  # a normal job queued meanwhile waits too
    assert enc.result(5) == 40
    gaps = [b - a for a, b in zip(steps, steps[1:], strict=False)]
    # One stretch without progress: the hold (the encoding waited at a pause point) ...
    assert max(gaps) >= 0.3 and sum(g >= 0.3 for g in gaps) == 1
    held_from = steps[gaps.index(max(gaps))]
    assert held_from - t0 < 0.05  # ... from the first pause point after hold()
    assert queued.result(5) - t0 >= 0.39
    # release() ends a hold at once; hold() never shortens one.
    t.hold(10)
    t.hold(0.01)
    assert t.held
    t.release()
    assert not t.held and t.submit(lambda: 1).result(1) == 1
    t.close(5)
