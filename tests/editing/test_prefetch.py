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
