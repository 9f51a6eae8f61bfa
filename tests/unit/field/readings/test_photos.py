"""Register photos: the limit, the real content type, and errors that name the problem."""

from __future__ import annotations

import pytest

from backend.field.errors import Invalid, TooLarge, UnsupportedMedia
from backend.field.readings.photos import check, sniff

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
WEBP = b"RIFF\x64\x00\x00\x00WEBPVP8 " + b"\x00" * 100


@pytest.mark.parametrize(
    ("data", "kind"), [(JPEG, "image/jpeg"), (PNG, "image/png"), (WEBP, "image/webp")]
)
def test_images_are_recognised_by_their_first_bytes(data: bytes, kind: str) -> None:
    assert sniff(data) == kind
    assert check(data, kind, 1000) == kind
    assert check(data, None, 1000) == kind


def test_a_photo_over_the_limit_is_refused_with_both_sizes() -> None:
    with pytest.raises(TooLarge, match="1000 bytes"):
        check(JPEG + b"\x00" * 1000, "image/jpeg", 1000)


def test_text_posing_as_a_jpeg_is_refused() -> None:
    with pytest.raises(UnsupportedMedia, match="not a JPEG, PNG or WebP"):
        check(b"hello, this is not a photo", "image/jpeg", 1000)


def test_a_gif_is_refused_by_its_declared_type() -> None:
    with pytest.raises(UnsupportedMedia, match="image/gif"):
        check(b"GIF89a" + b"\x00" * 10, "image/gif", 1000)


def test_a_png_declared_as_jpeg_is_refused() -> None:
    with pytest.raises(Invalid, match="declared image/jpeg but its content is image/png"):
        check(PNG, "image/jpeg", 1000)


def test_an_empty_photo_is_refused() -> None:
    with pytest.raises(Invalid, match="empty"):
        check(b"", "image/jpeg", 1000)
