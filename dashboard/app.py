"""Application factory. Nothing runs at import: engines, HTTP client and the tail task are
created in ``cleanup_ctx`` when the app starts."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import aiohttp_jinja2
import jinja2
from aiohttp import web

from . import actions, auth
from .config import Settings
from .content import SuggestionLibrary
from .db import Database
from .escalations import EscalationWatch
from .keys import (
    BROADCASTER,
    DB,
    ESCALATION_TASK,
    ESCALATIONS,
    HTTP,
    PROJECTION_TASK,
    PROJECTOR,
    SETTINGS,
    SUGGESTIONS,
)
from .projection import Broadcaster, Projector
from .queries import fmt_duration, fmt_time
from .rasa_client import RasaClient
from .routes import setup_routes

logger = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"


def _startup(settings: Settings, database: Database, projector: Projector) -> Path | None:
    database.migrate()
    created = auth.ensure_initial_admin(database.engine, settings.state_dir) \
        if settings.create_initial_admin else None
    # Reconcile: conversations erased while the dashboard was down.
    for sender in projector.reconcile():
        actions.erase(database.engine, sender, "reconcile")
    actions.unlock(database.engine)  # an automatic hand-back cut short by a crash or a stop
    return created


def rasa_client(app: web.Application) -> RasaClient:
    s = app[SETTINGS]
    return RasaClient(app[HTTP], s.rasa_url, s.rasa_api_token, s.http_timeout)


async def _resources(app: web.Application):
    settings = app[SETTINGS]
    database = Database(settings.database_url, settings.tracker_db_url)
    app[DB] = database
    app[BROADCASTER] = Broadcaster()
    app[PROJECTOR] = Projector(database)
    created = await database.run(_startup, settings, database, app[PROJECTOR])
    if created is not None:
        print(f"Created the first dashboard admin 'admin'; its password is in {created} "
              "(readable by this user only). Change it after logging in.", flush=True)
    app[HTTP] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.http_timeout))
    if settings.start_projection:
        app[PROJECTION_TASK] = asyncio.create_task(
            app[PROJECTOR].run(app[BROADCASTER], settings.poll_interval,
                               on_gone=lambda sender: actions.erase(database.engine, sender, "retention")))
    app[ESCALATIONS] = EscalationWatch(database, app[PROJECTOR], app[BROADCASTER],
                                       lambda: rasa_client(app), settings)
    if settings.start_projection and settings.escalation_timeout > 0 \
            and settings.escalation_check_interval > 0:
        app[ESCALATION_TASK] = asyncio.create_task(app[ESCALATIONS].run(settings.escalation_check_interval))
    yield
    app[BROADCASTER].close()
    for key in (ESCALATION_TASK, PROJECTION_TASK):
        if key in app:
            app[key].cancel()
            try:
                await app[key]
            except asyncio.CancelledError:
                pass
    await app[HTTP].close()
    await asyncio.get_running_loop().run_in_executor(None, database.close)


async def _on_shutdown(app: web.Application) -> None:
    if BROADCASTER in app:
        app[BROADCASTER].close()  # ends open server-sent-event streams


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings.from_env()
    app = web.Application(middlewares=[auth.session_middleware], client_max_size=256 * 1024)
    app[SETTINGS] = settings
    app[SUGGESTIONS] = SuggestionLibrary(settings.content_dir / "counter_narratives")
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True)
    env = aiohttp_jinja2.get_env(app)
    env.filters["ts"] = fmt_time
    env.filters["duration"] = fmt_duration
    env.filters["pct"] = lambda v: "n/a" if v is None else f"{100 * v:.1f}%"
    app.on_response_prepare.append(auth.add_security_headers)
    app.on_shutdown.append(_on_shutdown)
    app.cleanup_ctx.append(_resources)
    setup_routes(app)
    return app
