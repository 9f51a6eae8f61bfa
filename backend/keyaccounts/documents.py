"""Documents on a customer's profile (contracts, licences): a PDF or a photo, size-limited, the
type checked by the first bytes, stored once by SHA-256 under ``<data_dir>/ka-documents/ab/…``
(written to a temporary name and renamed). Listed and read within the caller's portfolio."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import Caller
from backend.errors import ErrorCode as E
from backend.errors import NotFound
from backend.field.readings.photos import check_document
from backend.keyaccounts.models import DocumentKind, ProfileDocument
from backend.keyaccounts.schemas import DocumentOut
from backend.keyaccounts.service import visible_customer
from backend.system.files import private_dir, write_private

MAX_BYTES = 5 * 1024 * 1024  # a scanned contract of a few pages


def check(data: bytes, limit: int = MAX_BYTES) -> str:
    """The content type the bytes really are, or raise naming the problem."""
    return check_document(data, limit)


def path_of(root: Path, sha256: str) -> Path:
    return root / "ka-documents" / sha256[:2] / sha256


def _out(d: ProfileDocument) -> DocumentOut:
    return DocumentOut(
        d.id, d.customer_id, d.kind, d.title, d.content_type, d.size_bytes, d.sha256,
        d.uploaded_by, d.uploaded_at,
    )  # fmt: skip


async def upload(
    session: AsyncSession, caller: Caller, root: Path, customer_id: int, kind: DocumentKind,
    title: str, data: bytes,
) -> DocumentOut:  # fmt: skip
    await visible_customer(session, caller, customer_id)
    content_type = check(data)
    sha = hashlib.sha256(data).hexdigest()
    path = path_of(root, sha)
    if not path.exists():  # the file before the row: a row never points at nothing
        private_dir(path.parent.parent)
        private_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        write_private(tmp, data)
        os.replace(tmp, path)
    row = ProfileDocument(
        customer_id=customer_id, kind=kind, title=title, sha256=sha, content_type=content_type,
        size_bytes=len(data), uploaded_by=caller.username,
    )  # fmt: skip
    session.add(row)
    await session.commit()
    return _out(row)


async def listing(session: AsyncSession, caller: Caller, customer_id: int) -> list[DocumentOut]:
    await visible_customer(session, caller, customer_id)
    rows = await session.scalars(
        select(ProfileDocument)
        .where(ProfileDocument.customer_id == customer_id)
        .order_by(ProfileDocument.uploaded_at.desc(), ProfileDocument.id.desc())
    )
    return [_out(d) for d in rows]


async def content(
    session: AsyncSession, caller: Caller, root: Path, customer_id: int, document_id: int
) -> tuple[bytes, str]:
    await visible_customer(session, caller, customer_id)
    row = await session.get(ProfileDocument, document_id)
    path = path_of(root, row.sha256) if row is not None else None
    if row is None or row.customer_id != customer_id or path is None or not path.exists():
        raise NotFound(
            E.DOCUMENT_NOT_FOUND, f"document {document_id} not found", document=document_id
        )
    return path.read_bytes(), row.content_type
