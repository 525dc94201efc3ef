"""How the open image is fitted into the canvas, and the size of its pre-scaled frame (Qt-free).

The canvas fits an image into its view with a small margin: all of it ("window") or its width
("width"). The screen-size decode of a large photo is still bigger than the part of the screen
it covers (a 12-megapixel JPEG decoded at half size, 2000x1500, shown at 880x660 beside the
docks), and scaling it down again at every paint is most of a paint's cost. So the image loader
also makes a *frame*: the decode already scaled, in its thread, to the device pixels the fitted
image covers (:meth:`Viewport.frame_size`); the paint after "next" then copies it 1:1. A frame is
only a cache: the canvas draws it when its size is the one the view needs now, and otherwise
(zoomed, panned, resized before a new frame came) the decode as before.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The share of the view a fitted image takes (a thin border stays visible around it).
FIT_MARGIN = 0.98


def fit_transform(image_w: float, image_h: float, view_w: float, view_h: float,
                  how: str = "window") -> tuple[float, float, float]:
    """``(scale, x, y)`` that fit an ``image_w`` x ``image_h`` image into a ``view_w`` x
    ``view_h`` view: the whole image centred ("window"), or its width, from the top ("width")."""
    w, h = max(image_w, 1), max(image_h, 1)
    vw, vh = max(view_w, 1), max(view_h, 1)
    s = vw / w * FIT_MARGIN if how == "width" else min(vw / w, vh / h) * FIT_MARGIN
    return s, (vw - w * s) / 2, (vh - h * s) / 2 if how == "window" else 4.0


@dataclass(frozen=True)
class Viewport:
    """A canvas fitting its images: size in widget pixels, device pixel ratio, how it fits."""

    width: int
    height: int
    dpr: float = 1.0
    fit: str = "window"

    def frame_size(self, image_w: int, image_h: int, decoded_w: int | None = None) -> tuple[int, int] | None:
        """The device pixels an ``image_w`` x ``image_h`` image covers once fitted; None when a
        frame of that size would not be smaller than the decode (``decoded_w`` pixels wide):
        drawing the decode itself costs no more then."""
        if image_w < 1 or image_h < 1:
            return None
        s = fit_transform(image_w, image_h, self.width, self.height, self.fit)[0] * self.dpr
        size = (max(1, round(image_w * s)), max(1, round(image_h * s)))
        return None if decoded_w is not None and size[0] >= decoded_w else size
