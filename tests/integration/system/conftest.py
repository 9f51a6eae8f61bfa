"""API tests here use the shared API client on a fresh database (tests/integration/api)."""

from tests.integration.api.conftest import _cheap_argon2, api

__all__ = ["_cheap_argon2", "api"]
