"""Fitting an image into the canvas, and the size of its pre-scaled frame (Qt-free)."""

from __future__ import annotations

import pytest

from labeler.editing.display import FIT_MARGIN, Viewport, fit_transform


def test_fit_window_centres_the_whole_image() -> None:
    s, x, y = fit_transform(4000, 3000, 900, 900)
    assert s == pytest.approx(900 / 4000 * FIT_MARGIN)
    assert x == pytest.approx((900 - 4000 * s) / 2) and y == pytest.approx((900 - 3000 * s) / 2)
    s, x, y = fit_transform(1000, 4000, 900, 900)  # tall: the height decides
    assert s == pytest.approx(900 / 4000 * FIT_MARGIN) and 4000 * s < 900 and x > 0


def test_fit_width_fills_the_width_from_the_top() -> None:
    s, x, y = fit_transform(1000, 4000, 900, 600, "width")
    assert s == pytest.approx(900 / 1000 * FIT_MARGIN)
    assert x == pytest.approx((900 - 1000 * s) / 2) and y == 4.0


def test_an_empty_view_or_image_does_not_divide_by_zero() -> None:
    s, _x, _y = fit_transform(0, 0, 0, 0)
    assert s == pytest.approx(FIT_MARGIN)


def test_frame_size_is_the_fitted_image_in_device_pixels() -> None:
    vp = Viewport(898, 924)
    s = fit_transform(4000, 3000, 898, 924)[0]
    assert vp.frame_size(4000, 3000) == (round(4000 * s), round(3000 * s)) == (880, 660)
    assert Viewport(898, 924, dpr=2.0).frame_size(4000, 3000) == (1760, 1320)  # a HiDPI screen
    assert Viewport(898, 924, fit="width").frame_size(1000, 4000) == (880, 3520)  # taller than the view


def test_no_frame_when_it_would_not_be_smaller_than_the_decode() -> None:
    vp = Viewport(898, 924)
    assert vp.frame_size(4000, 3000, decoded_w=2000) == (880, 660)  # the half-size decode of a photo
    assert vp.frame_size(120, 90, decoded_w=120) is None  # a small image is shown enlarged
    assert vp.frame_size(4000, 3000, decoded_w=880) is None  # the decode is the frame's size already
    assert vp.frame_size(0, 10) is None


def test_viewports_compare_by_value() -> None:
    """The loader keeps a frame with the viewport it was made for; an equal one reuses it."""
    assert Viewport(800, 600, 1.0, "window") == Viewport(800, 600)
    assert Viewport(800, 600) != Viewport(800, 601) != Viewport(800, 601, fit="width")
