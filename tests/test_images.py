"""Opening images safely: EXIF like labelme, truncation, non-images, bombs."""

from __future__ import annotations

import pytest
from PIL import Image

from labeler.errors import ImageFileError
from labeler.io import images
from labeler.io.images import open_image, read_image_info
from tests.conftest import make_image


def test_exif_orientation_is_applied_like_labelme(tmp_path) -> None:
    p = tmp_path / "rot.jpg"
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 10, 20))  # blue strip on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    img.save(p, exif=exif.tobytes())
    info = read_image_info(p)
    assert info.orientation == 6
    assert info.size == (20, 40)
    shown = open_image(p)
    assert shown.size == (20, 40)
    r, g, b = shown.getpixel((10, 2))  # the blue strip is now at the top
    assert b > 200 and r < 80


def test_truncated_image_is_an_error(tmp_path) -> None:
    p = make_image(tmp_path / "t.jpg", (200, 200))
    p.write_bytes(p.read_bytes()[: 400])
    with pytest.raises(ImageFileError) as exc:
        open_image(p)
    assert str(p) in str(exc.value)


@pytest.mark.parametrize(("content", "message"), [(b"", "empty file"), (b"hello, not a png", "not an image")])
def test_not_an_image(tmp_path, content, message) -> None:
    p = tmp_path / "x.png"
    p.write_bytes(content)
    with pytest.raises(ImageFileError, match=message):
        read_image_info(p)


def test_decompression_bomb_is_refused_from_the_header(tmp_path, monkeypatch) -> None:
    p = make_image(tmp_path / "big.png", (100, 100))
    with pytest.raises(ImageFileError, match="decompression bomb"):
        read_image_info(p, max_pixels=5000)
    monkeypatch.setattr(images, "MAX_PIXELS", 5000)
    with pytest.raises(ImageFileError, match="decompression bomb"):
        open_image(p, max_pixels=5000)


def test_draft_decoding_for_previews(tmp_path) -> None:
    p = make_image(tmp_path / "big.jpg", (1600, 1200))
    small = open_image(p, draft_size=(400, 300))
    assert small.size[0] < 1600 and small.size[0] >= 400
