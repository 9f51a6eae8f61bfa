"""Key-account API tests run on the API test world (tests/support/world.py)."""

from tests.integration.api.conftest import _cheap_argon2, api

__all__ = ["_cheap_argon2", "api"]
