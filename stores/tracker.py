"""SQL tracker store configured by one URL, with SQLite tuning, retention and erasure.

- `TRACKER_DB_URL` (endpoints.yml `url`) is a full SQLAlchemy URL: SQLite on one machine, PostgreSQL
  past it. Switching is configuration only.
- SQLite gets WAL and a busy timeout, so the dashboard can read while Rasa writes.
- Erasure: when a conversation's `erasure_requested` slot is true at save time (the user confirmed
  `/delete`), all its events are deleted instead of saved, and the dashboard is told. There is no
  open-source Rasa endpoint that deletes a tracker (RasaHQ/rasa#10719), so it happens here, for every
  channel alike.
- Retention: events older than `RETENTION_DAYS` are deleted at start and then every hour.
- Speed: reading a tracker, counting what is already stored and inserting the new events use
  SQLAlchemy Core statements with exactly the semantics of Rasa's `SQLTrackerStore` (events of the
  latest session: timestamp >= the latest `session_started`, ordered by id). Rasa builds ORM queries
  and ORM objects for each of these, which cost ~10 ms of a ~45 ms turn here
  (bench/turn_profile.py, reports/turn_profile.json).
"""

from __future__ import annotations

import asyncio
import itertools
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

    # -- fast paths (same semantics as SQLTrackerStore) -----------------------------------------
    def _session_filter(self, execute: Any, sender_id: Text, query: Any, all_sessions: bool) -> Any:
        table = self.SQLEvent.__table__
        query = query.where(table.c.sender_id == sender_id)
        if all_sessions:
            return query
        start = execute(
            sa.select(sa.func.max(table.c.timestamp)).where(
                table.c.sender_id == sender_id, table.c.type_name == "session_started")
        ).scalar()
        return query if start is None else query.where(table.c.timestamp >= start)

    async def _retrieve(self, sender_id: Text, fetch_events_from_all_sessions: bool) -> Optional[DialogueStateTracker]:
        table = self.SQLEvent.__table__
        with self.session_scope() as session:
            query = self._session_filter(session.execute, sender_id, sa.select(table.c.data),
                                         fetch_events_from_all_sessions)
            rows = session.execute(query.order_by(table.c.id)).scalars().all()
        events = [json.loads(data) for data in rows]
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Any:
        table = self.SQLEvent.__table__
        query = self._session_filter(session.execute, tracker.sender_id,
                                     sa.select(sa.func.count()).select_from(table), False)
        stored = session.execute(query).scalar() or 0
        return itertools.islice(tracker.events, stored, len(tracker.events))

    async def _save_events(self, tracker: DialogueStateTracker) -> None:
        """Rasa's `SQLTrackerStore.save` with one Core multi-row insert instead of ORM objects."""
        await self.stream_events(tracker)
        table = self.SQLEvent.__table__
        with self.session_scope() as session:
            rows = []
            for event in self._additional_events(session, tracker):
                data = event.as_dict()
                rows.append({
                    "sender_id": tracker.sender_id,
                    "type_name": event.type_name,
                    "timestamp": data.get("timestamp"),
                    "intent_name": (data.get("parse_data") or {}).get("intent", {}).get("name"),
                    "action_name": data.get("name"),
                    "data": json.dumps(data),
                })
            if rows:
                session.execute(table.insert(), rows)
            session.commit()

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
        await self._save_events(tracker)
        if time.time() - self._last_purge > _PURGE_EVERY_SECONDS:
            await asyncio.get_running_loop().run_in_executor(None, self.purge_expired)
