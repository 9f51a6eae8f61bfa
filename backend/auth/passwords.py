"""Password hashing with Argon2id (argon2-cffi's defaults follow RFC 9106's recommendation).

Hashing costs tens to hundreds of milliseconds of CPU and 64 MiB of memory on purpose, so the
API never runs it on the event loop: :func:`verify_async` and :func:`hash_async` hand it to a
small pool of worker threads (argon2-cffi releases the GIL while it hashes). The pool's size
bounds the memory and CPU a burst of logins can take; the rest wait their turn in the queue
while the event loop keeps answering every other request.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HASH_WORKERS = 2  # threads hashing at once per API process (one per core on a small server)
HASH_THREAD_PREFIX = "argon2"

_hasher = PasswordHasher()
_pool = ThreadPoolExecutor(max_workers=HASH_WORKERS, thread_name_prefix=HASH_THREAD_PREFIX)
# Verified against when the username is unknown, so that a wrong username costs as much time as
# a wrong password and the answer time does not tell which usernames exist.
_DUMMY_HASH = _hasher.hash("meterline-no-such-user")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


async def hash_async(password: str) -> str:
    """:func:`hash_password` in the hashing pool, off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_pool, hash_password, password)


async def verify_async(password_hash: str | None, password: str) -> bool:
    """:func:`verify_password` in the hashing pool, off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(
        _pool, verify_password, password_hash, password
    )
