"""Database access: SQLAlchemy 1.4 Core, run in a thread pool so the event loop stays free.

Two engines: the dashboard's own database (read/write, migrated) and the Rasa tracker store
(read-only: transcripts have one source of truth, Rasa's ``events`` table).
"""
from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event as sa_event

from . import migrations

logger = logging.getLogger(__name__)
T = TypeVar("T")

meta = sa.MetaData()
workers = sa.Table(
    "workers", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(64)),
    sa.Column("password_hash", sa.String(255)),
    sa.Column("role", sa.String(16)),
    sa.Column("active", sa.Boolean),
    sa.Column("created_at", sa.Float),
)
sessions = sa.Table(
    "sessions", meta,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("worker_id", sa.Integer),
    sa.Column("csrf_token", sa.String(64)),
    sa.Column("web_sender", sa.String(64)),
    sa.Column("created_at", sa.Float),
    sa.Column("last_seen", sa.Float),
)
login_attempts = sa.Table(
    "login_attempts", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_key", sa.String(64)),
    sa.Column("ip_key", sa.String(64)),
    sa.Column("ts", sa.Float),
)
notes = sa.Table(
    "notes", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sender_id", sa.String(255)),
    sa.Column("worker_id", sa.Integer),
    sa.Column("text", sa.Text),
    sa.Column("created_at", sa.Float),
)
tags = sa.Table(
    "tags", meta,
    sa.Column("sender_id", sa.String(255), primary_key=True),
    sa.Column("tag", sa.String(40), primary_key=True),
    sa.Column("worker_id", sa.Integer),
    sa.Column("created_at", sa.Float),
)
assignments = sa.Table(
    "assignments", meta,
    sa.Column("sender_id", sa.String(255), primary_key=True),
    sa.Column("worker_id", sa.Integer),
    sa.Column("claimed_at", sa.Float),
)
audit = sa.Table(
    "audit", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("ts", sa.Float),
    sa.Column("worker_id", sa.Integer),
    sa.Column("username", sa.String(64)),
    sa.Column("action", sa.String(40)),
    sa.Column("sender_id", sa.String(255)),
    sa.Column("detail", sa.String(255)),
)
conversations = sa.Table(
    "conversations", meta,
    sa.Column("sender_id", sa.String(255), primary_key=True),
    sa.Column("channel", sa.String(8)),
    sa.Column("first_ts", sa.Float),
    sa.Column("last_ts", sa.Float),
    sa.Column("last_user_ts", sa.Float),
    sa.Column("last_event_id", sa.Integer),
    sa.Column("n_user", sa.Integer),
    sa.Column("n_bot", sa.Integer),
    sa.Column("n_worker", sa.Integer),
    sa.Column("risk_level", sa.String(10)),
    sa.Column("risk_rank", sa.Integer),
    sa.Column("risk_reasons", sa.Text),
    sa.Column("theme", sa.String(64)),
    sa.Column("themes_seen", sa.Text),
    sa.Column("language", sa.String(8)),
    sa.Column("paused", sa.Boolean),
    sa.Column("paused_since", sa.Float),
    sa.Column("human_requested", sa.Boolean),
    sa.Column("crisis_category", sa.String(32)),
    sa.Column("crisis_ts", sa.Float),
    sa.Column("n_crisis", sa.Integer),
    sa.Column("escalated_ts", sa.Float),
    sa.Column("first_worker_ts", sa.Float),
    sa.Column("handoffs", sa.Integer),
    sa.Column("closed_at", sa.Float),
    # escalation episode (projection-owned, migration 2)
    sa.Column("esc_start_ts", sa.Float),
    sa.Column("esc_start_id", sa.Integer),
    sa.Column("esc_last_ts", sa.Float),
    sa.Column("esc_last_id", sa.Integer),
    # dashboard-owned (never written by the projection, like closed_at)
    sa.Column("esc_resolved_id", sa.Integer),
    sa.Column("claim_ended_at", sa.Float),
    sa.Column("overdue_at", sa.Float),
)
# Columns of ``conversations`` that only the dashboard's actions write; the projection keeps them.
DASHBOARD_OWNED = ("closed_at", "esc_resolved_id", "claim_ended_at", "overdue_at")
projection_state = sa.Table(
    "projection_state", meta,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("value", sa.Float),
)

# The tracker store's table as Rasa's SQLTrackerStore creates it (read only here).
tracker_meta = sa.MetaData()
events = sa.Table(
    "events", tracker_meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sender_id", sa.String(255), index=True),
    sa.Column("type_name", sa.String(255)),
    sa.Column("timestamp", sa.Float),
    sa.Column("intent_name", sa.String(255)),
    sa.Column("action_name", sa.String(255)),
    sa.Column("data", sa.Text),
)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout = 5000")
    cur.close()


def make_engine(url: str, *, read_only: bool = False) -> sa.engine.Engine:
    """Create an engine; SQLite gets a busy timeout (and WAL when writable), read-only when asked."""
    if url.startswith("sqlite"):
        connect_args: dict = {"check_same_thread": False, "timeout": 5}
        if read_only and url.startswith("sqlite:///") and "mode=ro" not in url:
            path = url[len("sqlite:///"):]
            url = f"sqlite:///file:{path}?mode=ro&uri=true"
        # SQLAlchemy 1.4 gives file SQLite a NullPool (a new connection, pragmas and schema
        # parse per checkout); a small queue pool keeps connections warm across the threads.
        engine = sa.create_engine(url, connect_args=connect_args, future=True,
                                  poolclass=sa.pool.QueuePool, pool_size=5, max_overflow=5)
        sa_event.listen(engine, "connect", _sqlite_pragmas)
        if not read_only:
            def _wal(dbapi_conn, _record):
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode = WAL")
                cur.close()
            sa_event.listen(engine, "connect", _wal)
        return engine
    kwargs: dict = {"future": True, "pool_pre_ping": True}
    parsed = sa.engine.make_url(url)
    if read_only and parsed.get_backend_name() == "postgresql":
        # keep any options given in the URL (e.g. a search_path) and add read-only transactions
        options = parsed.query.get("options", "")
        options = options if isinstance(options, str) else " ".join(options)
        kwargs["connect_args"] = {"options": f"{options} -c default_transaction_read_only=on".strip()}
        parsed = parsed.difference_update_query(["options"])
    return sa.create_engine(parsed, **kwargs)


class Database:
    """Both engines plus a small thread pool; ``await db.run(fn, ...)`` runs ``fn`` off the loop."""

    def __init__(self, url: str, tracker_url: str, *, workers: int = 4) -> None:
        self.url = url
        self.tracker_url = tracker_url
        self.engine = make_engine(url)
        self._tracker_engine: sa.engine.Engine | None = None
        self._tracker_ready = False
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dashboard-db")

    @property
    def tracker(self) -> sa.engine.Engine:
        # Lazily: the tracker DB may not exist yet when the dashboard starts before Rasa.
        if self._tracker_engine is None:
            self._tracker_engine = make_engine(self.tracker_url, read_only=True)
        return self._tracker_engine

    def tracker_ready(self) -> bool:
        if self._tracker_ready:
            return True
        try:
            self._tracker_ready = sa.inspect(self.tracker).has_table("events")
            return self._tracker_ready
        except sa.exc.OperationalError:
            # SQLite read-only open fails until Rasa has created the file; retry next time.
            if self._tracker_engine is not None:
                self._tracker_engine.dispose()
                self._tracker_engine = None
            return False

    def migrate(self) -> list:
        return migrations.upgrade(self.engine)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.engine.dispose()
        if self._tracker_engine is not None:
            self._tracker_engine.dispose()
