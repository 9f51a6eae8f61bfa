"""The commands API tests share the prepaid tests' quiet API and cheap password hashing."""

from tests.integration.prepaid.conftest import _cheap_argon2, quiet_api

__all__ = ["_cheap_argon2", "quiet_api"]
