"""Login, refresh, logout and /api/me."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from backend.auth import service
from backend.auth.guards import EVERYONE, PUBLIC, ApiController, CallerDep, DbSession, requires_role
from backend.auth.models import User
from backend.auth.schemas import LoginIn, LogoutIn, Me, RefreshIn, TokenPair


class AuthController(Controller):
    path = "/api/auth"
    tags = ("auth",)

    @post(
        "/login",
        status_code=HTTP_200_OK,
        opt={PUBLIC: True},
        raises=[NotAuthorizedException],
        summary="Log in",
    )
    async def login(
        self, data: JSONBody[LoginIn], db_session: DbSession, state: State
    ) -> TokenPair:
        """Exchange a username and password for an access token and a refresh token."""
        return await service.login(db_session, state.settings, data.username, data.password)

    @post(
        "/refresh",
        status_code=HTTP_200_OK,
        opt={PUBLIC: True},
        raises=[NotAuthorizedException],
        summary="Rotate tokens",
    )
    async def refresh(
        self, data: JSONBody[RefreshIn], db_session: DbSession, state: State
    ) -> TokenPair:
        """Spend a refresh token for a new pair. Reusing a spent token revokes the login."""
        return await service.refresh(db_session, state.settings, data.refresh_token)


class SessionController(ApiController):
    path = "/api"
    tags = ("auth",)

    @post(
        "/auth/logout",
        status_code=HTTP_204_NO_CONTENT,
        guards=[requires_role(*EVERYONE)],
        summary="Log out",
    )
    async def logout(
        self, data: JSONBody[LogoutIn], caller: CallerDep, db_session: DbSession
    ) -> None:
        """Revoke the given refresh token's login, or every login with ``all_sessions``."""
        await service.logout(
            db_session, caller.user_id, data.refresh_token, all_sessions=data.all_sessions
        )

    @get("/me", guards=[requires_role(*EVERYONE)], summary="Who am I")
    async def me(self, caller: CallerDep, db_session: DbSession) -> Me:
        user = await db_session.get(User, caller.user_id)
        return Me(
            id=caller.user_id,
            username=caller.username,
            display_name=user.display_name if user else "",
            role=caller.role,
            customer_id=caller.customer_id,
            grid_ids=list(caller.grid_ids),
        )
