"""Register photos: size-limited, type checked by magic bytes, stored once by SHA-256.

The app uploads a photo first (``POST /api/field/photos``, the raw bytes) and the reading refers to
it by hash. Content addressing makes the upload idempotent by nature: a resend stores nothing
new. Files live in ``<data_dir>/photos/ab/abcdef…`` and are written to a temporary name, synced
and renamed, so a crash never leaves half a photo under a real hash.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import ErrorCode as E
from backend.errors import Invalid, NotFound, TooLarge, UnsupportedMedia
from backend.field.readings.models import FieldPhoto
from backend.field.readings.schemas import Photo
from backend.system.files import private_dir, write_private

TYPES = ("image/jpeg", "image/png", "image/webp")


def sniff(data: bytes) -> str | None:
    """The image type the bytes really are, whatever the request claims."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


DOCUMENT_TYPES = ("application/pdf", "image/jpeg", "image/png", "image/webp")


def check_document(data: bytes, limit: int) -> str:
    """A document (contract, licence, application paper): a PDF or a photo of at most ``limit``
    bytes, its type judged by its first bytes. The content type, or raise naming the problem."""
    if len(data) > limit:
        raise TooLarge(
            E.DOCUMENT_TOO_LARGE, f"document is {len(data)} bytes; the limit is {limit} bytes",
            field="document", size=len(data), limit=limit,
        )  # fmt: skip
    actual = "application/pdf" if data[:5] == b"%PDF-" else sniff(data)
    if actual is None:
        raise UnsupportedMedia(
            E.DOCUMENT_TYPE_REFUSED, "a document is a PDF, JPEG, PNG or WebP (by its first bytes)",
            field="document", accepted=", ".join(DOCUMENT_TYPES),
        )  # fmt: skip
    return actual


def check(data: bytes, declared: str | None, max_bytes: int) -> str:
    """Return the content type, or raise naming the problem."""
    if len(data) > max_bytes:
        raise TooLarge(
            E.PHOTO_TOO_LARGE,
            f"photo is {len(data)} bytes; the limit is {max_bytes} bytes",
            field="photo",
            size=len(data),
            limit=max_bytes,
        )
    if not data:
        raise Invalid(E.PHOTO_EMPTY, "photo is empty", field="photo")
    declared_type = (declared or "").split(";")[0].strip().lower()
    if declared_type and declared_type not in TYPES:
        raise UnsupportedMedia(
            E.PHOTO_TYPE_REFUSED,
            f"content type {declared_type!r} is not accepted; send {', '.join(TYPES)}",
            field="photo",
            type=declared_type,
            accepted=", ".join(TYPES),
        )
    actual = sniff(data)
    if actual is None:
        raise UnsupportedMedia(
            E.PHOTO_NOT_AN_IMAGE,
            "photo content is not a JPEG, PNG or WebP image (checked by its first bytes)",
            field="photo",
        )
    if declared_type and declared_type != actual:
        raise Invalid(
            E.PHOTO_TYPE_MISMATCH,
            f"photo is declared {declared_type} but its content is {actual}",
            field="photo",
            declared=declared_type,
            actual=actual,
        )
    return actual


def photo_path(root: Path, sha256: str) -> Path:
    return root / "photos" / sha256[:2] / sha256


def _write_atomically(path: Path, data: bytes) -> None:
    private_dir(path.parent.parent)  # photos/ and photos/ab/ are 0700, each file 0600
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)  # a leftover of a crash
    write_private(tmp, data)
    os.replace(tmp, path)


async def store(
    session: AsyncSession,
    root: Path,
    uploader_id: int,
    data: bytes,
    declared: str | None,
    max_bytes: int,
) -> Photo:
    content_type = check(data, declared, max_bytes)
    sha = hashlib.sha256(data).hexdigest()
    path = photo_path(root, sha)
    if not path.exists():
        _write_atomically(path, data)  # the file before the row: a row never points at nothing
    row = await session.get(FieldPhoto, sha)
    if row is None:
        row = FieldPhoto(
            sha256=sha, content_type=content_type, size_bytes=len(data), uploaded_by=uploader_id
        )
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:  # the same photo, uploaded twice at once: one row is enough
            await session.rollback()
            row = await session.get(FieldPhoto, sha)
            if row is None:
                raise
    return Photo(sha256=sha, content_type=row.content_type, size_bytes=row.size_bytes)


def load(root: Path, row: FieldPhoto) -> bytes:
    path = photo_path(root, row.sha256)
    if not path.exists():
        raise NotFound(E.PHOTO_NOT_FOUND, f"photo {row.sha256} not found", photo=row.sha256)
    return path.read_bytes()
