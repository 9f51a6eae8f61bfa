"""Field readings, corrections, photos and plausibility flags under /api/field."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, Response, get, post, route
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from backend.auth.guards import CallerDep, DbSession, requires_role
from backend.controllers import (
    FIELD_VIEW,
    READERS,
    REVIEWERS,
    FieldApiController,
    answers,
    now_ms,
)
from backend.errors import ErrorCode, NotAllowed, NotFound, TooLarge, UnsupportedMedia
from backend.field.readings import corrections as corrections_service
from backend.field.readings import flags as flags_service
from backend.field.readings import photos
from backend.field.readings import service as readings_service
from backend.field.readings.photo_access import visible_photo
from backend.field.readings.plausibility import FlagKind
from backend.field.readings.schemas import (
    CorrectionSubmit,
    DecisionSubmit,
    FieldReading,
    Flag,
    FlagResolve,
    Photo,
    ReadingCheck,
    ReadingHistory,
    ReadingSubmit,
)
from backend.paging import FromTime, Id, Limit, OptId, ToTime, utc_ms

REPLAYED = "Idempotent-Replayed"
MeterIdQuery = Annotated[
    str | None, QueryParameter(min_length=1, max_length=64, pattern="^[^\\x00]*$")
]
FLAG_KINDS = "^(" + "|".join(k.value for k in FlagKind) + ")$"


def _answer(result: readings_service.Submitted) -> Response[FieldReading]:
    """A resend gets the very same answer (201 and the same reading), marked as a replay."""
    headers = {REPLAYED: "true" if result.replayed else "false"}
    return Response(result.reading, status_code=HTTP_201_CREATED, headers=headers)


class FieldReadingController(FieldApiController):
    path = "/api/field"
    tags = ("field",)

    @post("/readings", guards=[requires_role(*READERS)], summary="Submit a confirmed reading")
    async def submit(
        self, caller: CallerDep, db_session: DbSession, state: State, data: JSONBody[ReadingSubmit]
    ) -> Response[FieldReading]:
        """A confirmed reading (the confirm step is on the device). Idempotent by client_id:
        the same id and body again returns the same reading (header Idempotent-Replayed: true);
        the same id with a different body is 409. The reading counts at once: it enters the
        readings as source field and consumption and billing are recomputed."""
        result = await readings_service.submit_reading(
            db_session, caller, data, state.settings, now_ms(state), state.derived
        )
        return _answer(result)

    @post(
        "/readings/check",
        guards=[requires_role(*READERS)],
        status_code=HTTP_200_OK,
        summary="Check a reading before confirming it",
    )
    async def check(
        self, caller: CallerDep, db_session: DbSession, state: State, data: JSONBody[ReadingSubmit]
    ) -> ReadingCheck:
        """The same body as a submission; nothing is stored. Answers every plausibility flag
        (distance from the meter, AMI disagreement, …) and every register that would be held
        for review before billing, so the inspector sees them on the confirm step."""
        return await readings_service.check_reading(
            db_session, caller, data, state.settings, now_ms(state)
        )

    @get("/readings", guards=[requires_role(*FIELD_VIEW)], summary="List field readings")
    async def list_readings(
        self,
        caller: CallerDep,
        db_session: DbSession,
        meter_id: MeterIdQuery = None,
        inspector_id: OptId = None,
        from_: FromTime = None,
        to: ToTime = None,
        limit: Limit = 100,
    ) -> list[FieldReading]:
        """Readings and corrections in the caller's grids, newest first."""
        return await readings_service.list_readings(
            db_session,
            caller,
            meter_id=meter_id,
            inspector_id=inspector_id,
            since_ms=utc_ms(from_, "from"),
            until_ms=utc_ms(to, "to"),
            limit=limit,
        )

    @get("/readings/{reading_id:uuid}", guards=[requires_role(*FIELD_VIEW)], summary="One reading")
    async def get_reading(
        self, caller: CallerDep, db_session: DbSession, reading_id: FromPath[uuid.UUID]
    ) -> FieldReading:
        return await readings_service.get_reading(db_session, caller, str(reading_id))

    @get(
        "/readings/{reading_id:uuid}/history",
        guards=[requires_role(*FIELD_VIEW)],
        summary="A reading with all its corrections",
    )
    async def history(
        self, caller: CallerDep, db_session: DbSession, reading_id: FromPath[uuid.UUID]
    ) -> ReadingHistory:
        return await corrections_service.history(db_session, caller, str(reading_id))

    @route(
        "/readings/{reading_id:uuid}",
        http_method=["PUT", "PATCH", "DELETE"],
        guards=[requires_role(*FIELD_VIEW)],
        summary="Refused: confirmed readings are immutable",
        include_in_schema=False,
        responses=answers(NotAllowed),
    )
    async def refuse(self, reading_id: FromPath[uuid.UUID]) -> None:
        corrections_service.refuse_change(str(reading_id))

    @post("/corrections", guards=[requires_role(*READERS)], summary="Submit a correction")
    async def correct(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        data: JSONBody[CorrectionSubmit],
    ) -> Response[FieldReading]:
        """A new record referring to the original, with a reason. It counts only once a
        supervisor approves it; the original stays as it was. Idempotent by client_id."""
        result = await readings_service.submit_correction(
            db_session, caller, data, state.settings, now_ms(state)
        )
        return _answer(result)

    @get("/corrections", guards=[requires_role(*FIELD_VIEW)], summary="List corrections")
    async def corrections(
        self,
        caller: CallerDep,
        db_session: DbSession,
        status: Annotated[
            str, QueryParameter(pattern="^(pending_approval|approved|rejected|all)$")
        ] = "pending_approval",
        limit: Limit = 100,
    ) -> list[FieldReading]:
        return await corrections_service.list_corrections(db_session, caller, status, limit)

    @post(
        "/corrections/{reading_id:uuid}/decision",
        guards=[requires_role(*REVIEWERS)],
        status_code=HTTP_200_OK,
        summary="Approve or reject a correction",
    )
    async def decide(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        reading_id: FromPath[uuid.UUID],
        data: JSONBody[DecisionSubmit],
    ) -> FieldReading:
        """Final. An approval writes the corrected values and recomputes consumption and
        billing from the original's instant. The submitter cannot decide their own."""
        return await corrections_service.decide(
            db_session, caller, str(reading_id), data, now_ms(state), state.derived
        )

    @post(
        "/photos",
        guards=[requires_role(*READERS)],
        summary="Upload a register photo",
        responses=answers(TooLarge, UnsupportedMedia),
    )
    async def upload_photo(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        request: Request[Any, Any, Any],
    ) -> Response[Photo]:
        """The raw image as the body (Content-Type image/jpeg, image/png or image/webp), at
        most field_photo_max_bytes. Stored by SHA-256; uploading the same photo again is
        harmless. Refer to it from a reading by photo_sha256."""
        limit = state.settings.field_photo_max_bytes
        data = bytearray()
        async for chunk in request.stream():
            data.extend(chunk)
            if len(data) > limit:  # stop reading: never buffer an oversized upload
                photos.check(bytes(data), None, limit)
        photo = await photos.store(
            db_session,
            state.settings.data_path,
            caller.user_id,
            bytes(data),
            request.headers.get("content-type"),
            limit,
        )
        return Response(photo, status_code=HTTP_201_CREATED)

    @get(
        "/photos/{sha256:str}",
        guards=[requires_role(*FIELD_VIEW)],
        summary="A register photo (the image bytes, with their content type)",
    )
    async def get_photo(
        self, caller: CallerDep, db_session: DbSession, state: State, sha256: FromPath[str]
    ) -> Response[bytes]:
        row = await visible_photo(db_session, caller, sha256)
        if row is None:
            raise NotFound(ErrorCode.PHOTO_NOT_FOUND, f"photo {sha256} not found", photo=sha256)
        data = photos.load(state.settings.data_path, row)
        return Response(
            data,
            media_type=row.content_type,
            headers={"Cache-Control": "private, max-age=31536000, immutable"},
        )

    @get("/flags", guards=[requires_role(*FIELD_VIEW)], summary="Plausibility flags")
    async def flags(
        self,
        caller: CallerDep,
        db_session: DbSession,
        status: Annotated[str | None, QueryParameter(pattern="^(open|resolved)$")] = "open",
        kind: Annotated[str | None, QueryParameter(pattern=FLAG_KINDS)] = None,
        inspector_id: OptId = None,
        meter_id: MeterIdQuery = None,
        limit: Limit = 200,
    ) -> list[Flag]:
        """Flags for review (oldest first): questions for a supervisor, never penalties."""
        return await flags_service.list_flags(
            db_session,
            caller,
            status=status,
            kind=kind,
            inspector_id=inspector_id,
            meter_id=meter_id,
            limit=limit,
        )

    @post(
        "/flags/{flag_id:int}/resolve",
        guards=[requires_role(*REVIEWERS)],
        status_code=HTTP_200_OK,
        summary="Resolve a flag with a note",
    )
    async def resolve(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        flag_id: Id,
        data: JSONBody[FlagResolve],
    ) -> Flag:
        return await flags_service.resolve(db_session, caller, flag_id, data, now_ms(state))
