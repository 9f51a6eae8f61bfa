"""Application documents: a photo or a PDF, its size and type checked before anything reads it,
stored once by SHA-256 under ``<data_dir>/expansion/ab/abcdef…`` exactly as the field photos
are (written to a temporary name and renamed, so a crash never leaves half a file)."""

from __future__ import annotations

import os
from pathlib import Path

from backend.errors import ErrorCode as E
from backend.errors import Invalid
from backend.field.readings.photos import check_document
from backend.system.files import private_dir, write_private

MAX_BYTES = 1_048_576  # also the JSON-and-PDF body limit of backend/system/limits.py


def check(data: bytes, max_bytes: int = MAX_BYTES) -> str:
    """The content type the bytes really are (by their first bytes), or an error naming why
    they are refused; an empty document is refused as such."""
    if not data:
        raise Invalid(E.PHOTO_EMPTY, "document is empty", field="document")
    return check_document(data, max_bytes)


def path_of(root: Path, sha256: str) -> Path:
    return root / "expansion" / sha256[:2] / sha256


def write(root: Path, sha256: str, data: bytes) -> None:
    path = path_of(root, sha256)
    if path.exists():
        return  # content addressed: the same bytes are already there
    private_dir(path.parent.parent)
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    write_private(tmp, data)
    os.replace(tmp, path)
