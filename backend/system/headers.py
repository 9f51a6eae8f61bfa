"""Security headers on every response (ASVS 14.4), added at the outermost layer (a litestar
``before_send`` hook), so that errors raised by the authentication middleware and 404s carry
them too.

* ``Content-Security-Policy``: scripts from this origin only — no inline script, no
  ``eval`` — and ``frame-ancestors 'none'``. Styles allow ``'unsafe-inline'``: the PWA inlines
  its first-paint stylesheet and the map and chart libraries set style attributes; a style
  cannot run code. Images and connections may also go to the map-tile origin, if one is set.
* ``Strict-Transport-Security`` when the request came over TLS (directly, or as
  ``X-Forwarded-Proto: https`` from a trusted proxy, which uvicorn applies) or
  ``METERLINE_HTTP_TLS`` says the service is public over TLS.
* ``Referrer-Policy``, ``X-Content-Type-Options: nosniff``, ``X-Frame-Options``,
  ``Cross-Origin-Opener-Policy``, ``Permissions-Policy``.
* ``Cache-Control: no-store`` on everything under ``/api/`` unless the handler chose a policy
  itself (register photos are private and immutable, reading books revalidate by ETag), and
  always on ``/api/auth/*``, where tokens and TOTP secrets travel.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from backend.settings import Settings

HSTS = "max-age=31536000"  # a year; no includeSubDomains: other hosts of the domain are not ours


def content_security_policy(settings: Settings) -> str:
    tiles = f" {settings.http_map_tile_origin}" if settings.http_map_tile_origin else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src 'self' data: blob:{tiles}",
            f"connect-src 'self'{tiles}",
            "font-src 'self'",
            "worker-src 'self'",
            "manifest-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(settings: Settings) -> Callable[[Message, Scope], Awaitable[None]]:
    csp = content_security_policy(settings)
    always = {
        "content-security-policy": csp,
        "x-content-type-options": "nosniff",
        "referrer-policy": "strict-origin-when-cross-origin",
        "x-frame-options": "DENY",
        "cross-origin-opener-policy": "same-origin",
        "permissions-policy": "geolocation=(self), camera=(self), microphone=(), payment=()",
    }

    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        for name, value in always.items():
            if name not in headers:
                headers[name] = value
        if settings.http_tls or scope.get("scheme") == "https":
            headers["strict-transport-security"] = HSTS
        path = scope.get("path", "")
        if path.startswith("/api/auth/"):
            headers["cache-control"] = "no-store"
            headers["pragma"] = "no-cache"
        elif path.startswith("/api/") and "cache-control" not in headers:
            headers["cache-control"] = "no-store"

    return before_send
