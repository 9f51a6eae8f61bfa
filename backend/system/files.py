"""Files that hold personal data or secrets are private to the service's user.

The SQLite database and its WAL and shared-memory files, the JWT secret and the register photos
are created 0600 in directories 0700. SQLite gives the ``-wal`` and ``-shm`` files the mode of
the database file, so creating that one 0600 first is enough; files an older version left
readable are narrowed when they are opened again.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path, *, narrow: bool = True) -> Path:
    """Create ``path`` (and missing parents) 0700; with ``narrow``, an existing one becomes 0700
    too (the data directory is ours; a directory someone else made for the database is not)."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if narrow and path.stat().st_mode & 0o077:
        path.chmod(DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 unless it exists; narrow an existing one to 0600."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(FILE_MODE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file ``path`` with mode 0600 (fails if it exists)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def private_sqlite(database: Path) -> None:
    """Before SQLite opens ``database``: the file (and any WAL or SHM left over) is 0600."""
    private_dir(database.parent, narrow=False)
    private_file(database)
    for suffix in ("-wal", "-shm", "-journal"):
        extra = database.with_name(database.name + suffix)
        if extra.exists() and extra.stat().st_mode & 0o077:
            extra.chmod(FILE_MODE)
