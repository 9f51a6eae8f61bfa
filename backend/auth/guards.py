"""Authentication and authorisation: deny by default, roles on every route, the caller for services.

How a route declares who may call it (reuse this in every capability)::

    from litestar import get
    from litestar.params import FromQuery

    from backend.auth.guards import STAFF, ApiController, CallerDep, DbSession, requires_role
    from backend.paging import Limit, Offset

    class MeterController(ApiController):      # bearer token and 401/403/404 in OpenAPI
        path = "/api/meters"

        @get("/", guards=[requires_role(*STAFF)])  # a named role guard is mandatory
        async def list_meters(
            self, caller: CallerDep, db_session: DbSession,
            online: FromQuery[bool | None] = None, limit: Limit = 50, offset: Offset = 0,
        ) -> MeterPage:
            return await service.list_meters(db_session, caller, ...)   # scoped there

Rules enforced here:

* Every request is authenticated (``Authorization: Bearer <access token>``) unless its handler
  says ``opt={PUBLIC: True}`` (login, refresh, ``/health``) or it is the OpenAPI schema. No
  token or a bad one is **401**.
* Every non-public route must carry a guard made by :func:`requires_role`; the app refuses to
  start otherwise (:func:`assert_routes_guarded`), so a forgotten guard is a crash, not a hole.
  A caller whose role is not listed gets **403**. Role groups: ``EVERYONE``, ``STAFF``
  (inspector and up), ``BACK_OFFICE`` (supervisor, operator, admin), ``OPERATORS``.
* Services receive a :class:`Caller` and scope every query with ``backend.auth.scope``; an object
  outside the caller's scope is **404** (raise ``backend.errors.NotFound``), never 403, so ids of
  other customers cannot be probed.
* On an ``ApiController``, query parameters must be declared (``FromQuery``/``QueryParameter``,
  or the aliases in ``backend.paging``); an unknown one is a 400, so a typo never widens a list.

Two dependencies are available to every handler: ``caller`` (:class:`Caller`) and
``db_session`` (an ``AsyncSession`` closed after the request; services commit their writes).
"""

from __future__ import annotations

import inspect
import time
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, get_args, get_origin, get_type_hints

import msgspec
from litestar import Controller, Litestar, Request
from litestar.config.app import AppConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.handlers import HTTPRouteHandler
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from litestar.params import QueryParameter
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from backend.auth.models import Role, User
from backend.auth.tokens import InvalidToken, decode_access_token
from backend.errors import ErrorCode as E
from backend.errors import Forbidden
from backend.field.grids.models import Grid, OrgLevel, OrgUnit

PUBLIC = "exclude_from_auth"  # litestar's key: ``opt={PUBLIC: True}`` or ``exclude_from_auth=True``
# ``opt={ENROLMENT: True}``: reachable by a user who must enrol a second factor first (who am I,
# log out, enrol); every other route answers 403 ``totp_enrolment_required`` until they have
ENROLMENT = "meterline_enrolment"
BEARER = "BearerToken"  # the OpenAPI security scheme declared in backend/app.py

EVERYONE: tuple[Role, ...] = tuple(Role)
STAFF: tuple[Role, ...] = (Role.INSPECTOR, Role.SUPERVISOR, Role.OPERATOR, Role.ADMIN)
BACK_OFFICE: tuple[Role, ...] = (Role.SUPERVISOR, Role.OPERATOR, Role.ADMIN)
OPERATORS: tuple[Role, ...] = (Role.OPERATOR, Role.ADMIN)

# roles that can order a remote disconnect: a second factor is required of them when
# METERLINE_AUTH_REQUIRE_TOTP is on (see backend/auth/service.py)
SECOND_FACTOR_ROLES: frozenset[Role] = frozenset(OPERATORS)

# roles that see every customer; the others are scoped (customer: themselves, inspector: grids)
UNSCOPED: frozenset[Role] = frozenset(BACK_OFFICE)


class Caller(msgspec.Struct, frozen=True):
    """Who is calling, as the services need it. Built once per request from the user row."""

    user_id: int
    username: str
    role: Role
    customer_id: int | None = None  # set for role customer
    grid_ids: tuple[int, ...] = ()  # the grids (网格) an inspector owns, and those below the unit
    org_unit_id: int | None = None  # staff scoped to an organisation unit (R110)
    pending_enrolment: bool = False  # must enrol a second factor before anything else

    @property
    def unscoped(self) -> bool:
        return self.role in UNSCOPED and self.org_unit_id is None


_GUARD_ROLES = "_meterline_roles"


def requires_role(*roles: Role) -> Callable[[ASGIConnection[Any, Any, Any, Any], Any], None]:
    """A guard admitting only callers with one of ``roles`` (403 for the others)."""
    if not roles:
        raise ValueError("requires_role needs at least one role")
    allowed = frozenset(roles)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        caller = connection.user
        if not isinstance(caller, Caller) or caller.role not in allowed:
            raise PermissionDeniedException(
                f"role {getattr(caller, 'role', '?')!s} may not do this; "
                f"allowed: {', '.join(sorted(r.value for r in allowed))}"
            )
        if caller.pending_enrolment and not handler.opt.get(ENROLMENT):
            raise Forbidden(E.TOTP_ENROLMENT_REQUIRED, "enrol a second factor (TOTP) first")

    setattr(guard, _GUARD_ROLES, allowed)
    guard.__name__ = "requires_role(" + ",".join(sorted(r.value for r in allowed)) + ")"
    return guard


def _unauthorised(detail: str) -> NotAuthorizedException:
    return NotAuthorizedException(detail, headers={"WWW-Authenticate": "Bearer"})


class CallerCache:
    """The callers this process built lately, so that a request with a valid token needs no
    database read (``METERLINE_AUTH_CACHE_SECONDS``, per process).

    Revocation still holds: an entry is used only for the token version it was read for and
    for ``ttl_s`` at most, so a logout, password change or deactivation made by another process
    refuses the token within ``ttl_s``; one made by this process refuses it at once, because
    :func:`forget_user` (called when a token version is bumped, and again after that commit)
    drops the entry and any read that began before it. The clock is injectable for tests."""

    MAX_ENTRIES = 100_000

    def __init__(
        self, ttl_s: float, clock: Callable[[], float] = time.monotonic, owner: object = None
    ) -> None:
        self.ttl_s, self.clock = ttl_s, clock
        self.owner = owner  # the session factory (database) the callers were read from
        self._entries: dict[int, tuple[int | None, float, Caller]] = {}
        self._tick = 0  # counts reads begun and users forgotten, in order
        self._forgotten: dict[int, int] = {}  # user id -> tick of the last forget
        self._floor = 0  # reads begun before this tick are not stored (after a clear)
        self.hits = self.misses = 0
        _CACHES.add(self)

    def get(self, user_id: int, version: int | None) -> Caller | None:
        entry = self._entries.get(user_id)
        if entry is None or entry[0] != version or self.clock() - entry[1] >= self.ttl_s:
            self.misses += 1
            return None
        self.hits += 1
        return entry[2]

    def begin(self) -> int:
        """Call before reading the user; hand the result to :meth:`put`."""
        self._tick += 1
        return self._tick

    def put(self, user_id: int, version: int | None, caller: Caller, begun: int) -> None:
        if self.ttl_s <= 0 or begun < self._floor or self._forgotten.get(user_id, 0) > begun:
            return  # a revocation happened while this caller was being read
        if len(self._entries) >= self.MAX_ENTRIES:
            self.clear()
        self._entries[user_id] = (version, self.clock(), caller)

    def forget(self, user_id: int) -> None:
        self._tick += 1
        self._entries.pop(user_id, None)
        self._forgotten[user_id] = self._tick
        if len(self._forgotten) >= self.MAX_ENTRIES:
            self.clear()

    def clear(self) -> None:
        self._tick += 1
        self._entries.clear()
        self._forgotten.clear()
        self._floor = self._tick


_CACHES: weakref.WeakSet[CallerCache] = weakref.WeakSet()
_REVOKED = "meterline_revoked_users"


def forget_user(session: AsyncSession, user_id: int) -> None:
    """This user's tokens were revoked in ``session``: drop them from this process's caches
    now and once more when the session commits (a read in between saw the old version)."""
    for cache in list(_CACHES):
        cache.forget(user_id)
    session.info.setdefault(_REVOKED, set()).add(user_id)


_SCOPE_CHANGED = "meterline_scope_changed"
_CALLER_TABLES = (User, Grid, OrgUnit)  # what a Caller is built from


def _clear_all() -> None:
    for cache in list(_CACHES):
        cache.clear()


@event.listens_for(Session, "before_flush")
def _note_caller_rows(session: Session, *_: Any) -> None:
    """A user, grid or unit written through this process: every cached caller goes (now and
    after the commit), so a role, a second factor or a grid assigned here counts at once."""
    if any(isinstance(o, _CALLER_TABLES) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info[_SCOPE_CHANGED] = True
        _clear_all()


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_writes(state: Any) -> None:
    mapper = state.bind_mapper
    writes = state.is_update or state.is_delete
    if writes and mapper is not None and mapper.class_ in _CALLER_TABLES:
        state.session.info[_SCOPE_CHANGED] = True
        _clear_all()


@event.listens_for(Session, "after_commit")
def _forget_committed(session: Session) -> None:
    if session.info.pop(_SCOPE_CHANGED, False):
        _clear_all()
    for user_id in session.info.pop(_REVOKED, ()):
        for cache in list(_CACHES):
            cache.forget(user_id)


@event.listens_for(Session, "after_rollback")
def _drop_revoked(session: Session) -> None:
    session.info.pop(_REVOKED, None)
    session.info.pop(_SCOPE_CHANGED, None)


def caller_cache(state: State) -> CallerCache:
    """The app's cache for its current database, made on first use (a test may put its own,
    with its clock, owned by ``state.sessions``)."""
    cache: CallerCache | None = state.get("caller_cache")
    if cache is None or cache.owner is not state.sessions:
        cache = CallerCache(state.settings.auth_cache_seconds, owner=state.sessions)
        state.caller_cache = cache
    return cache


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    """Turns ``Authorization: Bearer …`` into a :class:`Caller`, or answers 401."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorised("missing bearer token in the Authorization header")
        state = connection.app.state
        try:
            claims = decode_access_token(state.settings, token.strip())
        except InvalidToken as exc:
            raise _unauthorised(f"invalid access token: {exc}") from None
        cache = caller_cache(state)
        caller = cache.get(claims.user_id, claims.version)
        if caller is None:
            begun = cache.begin()
            async with state.sessions() as session:
                caller = await load_caller(
                    session,
                    claims.user_id,
                    version=claims.version,
                    require_totp=state.settings.auth_require_totp,
                )
            if caller is not None:
                cache.put(claims.user_id, claims.version, caller, begun)
        if caller is None:
            raise _unauthorised("user unknown, deactivated or logged out")
        return AuthenticationResult(user=caller, auth=claims)


async def grids_below(session: AsyncSession, unit_id: int) -> list[int]:
    """The grids of a unit and of every unit below it (at most province → city → district)."""
    units, frontier = {unit_id}, [unit_id]
    for _ in range(len(OrgLevel)):
        frontier = [
            u
            for u in await session.scalars(
                select(OrgUnit.id).where(OrgUnit.parent_id.in_(frontier))
            )
            if u not in units
        ]
        if not frontier:
            break
        units.update(frontier)
    return list(await session.scalars(select(Grid.id).where(Grid.org_unit_id.in_(units))))


async def load_caller(
    session: AsyncSession, user_id: int, *, version: int | None = None, require_totp: bool = False
) -> Caller | None:
    """The caller for a user id (one primary-key lookup), or None when the user is unknown,
    deactivated, or ``version`` is older than the user's token version (logged out)."""
    user = (
        await session.execute(
            select(
                User.id, User.username, User.role, User.customer_id, User.token_version,
                User.totp_confirmed_at, User.org_unit_id,
            ).where(User.id == user_id, User.active.is_(True))
        )
    ).first()  # the columns only: no ORM object per request  # fmt: skip
    if user is None or (version is not None and version != user.token_version):
        return None
    grids: set[int] = set()
    if user.role == Role.INSPECTOR:
        grids.update(await session.scalars(select(Grid.id).where(Grid.inspector_id == user.id)))
    unit_id = user.org_unit_id if user.role != Role.CUSTOMER else None
    if unit_id is not None:
        grids.update(await grids_below(session, unit_id))
    grid_ids = tuple(sorted(grids))
    return Caller(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        customer_id=user.customer_id,
        grid_ids=grid_ids,
        org_unit_id=unit_id,
        pending_enrolment=require_totp
        and user.role in SECOND_FACTOR_ROLES
        and user.totp_confirmed_at is None,
    )


async def provide_db_session(state: State) -> AsyncIterator[AsyncSession]:
    async with state.sessions() as session:
        yield session


async def provide_read_session(state: State) -> AsyncIterator[AsyncSession]:
    """A session for read-only reports: the replica's when ``database_read_url`` names one."""
    async with state.read_sessions() as session:
        yield session


def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    caller = request.user
    if not isinstance(caller, Caller):  # only reachable on a public route asking for a caller
        raise _unauthorised("authentication required")
    return caller


# explicit dependency markers for handler signatures: ``caller: CallerDep, db_session: DbSession``
CallerDep = NamedDependency[Caller]
DbSession = NamedDependency[AsyncSession]
ReadSession = NamedDependency[AsyncSession]  # ``read_session``: never written through


class ApiController(Controller):
    """Base for authenticated controllers: declares the bearer token and the denials every
    handler can answer (401, 403, and 404 where the path names an object) in the OpenAPI
    schema, so that clients and schema checks know them."""

    security = [{BEARER: []}]  # noqa: RUF012 - litestar reads this class attribute

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for value in vars(cls).values():
            if isinstance(value, HTTPRouteHandler):
                denials: list[type[HTTPException]] = [
                    NotAuthorizedException,
                    PermissionDeniedException,
                ]
                if any("{" in p for p in value.paths):
                    denials.append(NotFoundException)
                value.raises = [*(value.raises or []), *denials]
                value.opt[QUERY_PARAMS] = declared_query_params(value.fn)


QUERY_PARAMS = "meterline_query_params"


def declared_query_params(fn: Callable[..., Any]) -> frozenset[str]:
    """The query parameter names a handler declares (``FromQuery``/``QueryParameter``)."""
    names: set[str] = set()
    hints = get_type_hints(fn, include_extras=True)
    for param in inspect.signature(fn).parameters.values():
        hint = hints.get(param.name)
        if get_origin(hint) is not Annotated:
            continue
        for meta in get_args(hint)[1:]:
            if isinstance(meta, QueryParameter):
                names.add(meta.query or meta.name or param.name)
    return frozenset(names)


def reject_unknown_query(request: Request[Any, Any, Any]) -> None:
    """``before_request``: a query parameter the route does not know is a 400, not ignored, so
    that a typo (``?customerid=7``) never silently widens a list."""
    known = request.route_handler.opt.get(QUERY_PARAMS)
    if known is None:
        return
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise ValidationException(
            f"unknown query parameter(s): {', '.join(unknown)}",
            extra=[
                {"key": k, "message": "unknown query parameter", "source": "query"} for k in unknown
            ],
        )


def assert_routes_guarded(app: Litestar) -> None:
    """Refuse to run an app with a non-public HTTP route that has no :func:`requires_role`."""
    missing: list[str] = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if handler.opt.get(PUBLIC) or route.path.startswith("/schema"):
                continue
            if handler.http_methods <= {"OPTIONS"}:  # litestar's automatic CORS preflight
                continue
            guards = [getattr(g, "func", g) for g in handler.resolve_guards()]
            if not any(hasattr(g, _GUARD_ROLES) for g in guards):
                missing.append(f"{route.path} ({handler.handler_name})")
    if missing:
        raise RuntimeError("routes without a requires_role guard: " + ", ".join(sorted(missing)))


def _chain_before_request(other: Any) -> Any:
    if other is None:
        return reject_unknown_query

    async def both(request: Request[Any, Any, Any]) -> Any:
        reject_unknown_query(request)
        result = other(request)
        return await result if inspect.isawaitable(result) else result

    return both


def configure_auth(app_config: AppConfig) -> AppConfig:
    """``on_app_init`` hook: authentication middleware, dependencies and the startup check."""
    app_config.middleware.insert(0, DefineMiddleware(BearerAuthMiddleware, exclude=["^/schema"]))
    app_config.dependencies.setdefault("db_session", Provide(provide_db_session))
    app_config.dependencies.setdefault("read_session", Provide(provide_read_session))
    app_config.dependencies.setdefault("caller", Provide(provide_caller, sync_to_thread=False))
    app_config.on_startup.append(assert_routes_guarded)
    app_config.before_request = _chain_before_request(app_config.before_request)
    return app_config
