"""The window's own settings (Edit > Preferences…) and the mouse-wheel rule they choose, Qt-free.

:class:`Preferences` is a pydantic model, so the GUI builds its form with the same code as a
plugin's options (:mod:`labeler.gui.options_dialog`) and remembers it in ``QSettings``.
:func:`wheel_action` says what one turn of the wheel does under each setting, so the canvas
only applies the answer.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

WheelMode = Literal["zoom", "scroll"]


class Preferences(BaseModel):
    """Settings of the desktop labeler (remembered between sessions)."""

    wheel: WheelMode = Field(
        default="zoom",
        description="zoom: the wheel zooms at the cursor (Shift+wheel scrolls sideways, Alt+wheel "
        "up/down). scroll: as in labelme, the wheel scrolls up/down, Shift+wheel sideways and "
        "Ctrl+wheel zooms.",
    )


#: How much one wheel step (120 units of angle delta) zooms: 1.0015 ** 120, about 1.2x.
ZOOM_PER_UNIT = 1.0015


def wheel_action(mode: str, dx: int, dy: int, shift: bool = False, ctrl: bool = False,
                 alt: bool = False) -> tuple[str, float, float]:
    """What a wheel turn of angle delta (``dx``, ``dy``) does: ``("zoom", factor, 0)`` at the
    cursor, or ``("pan", dx, dy)`` in screen pixels (the image moves with the wheel).

    ``mode`` is :attr:`Preferences.wheel`: "zoom" (the default) zooms unless Shift or Alt is held;
    "scroll" (labelme) scrolls unless Ctrl is held.
    """
    # Qt on X11 turns Alt+wheel (and some mice's tilt) into a horizontal delta: use whichever
    # axis carries the turn.
    turn = dy if dy else dx
    zoom = ctrl if mode == "scroll" else not (shift or alt)
    if zoom:
        return ("zoom", ZOOM_PER_UNIT ** dy, 0.0)
    if shift:
        return ("pan", turn / 2, 0.0)
    if mode == "scroll" and dy == 0:  # a tilt wheel or a touchpad's sideways swipe
        return ("pan", dx / 2, 0.0)
    return ("pan", 0.0, turn / 2)
