"""Placing the label dialog beside the shape being labelled, inside the screen (no Qt)."""

from __future__ import annotations

import pytest

from labeler.editing.placement import GAP, place_beside

SCREEN = (0, 0, 1920, 1080)
SIZE = (320, 360)


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _inside(a: tuple[int, int, int, int], bounds: tuple[int, int, int, int]) -> bool:
    return bounds[0] <= a[0] and bounds[1] <= a[1] and a[0] + a[2] <= bounds[0] + bounds[2] \
        and a[1] + a[3] <= bounds[1] + bounds[3]


@pytest.mark.parametrize(("target", "side"), [
    ((800, 400, 100, 80), "right"),
    ((1700, 400, 150, 80), "left"),  # no room on the right
    ((10, 100, 1880, 200), "below"),  # as wide as the screen
    ((10, 600, 1880, 300), "above"),
    ((0, 500, 100, 100), "right"),  # at the left edge, low: still vertically inside
])
def test_the_dialog_stands_beside_the_shape(target: tuple[int, int, int, int], side: str) -> None:
    x, y = place_beside(target, SIZE, SCREEN)
    box = (x, y, *SIZE)
    assert not _overlaps(box, target) and _inside(box, SCREEN)
    tx, ty, tw, th = target
    where = {"right": x == tx + tw + GAP, "left": x + SIZE[0] == tx - GAP,
             "below": y == ty + th + GAP, "above": y + SIZE[1] == ty - GAP}
    assert where[side], (box, target)


def test_a_shape_filling_the_screen_is_covered_as_little_as_possible() -> None:
    target = (100, 0, 1700, 1080)  # room only for a sliver on each side
    x, y = place_beside(target, SIZE, SCREEN)
    assert _inside((x, y, *SIZE), SCREEN)
    assert x == 0 or x + SIZE[0] == 1920  # pushed to a side, not into the middle


def test_a_screen_that_does_not_start_at_zero() -> None:
    second = (1920, -200, 1280, 1024)  # a second monitor to the right, raised
    x, y = place_beside((2000, -150, 200, 100), SIZE, second)
    assert _inside((x, y, *SIZE), second) and not _overlaps((x, y, *SIZE), (2000, -150, 200, 100))
