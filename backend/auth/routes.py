"""Login, refresh, logout, password change, TOTP enrolment and /api/me.

The refresh token never reaches JavaScript: it is set as an httpOnly, SameSite=Strict cookie
scoped to ``/api/auth`` (Secure whenever the API is served over TLS), and only the short-lived
access token is in the response body.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import CookieParameter, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from backend.auth import service, totp
from backend.auth.guards import (
    ENROLMENT,
    EVERYONE,
    PUBLIC,
    STAFF,
    ApiController,
    CallerDep,
    DbSession,
    requires_role,
)
from backend.auth.models import User
from backend.auth.policy import PasswordRejected
from backend.auth.schemas import (
    AccessToken,
    LoginIn,
    LogoutIn,
    Me,
    PasswordChangeIn,
    RecoveryCodes,
    TotpConfirmIn,
    TotpEnrolIn,
    TotpEnrolment,
)
from backend.controllers import answers
from backend.errors import Conflict, Invalid, TooManyRequests, Unauthorised
from backend.errors import ErrorCode as E
from backend.settings import Settings

REFRESH_COOKIE = "meterline_refresh"
COOKIE_PATH = "/api/auth"
RefreshCookie = Annotated[
    str | None, CookieParameter(name=REFRESH_COOKIE, required=False, max_length=128)
]


# logging out clears the cookie (the token is revoked on the server anyway)
CLEARED = Cookie(
    key=REFRESH_COOKIE, value="", path=COOKIE_PATH, max_age=0, httponly=True, samesite="strict"
)


def _locked(exc: service.Locked) -> TooManyRequests:
    return TooManyRequests(E.LOCKED, str(exc), retry_after=exc.retry_after)


def _address(request: Request[Any, Any, Any]) -> str:
    """The client's address, as uvicorn resolved it (X-Forwarded-For from trusted proxies)."""
    return request.client.host if request.client else "unknown"


def is_tls(request: Request[Any, Any, Any], settings: Settings) -> bool:
    return settings.http_tls or request.url.scheme == "https"


def _with_cookie(
    request: Request[Any, Any, Any], settings: Settings, issued: service.Issued
) -> Response[AccessToken]:
    body = AccessToken(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        totp_enrolment_required=issued.totp_enrolment_required,
    )
    cookie = Cookie(
        key=REFRESH_COOKIE,
        value=issued.refresh_token,
        path=COOKIE_PATH,
        max_age=issued.refresh_max_age,
        httponly=True,
        secure=is_tls(request, settings),  # plain HTTP only for a demo on the loopback or LAN
        samesite="strict",
    )
    return Response(body, cookies=[cookie])


def _password_refused(field: str, exc: PasswordRejected) -> Invalid:
    detail = f"{exc.code}: {str(exc).removeprefix('password: ')}"
    return Invalid(E.PASSWORD_REJECTED, detail, field=field, rule=exc.code)


_REFUSALS: dict[str, Any] = {"responses": answers(Unauthorised, TooManyRequests)}


class AuthController(Controller):
    path = "/api/auth"
    tags = ("auth",)

    @post("/login", status_code=HTTP_200_OK, opt={PUBLIC: True}, summary="Log in", **_REFUSALS)
    async def login(
        self, request: Request[Any, Any, Any], data: JSONBody[LoginIn], db_session: DbSession
    ) -> Response[AccessToken]:
        """Exchange a username and password (and the TOTP or a recovery code, for users with a
        second factor) for an access token; the refresh token is set as a cookie. Too many
        failures lock the account or the address: 429 with Retry-After."""
        settings: Settings = request.app.state.settings
        try:
            issued = await service.login(
                db_session, settings, data.username, data.password,
                address=_address(request), code=data.code,
            )  # fmt: skip
        except service.Locked as exc:
            raise _locked(exc) from None
        return _with_cookie(request, settings, issued)

    @post(
        "/refresh",
        status_code=HTTP_200_OK,
        opt={PUBLIC: True},
        responses=answers(Unauthorised),
        summary="Rotate tokens",
    )
    async def refresh(
        self, request: Request[Any, Any, Any], db_session: DbSession, refresh: RefreshCookie = None
    ) -> Response[AccessToken]:
        """Spend the refresh-token cookie for a new access token and cookie. Reusing a spent
        token revokes the login and the user's access tokens."""
        settings: Settings = request.app.state.settings
        issued = await service.refresh(db_session, settings, refresh)
        return _with_cookie(request, settings, issued)


class SessionController(ApiController):
    path = "/api"
    tags = ("auth",)

    @post(
        "/auth/logout",
        status_code=HTTP_204_NO_CONTENT,
        guards=[requires_role(*EVERYONE)],
        opt={ENROLMENT: True},
        response_cookies=[CLEARED],
        summary="Log out",
    )
    async def logout(
        self,
        data: JSONBody[LogoutIn],
        caller: CallerDep,
        db_session: DbSession,
        refresh: RefreshCookie = None,
    ) -> None:
        """End this login (the refresh-token cookie's), or every login with ``all_sessions``;
        the user's access tokens stop working at once, and the cookie is cleared."""
        await service.logout(db_session, caller.user_id, refresh, all_sessions=data.all_sessions)

    @post(
        "/auth/password",
        status_code=HTTP_200_OK,
        guards=[requires_role(*EVERYONE)],
        opt={ENROLMENT: True},
        responses=answers(TooManyRequests),
        summary="Change my password",
    )
    async def change_password(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[PasswordChangeIn],
        caller: CallerDep,
        db_session: DbSession,
    ) -> Response[AccessToken]:
        """Needs the current password; the new one must pass the password rules
        (docs/security.md). Every other login of the user ends; this one gets new tokens."""
        settings: Settings = request.app.state.settings
        try:
            issued = await service.change_password(
                db_session, settings, caller.user_id, data.current_password, data.new_password,
                address=_address(request),
            )  # fmt: skip
        except service.Locked as exc:
            raise _locked(exc) from None
        except service.AuthError:
            raise Invalid(E.WRONG_PASSWORD, "wrong password", field="current_password") from None
        except PasswordRejected as exc:
            raise _password_refused("new_password", exc) from None
        return _with_cookie(request, settings, issued)

    @post(
        "/auth/totp/enrol",
        status_code=HTTP_200_OK,
        guards=[requires_role(*STAFF)],
        opt={ENROLMENT: True},
        responses=answers(Conflict, TooManyRequests),
        summary="Start TOTP enrolment",
    )
    async def enrol_totp(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[TotpEnrolIn],
        caller: CallerDep,
        db_session: DbSession,
    ) -> TotpEnrolment:
        """A new TOTP secret for the authenticator app, shown once; in force after
        ``/auth/totp/confirm``. Needs the password again."""
        try:
            secret, uri = await service.begin_totp_enrolment(
                db_session, request.app.state.settings, caller.user_id, data.password,
                address=_address(request),
            )  # fmt: skip
        except service.Locked as exc:
            raise _locked(exc) from None
        except service.AuthError:
            raise Invalid(E.WRONG_PASSWORD, "wrong password", field="password") from None
        except service.EnrolmentError as exc:
            raise Conflict(E.TOTP_ENROLMENT_STATE, str(exc), field=exc.field) from None
        return TotpEnrolment(secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))

    @post(
        "/auth/totp/confirm",
        status_code=HTTP_200_OK,
        guards=[requires_role(*STAFF)],
        opt={ENROLMENT: True},
        responses=answers(Invalid, Conflict),
        summary="Confirm TOTP enrolment",
    )
    async def confirm_totp(
        self, data: JSONBody[TotpConfirmIn], caller: CallerDep, db_session: DbSession
    ) -> RecoveryCodes:
        """The first code from the app turns the second factor on; answers the recovery codes,
        shown once."""
        try:
            codes = await service.confirm_totp(db_session, caller.user_id, data.code)
        except service.EnrolmentError as exc:
            if exc.conflict:
                raise Conflict(E.TOTP_ENROLMENT_STATE, str(exc), field=exc.field) from None
            raise Invalid(E.WRONG_TOTP_CODE, exc.message, field=exc.field) from None
        return RecoveryCodes(recovery_codes=codes)

    @get("/me", guards=[requires_role(*EVERYONE)], opt={ENROLMENT: True}, summary="Who am I")
    async def me(self, caller: CallerDep, db_session: DbSession) -> Me:
        user = await db_session.get(User, caller.user_id)
        return Me(
            id=caller.user_id,
            username=caller.username,
            display_name=user.display_name if user else "",
            role=caller.role,
            customer_id=caller.customer_id,
            grid_ids=list(caller.grid_ids),
            totp_enabled=bool(user and user.totp_confirmed_at is not None),
            totp_enrolment_required=caller.pending_enrolment,
            org_unit_id=caller.org_unit_id,
        )
