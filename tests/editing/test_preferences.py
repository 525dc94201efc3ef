"""The window's preferences and the mouse-wheel rule they choose (no Qt)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from labeler.editing.preferences import ZOOM_PER_UNIT, Preferences, wheel_action


def test_the_default_wheel_zooms_and_shift_or_alt_scroll() -> None:
    assert Preferences().wheel == "zoom"
    what, factor, _ = wheel_action("zoom", 0, 120)
    assert what == "zoom" and factor == pytest.approx(ZOOM_PER_UNIT ** 120) and factor > 1.19
    assert wheel_action("zoom", 0, -120)[1] < 1
    assert wheel_action("zoom", 0, 120, ctrl=True)[0] == "zoom"
    assert wheel_action("zoom", 0, 120, shift=True) == ("pan", 60, 0)
    assert wheel_action("zoom", 0, -120, alt=True) == ("pan", 0, -60)
    assert wheel_action("zoom", -120, 0, alt=True) == ("pan", 0, -60)  # X11 turns Alt+wheel sideways


def test_labelme_scroll_mode_scrolls_and_ctrl_wheel_zooms() -> None:
    assert Preferences(wheel="scroll").wheel == "scroll"
    assert wheel_action("scroll", 0, -120) == ("pan", 0, -60)  # wheel down: the image moves up
    assert wheel_action("scroll", 0, 120, shift=True) == ("pan", 60, 0)
    assert wheel_action("scroll", 120, 0) == ("pan", 60, 0)  # a tilt wheel scrolls sideways
    what, factor, _ = wheel_action("scroll", 0, 120, ctrl=True)
    assert what == "zoom" and factor > 1


def test_an_unknown_wheel_mode_is_refused() -> None:
    with pytest.raises(ValidationError, match="wheel"):
        Preferences(wheel="spin")  # type: ignore[arg-type]
