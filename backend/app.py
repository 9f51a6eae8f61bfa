"""The litestar application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from backend import __version__
from backend.auth.guards import configure_auth
from backend.controllers import EXCEPTION_HANDLERS
from backend.db import create_engine, session_factory
from backend.metering.derived import Follower
from backend.settings import Settings, load_settings
from backend.system.headers import security_headers
from backend.system.limits import body_limits
from backend.system.routes import SystemController

log = logging.getLogger("meterline")

# Capability modules add themselves here: (route handlers, lifespan hooks).
LifespanHook = Callable[[Litestar], AbstractAsyncContextManager[None]]


def route_handlers() -> list[Any]:
    from backend.accounts.routes import AccountController, CustomerController
    from backend.areas.boxes.routes import MeterBoxController
    from backend.areas.routes import AreaController
    from backend.areas.theft.routes import TheftController
    from backend.areas.trends.routes import DemandController
    from backend.auth.routes import AuthController, SessionController
    from backend.commands.routes import CommandBatchController, CommandController
    from backend.expansion.changes.routes import LifecycleController
    from backend.expansion.routes import ExpansionController
    from backend.field.books.routes import FieldBookController
    from backend.field.grids.routes import GridController, OrgUnitController
    from backend.field.readings.routes import FieldReadingController
    from backend.field.tracks.routes import FieldMapController
    from backend.keyaccounts.routes import KeyAccountController
    from backend.keyaccounts.surveys.routes import SurveyController
    from backend.metering.quarantine.routes import QuarantineController
    from backend.metering.routes import MeterController, MeteringController
    from backend.prepaid.channels.routes import ReceiptController
    from backend.prepaid.payments.routes import (
        PaymentNotifyController,
        PaymentOperatorController,
        PaymentOrderController,
    )
    from backend.prepaid.routes import PrepaidAccountController, PrepaidOperatorController
    from backend.servicedesk.followups.routes import OrderFollowUpController
    from backend.servicedesk.indicators.routes import IndicatorController
    from backend.servicedesk.kb.routes import KnowledgeBaseController
    from backend.servicedesk.orders.routes import WorkOrderController
    from backend.servicedesk.routes import ServiceDeskController
    from backend.servicedesk.workflow.routes import WorkflowController
    from backend.system.pwa import pwa_handler
    from backend.tariffs.bills.routes import IssuedBillController
    from backend.tariffs.routes import TariffAccountController, TariffController

    return [
        SystemController,
        AuthController,
        SessionController,
        CustomerController,
        AccountController,
        MeterController,
        MeteringController,
        QuarantineController,
        PrepaidAccountController,
        PrepaidOperatorController,
        PaymentOrderController,
        PaymentNotifyController,
        PaymentOperatorController,
        ReceiptController,
        CommandController,
        CommandBatchController,
        GridController,
        OrgUnitController,
        FieldReadingController,
        FieldBookController,
        FieldMapController,
        ServiceDeskController,
        TariffController,
        TariffAccountController,
        IssuedBillController,
        WorkOrderController,
        ExpansionController,
        WorkflowController,
        KnowledgeBaseController,
        OrderFollowUpController,
        IndicatorController,
        KeyAccountController,
        SurveyController,
        AreaController,
        MeterBoxController,
        DemandController,
        TheftController,
        LifecycleController,
        pwa_handler(),  # last: the SPA fallback for every path that is not the API
    ]


def derived_followers(settings: Settings) -> list[Follower]:
    """What follows consumption after a committed reading, in every process that commits
    readings (``meterline serve``, ``meterline ingest``): billing — read and bill in one pass —
    unless ``METERLINE_PREPAID_BILLING`` is off."""
    from backend.prepaid import billing

    return [billing.on_readings_committed] if settings.prepaid_billing else []


def lifespan_hooks(settings: Settings) -> list[LifespanHook]:
    """In this order: the MQTT session (closed last), metering (the derived-data path, whose
    followers are wired here, and ingestion), prepaid (the engine, command dispatch)."""
    from backend.areas.lifespan import areas_lifespan
    from backend.metering.lifespan import metering_lifespan
    from backend.mqtt.lifespan import mqtt_lifespan
    from backend.prepaid.lifespan import prepaid_lifespan
    from backend.servicedesk.orders.lifespan import servicedesk_lifespan

    return [
        mqtt_lifespan,
        metering_lifespan(derived_followers(settings)),
        prepaid_lifespan,
        servicedesk_lifespan,
        areas_lifespan,
    ]


def create_app(
    settings: Settings | None = None, *, extra_lifespan: Sequence[LifespanHook] = ()
) -> Litestar:
    from backend.mqtt.lifespan import start_mqtt

    settings = settings or load_settings()
    settings.ensure_secret()

    @asynccontextmanager
    async def database(app: Litestar) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        # read-only reports may read a streaming replica (a few hundred ms behind the primary)
        replica = create_engine(settings.database_read_url) if settings.database_read_url else None
        app.state.read_sessions = session_factory(replica) if replica else app.state.sessions
        try:
            yield
        finally:
            await engine.dispose()
            if replica is not None:
                await replica.dispose()

    return Litestar(
        route_handlers=route_handlers(),
        lifespan=[database, *lifespan_hooks(settings), *extra_lifespan],
        on_startup=[start_mqtt],  # after every lifespan: each consumer has added its route
        state=State({"settings": settings}),
        openapi_config=OpenAPIConfig(
            title="meterline API",
            version=__version__,
            path="/schema",
            # the schema as JSON (/schema, /schema/openapi.json) and YAML, no docs UI: no third-
            # party script on the origin that holds the session (docs/security.md)
            render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"]), YamlRenderPlugin()],
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
        ),
        exception_handlers=EXCEPTION_HANDLERS,  # one body for every error: backend/errors.py
        middleware=[body_limits],  # size, depth and UTF-8 before any body is decoded
        on_app_init=[configure_auth],  # deny by default: see backend/auth/guards.py
        before_send=[security_headers(settings)],  # CSP, HSTS, no-store: backend/system/headers.py
        debug=False,
    )
