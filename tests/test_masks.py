"""Mask geometry (labeler/masks.py): polygons and boxes of bool masks."""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from labeler.masks import mask_bbox, mask_to_polygons, mask_to_shape_fields  # noqa: E402


def _blobs(seed: int, shape: tuple[int, int] = (90, 120)) -> np.ndarray:
    """Noisy blobs of several components, some touching the image border (as random-weight SAM
    masks are)."""
    rng = np.random.default_rng(seed)
    small = rng.random((shape[0] // 6, shape[1] // 6)) > 0.6
    mask = np.kron(small, np.ones((6, 6), dtype=bool))
    return mask & (rng.random(shape) > 0.1)


def _whole_image_polygons(mask: np.ndarray, tolerance: float, min_area: float) -> list[np.ndarray]:
    """The previous algorithm: contours of the whole image, every one simplified."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    polys = []
    for c in contours:
        area = float(cv2.contourArea(c))
        if area < min_area:
            continue
        poly = cv2.approxPolyDP(c, tolerance, True).reshape(-1, 2).astype(np.float32)
        if len(poly) >= 3:
            polys.append((area, poly))
    polys.sort(key=lambda t: -t[0])
    return [p for _, p in polys]


@pytest.mark.parametrize("seed", range(8))
def test_polygons_in_the_bounding_box_are_the_whole_image_ones(seed: int) -> None:
    mask = _blobs(seed)
    if seed == 0:
        mask[:] = False
        mask[30:50, 40:70] = True  # one rectangle away from the border
    if seed == 1:
        mask[:, :] = False
        mask[0:20, 100:120] = True  # in a corner: touches two borders
    for tolerance, min_area in ((1.0, 0.0), (2.5, 10.0), (0.5, 4.0)):
        want = _whole_image_polygons(mask, tolerance, min_area)
        got = mask_to_polygons(mask, tolerance=tolerance, min_area=min_area)
        assert len(got) == len(want) and len(want) >= 1
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
        first = mask_to_polygons(mask, tolerance=tolerance, min_area=min_area, limit=1)
        assert len(first) == 1
        np.testing.assert_array_equal(first[0], want[0])


def test_polygons_of_an_empty_mask() -> None:
    assert mask_to_polygons(np.zeros((10, 12), dtype=bool)) == []
    assert mask_to_polygons(np.zeros((10, 12), dtype=bool), limit=1) == []


@pytest.mark.parametrize("seed", range(6))
def test_mask_bbox_is_the_box_of_the_set_pixels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mask = np.zeros((40, 50), dtype=bool)
    n = int(rng.integers(1, 6))
    mask[rng.integers(0, 40, n), rng.integers(0, 50, n)] = True
    if seed == 0:
        mask[0, 0] = mask[39, 49] = True  # the corners
    ys, xs = np.nonzero(mask)
    assert mask_bbox(mask) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    points, b64 = mask_to_shape_fields(mask)
    assert points == [(float(xs.min()), float(ys.min())), (float(xs.max()), float(ys.max()))] and b64
    assert mask_bbox(np.zeros((3, 4), dtype=bool)) is None
    assert mask_to_shape_fields(np.zeros((3, 4), dtype=bool)) == ([], None)


def test_mask_to_polygons_with_the_box_given_traces_the_same_polygons() -> None:
    from labeler.masks import mask_bbox, mask_to_polygons

    mask = np.zeros((120, 160), bool)
    mask[10:60, 20:90] = True
    mask[80:110, 100:150] = True
    box = mask_bbox(mask)
    assert box == (20, 10, 150, 110)
    got = mask_to_polygons(mask, box=box)
    want = mask_to_polygons(mask)
    assert len(got) == len(want) == 2
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))


@pytest.mark.parametrize("seed", range(4))
def test_the_largest_polygons_of_a_speckled_mask_are_the_brute_force_ones(seed: int) -> None:
    """A random-weight SAM mask is speckle: thousands of contours. The largest ones are found
    without measuring every contour (labeler.masks._by_area), with the same result (equal
    areas in OpenCV's order)."""
    rng = np.random.default_rng(seed)
    mask = rng.random((200, 260)) > 0.85
    mask[40:90, 50:120] |= seed % 2 == 0  # an object in the speckle, or none
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    assert len(contours) > 1000
    for tolerance, min_area in ((1.0, 4.0), (1.0, 0.0), (0.0, 2.0)):
        want = _whole_image_polygons(mask, tolerance, min_area) if tolerance else None
        for limit in (1, 3, None):
            got = mask_to_polygons(mask, tolerance=tolerance, min_area=min_area, limit=limit)
            if want is None:  # no simplification: compare the areas, largest first
                areas = sorted((float(cv2.contourArea(c)) for c in contours
                                if cv2.contourArea(c) >= min_area and len(c) >= 3), reverse=True)
                assert [float(cv2.contourArea(p)) for p in got] == areas[:limit]
                continue
            assert len(got) == len(want[:limit])
            for a, b in zip(got, want[:limit], strict=True):
                np.testing.assert_array_equal(a, b)
