"""Where the inspector is: nearby meters (R3), track upload and the day's replay (R5)."""

from __future__ import annotations

from typing import Annotated

from litestar import get, post
from litestar.datastructures import State
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK

from backend.auth.guards import CallerDep, DbSession, requires_role
from backend.auth.models import Role
from backend.controllers import OVERSEERS, READERS, FieldApiController, now_ms
from backend.field.tracks import nearby
from backend.field.tracks import service as tracks_service
from backend.field.tracks.schemas import Replay, TrackUpload, TrackUploaded
from backend.paging import Id


class FieldMapController(FieldApiController):
    path = "/api/field"
    tags = ("field",)

    @get("/nearby", guards=[requires_role(*READERS)], summary="Meters near a position")
    async def near(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        lat: Annotated[float, QueryParameter(ge=-90, le=90)],
        lon: Annotated[float, QueryParameter(ge=-180, le=180)],
        accuracy_m: Annotated[float, QueryParameter(gt=0, le=100_000)] = 20.0,
        radius_m: Annotated[float, QueryParameter(gt=0)] = 300.0,
    ) -> nearby.Nearby:
        """Meters of the caller's grids within radius_m (at most field_nearby_max_radius_m),
        nearest first, and ``here``: the stop (one meter or a meter box) the inspector is most
        probably standing at, with a confidence from 0 to 1, for the app to pop up."""
        settings = state.settings
        return await nearby.nearby(
            db_session, caller, lat, lon, accuracy_m, radius_m,
            settings.field_nearby_max_radius_m, settings.field_probable_tolerance_m,
        )  # fmt: skip

    @post(
        "/tracks",
        guards=[requires_role(Role.INSPECTOR)],
        status_code=HTTP_200_OK,
        summary="Upload track points",
    )
    async def upload(
        self, caller: CallerDep, db_session: DbSession, state: State, data: JSONBody[TrackUpload]
    ) -> TrackUploaded:
        """A batch of fixes (at most 5000). Idempotent: a point is keyed by (inspector, ts),
        so resending a batch, whole or in part, stores nothing twice."""
        return await tracks_service.upload(db_session, caller, data, now_ms(state))

    @get(
        "/inspectors/{inspector_id:int}/days/{day:str}",
        guards=[requires_role(Role.INSPECTOR, *OVERSEERS)],
        summary="Replay an inspector's day",
    )
    async def replay(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        inspector_id: Id,
        day: Annotated[str, PathParameter(pattern=r"^\d{4}-\d{2}-\d{2}$")],
    ) -> Replay:
        """Track points and readings of one local day on one timeline, in time order."""
        return await tracks_service.replay(
            db_session, caller, inspector_id, day, state.settings.timezone
        )
