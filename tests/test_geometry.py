"""labeler.geometry: areas, overlap, hit testing and per-type point rules on small real shapes."""

from __future__ import annotations

import math

import pytest

from labeler import geometry as g
from labeler.model import Shape


def shape(kind: str, *pts: tuple[float, float]) -> Shape:
    return Shape(label="x", shape_type=kind, points=list(pts))


def test_areas_and_orientation() -> None:
    sq = [(0, 0), (4, 0), (4, 3), (0, 3)]
    assert g.polygon_area(sq) == 12
    assert g.signed_area(sq) > 0 > g.signed_area(list(reversed(sq)))
    assert g.self_intersects([(0, 0), (4, 3), (4, 0), (0, 3)]) and not g.self_intersects(sq)
    assert g.order_around_center([(0, 0), (4, 3), (4, 0), (0, 3)]) == [(0, 0), (4, 0), (4, 3), (0, 3)]


def test_box_iou_and_overlap() -> None:
    assert g.box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert g.box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert g.box_iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0
    assert g.boxes_overlap((0, 0, 2, 2), (1, 1, 3, 3)) and not g.boxes_overlap((0, 0, 1, 1), (1, 0, 2, 1))


def test_polygon_iou_of_two_offset_squares() -> None:
    a = [(0, 0), (10, 0), (10, 10), (0, 10)]
    b = [(5, 0), (15, 0), (15, 10), (5, 10)]
    assert g.polygon_iou(a, b) == pytest.approx(1 / 3, abs=0.03)


def test_hit_testing() -> None:
    r = shape("rectangle", (0, 0), (10, 10))
    assert g.shape_distance(r, 5, 5) == 0 and g.shape_distance(r, 13, 5) == pytest.approx(3)
    c = shape("circle", (0, 0), (5, 0))
    assert g.shape_distance(c, 0, 7) == pytest.approx(2)
    line = shape("linestrip", (0, 0), (10, 0))
    assert g.shape_distance(line, 5, 2) == pytest.approx(2)  # open: inside does not count
    assert g.point_in_polygon([(0, 0), (4, 0), (4, 4), (0, 4)], 2, 2)
    assert not g.point_in_polygon([(0, 0), (4, 0), (4, 4), (0, 4)], 5, 2)
    assert g.nearest_vertex([(0, 0), (10, 0), (10, 10)], 9, 1) == (1, pytest.approx(math.sqrt(2)))
    assert g.nearest_vertex([], 0, 0) is None


def test_nearest_edge_of_a_polygon_includes_the_closing_edge() -> None:
    tri = shape("polygon", (0, 0), (10, 0), (0, 10))
    d, pos, q = g.nearest_edge(tri, -1, 5)  # type: ignore[misc]
    assert pos == 3 and q == pytest.approx((0, 5)) and d == pytest.approx(1)
    assert g.nearest_edge(shape("rectangle", (0, 0), (4, 4)), 2, 0) is None


def test_vertex_rules_per_shape_type() -> None:
    assert g.can_add_vertex(shape("polygon", (0, 0), (1, 0), (0, 1)))
    assert not g.can_remove_vertex(shape("polygon", (0, 0), (1, 0), (0, 1)))
    assert g.can_remove_vertex(shape("linestrip", (0, 0), (1, 0), (2, 0)))
    assert not g.can_add_vertex(shape("rectangle", (0, 0), (1, 1)))
    assert g.too_few_points("polygon", 2) and not g.too_few_points("polygon", 3)
    assert not g.too_few_points("cuboid", 0)  # unknown rules: no claim
    assert g.normalize_rectangle((5, 1), (2, 4)) == [(2, 1), (5, 4)]
    # dragging a circle's centre keeps its radius; its rim point moves alone
    assert g.drag_vertex("circle", [(0, 0), (5, 0)], 0, (1, 1)) == [(1, 1), (6, 1)]
    assert g.drag_vertex("circle", [(0, 0), (5, 0)], 1, (0, 7)) == [(0, 0), (0, 7)]


def test_quads() -> None:
    quad = [(0, 0), (40, 0), (40, 10), (0, 10)]
    assert g.quad_size(quad) == (40.0, 10.0)
    assert g.angle_of(quad) == 0.0
    shuffled = [quad[2], quad[0], quad[3], quad[1]]
    assert g.order_clockwise(shuffled).tolist() == [list(p) for p in quad]


def test_old_homes_still_import() -> None:
    from labeler.formats import polygon_area
    from labeler.masks import self_intersects, signed_area
    from labeler.predictions import box_iou

    assert (polygon_area, signed_area, self_intersects, box_iou) == (
        g.polygon_area, g.signed_area, g.self_intersects, g.box_iou)


def _by_hand(points: object) -> list[list[float]]:
    return [[round(float(x), 2), round(float(y), 2)] for x, y in points]  # type: ignore[attr-defined]


def test_rounded_points_equals_python_round_bit_for_bit() -> None:
    import struct

    import numpy as np

    from labeler.geometry import exactly_rounded, rounded_points

    rng = np.random.default_rng(7)
    cases: list[object] = [
        rng.integers(-5000, 5000, size=(300, 2)).astype(np.int32),  # traced mask vertices
        np.round(rng.uniform(-3000, 3000, size=(300, 2)), 2),  # already rounded: fast path
        rng.uniform(-3000, 3000, size=(300, 2)),  # needs rounding: slow path
        rng.uniform(0, 1, size=(300, 2)).astype(np.float32),
        np.array([[0.005, 1.005], [2.675, -0.125], [-0.0, 0.0], [1e13 + 0.01, 3.0]]),  # ties, big
        np.array([[np.nan, 1.0]]),
        np.array([[np.inf, 1.0]]),
        [(float(x), float(y)) for x, y in np.round(rng.uniform(-99, 99, size=(200, 2)), 2)],
        [(0.1 * i, 0.01 * i) for i in range(300)],
        [(1, 2.5), (3.0, 4.0)],  # an int among the floats
        [(np.float64(1.5), 2.0)],
        np.zeros((0, 2)),
    ]
    for k, points in enumerate(cases):
        want = _by_hand(points)
        got = rounded_points(points)
        assert len(got) == len(want), k
        for a, b in zip(got, want, strict=True):
            assert [type(v) for v in a] == [float, float], k
            # bit patterns, so that -0.0, NaN and the last bit all count
            assert [struct.pack("<d", v) for v in a] == [struct.pack("<d", v) for v in b], (k, a, b)
    # the fast path is taken where it can be, and refused where it must be
    assert exactly_rounded(cases[0]) is not None and exactly_rounded(cases[1]) is not None
    assert exactly_rounded(cases[7]) is not None
    assert exactly_rounded(cases[2]) is None and exactly_rounded(cases[5]) is None
    assert exactly_rounded([(1, 2.5), (3.0, 4.0)]) is None  # an int: round() keeps ints
    assert exactly_rounded([(1.0, 2.0, 3.0), (4.0,)]) is None  # not pairs
    assert exactly_rounded(np.array([[1e13 + 0.01, 3.0]])) is None  # too large to be sure


def test_shape_fingerprint_is_unchanged_by_the_fast_rounding() -> None:
    import hashlib

    import numpy as np

    from labeler.model import Shape

    def old(shape: Shape) -> str:  # the formula that stored fingerprints were made with
        key = [shape.label, shape.shape_type, [[round(x, 2), round(y, 2)] for x, y in shape.points]]
        return hashlib.sha1(repr(key).encode("utf-8", "surrogatepass")).hexdigest()[:12]

    rng = np.random.default_rng(3)
    for points in (rng.integers(0, 4000, size=(500, 2)).tolist(),
                   np.round(rng.uniform(0, 4000, size=(500, 2)), 2).tolist(),
                   rng.uniform(0, 4000, size=(500, 2)).tolist(),
                   [[-0.0, 0.0], [1.0, 2.0], [3.0, 0.5]]):
        shape = Shape(label="cat", points=points, shape_type="polygon")
        assert shape.fingerprint() == old(shape)
        shape.points.append((7, 8))  # an int pair put in after validation (as code may)
        assert shape.fingerprint() == old(shape)
