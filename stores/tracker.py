"""SQL tracker store configured by one URL, with SQLite tuning, retention and erasure.

- `TRACKER_DB_URL` (endpoints.yml `url`) is a full SQLAlchemy URL: SQLite on one machine, PostgreSQL
  past it. Switching is configuration only.
- SQLite gets WAL and a busy timeout, so the dashboard can read while Rasa writes.
- Erasure: when a conversation's `erasure_requested` slot is true at save time (the user confirmed
  `/delete`), all its events are deleted instead of saved, and the dashboard is told. There is no
  open-source Rasa endpoint that deletes a tracker (RasaHQ/rasa#10719), so it happens here, for every
  channel alike.
- Retention: events older than `RETENTION_DAYS` are deleted at start and then every hour.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Optional, Text

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

logger = logging.getLogger(__name__)

ERASURE_SLOT = "erasure_requested"
_PURGE_EVERY_SECONDS = 3600.0


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


class UrlSQLTrackerStore(SQLTrackerStore):
    """`SQLTrackerStore` built from a single URL (see module docstring)."""

    def __init__(
        self,
        domain: Optional[Domain] = None,
        host: Optional[Text] = None,
        event_broker: Optional[EventBroker] = None,
        retention_days: Optional[float] = None,
        dashboard_url: Optional[Text] = None,
        **kwargs: Any,
    ) -> None:
        url = host or os.environ.get("TRACKER_DB_URL") or "sqlite:///state/rasa.db"
        if "://" not in url:
            raise ValueError("TRACKER_DB_URL must be a SQLAlchemy URL, e.g. sqlite:///state/rasa.db")
        _ensure_sqlite_dir(url)
        if url.startswith("sqlite"):
            # WAL must be on before Rasa creates its tables and sessions.
            engine = sa.create_engine(url)
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            engine.dispose()
        super().__init__(domain=domain, host=url, event_broker=event_broker, **kwargs)
        if self.engine.dialect.name == "sqlite":
            # SQLAlchemy 1.4 opens a new SQLite connection for every session (about 34 ms a turn
            # here): keep a small pool of connections instead, each with WAL and a busy timeout.
            self.engine.dispose()
            self.engine = sa.create_engine(
                url,
                poolclass=sa.pool.QueuePool,
                pool_size=2,
                max_overflow=4,
                connect_args={"check_same_thread": False, "timeout": 10},
            )
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        days = retention_days if retention_days is not None else os.environ.get("RETENTION_DAYS", "30")
        self.retention_seconds = float(days) * 86400.0
        self.dashboard_url = dashboard_url or os.environ.get("DASHBOARD_URL", "")
        self._last_purge = 0.0
        self.purge_expired()

    # -- retention ---------------------------------------------------------------------------
    def purge_expired(self, now: Optional[float] = None) -> int:
        """Delete every conversation whose latest event is older than the retention period."""
        now = time.time() if now is None else now
        self._last_purge = now
        if self.retention_seconds <= 0:
            return 0
        cutoff = now - self.retention_seconds
        table = self.SQLEvent.__table__
        with self.engine.begin() as conn:
            stale = sa.select(table.c.sender_id).group_by(table.c.sender_id).having(
                sa.func.max(table.c.timestamp) < cutoff
            )
            senders = [row[0] for row in conn.execute(stale)]
            for chunk_start in range(0, len(senders), 500):
                chunk = senders[chunk_start:chunk_start + 500]
                conn.execute(table.delete().where(table.c.sender_id.in_(chunk)))
        if senders:
            logger.info("retention: deleted %d expired conversations", len(senders))
        return len(senders)

    # -- erasure -----------------------------------------------------------------------------
    def erase(self, sender_id: Text) -> int:
        """Delete every stored event of one conversation. Returns the number of rows deleted."""
        table = self.SQLEvent.__table__
        with self.engine.begin() as conn:
            result = conn.execute(table.delete().where(table.c.sender_id == sender_id))
        return int(result.rowcount or 0)

    async def _notify_dashboard(self, sender_id: Text) -> None:
        token = os.environ.get("RASA_API_TOKEN", "")
        if not self.dashboard_url or not token:
            return
        import aiohttp

        try:
            timeout = aiohttp.ClientTimeout(total=3)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                await session.post(
                    f"{self.dashboard_url}/internal/erasure",
                    data=json.dumps({"sender_id": sender_id}),
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )
        except Exception as exc:  # the dashboard reconciles at start; never fail the turn
            logger.warning("erasure: dashboard not notified (%s); it will reconcile", type(exc).__name__)

    async def save(self, tracker: DialogueStateTracker) -> None:
        if tracker.get_slot(ERASURE_SLOT):
            deleted = await asyncio.get_running_loop().run_in_executor(None, self.erase, tracker.sender_id)
            logger.info("erasure: conversation erased (%d events)", deleted)
            await self._notify_dashboard(tracker.sender_id)
            return
        await super().save(tracker)
        if time.time() - self._last_purge > _PURGE_EVERY_SECONDS:
            await asyncio.get_running_loop().run_in_executor(None, self.purge_expired)
