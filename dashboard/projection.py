"""Projection: tail the tracker store's ``events`` table into one summary row per conversation.

The tracker store stays the single source of truth; the ``conversations`` table is a cache that can
be rebuilt from it at any time (delete its rows and the ``last_event_id`` pointer). Pure functions
(`apply_event`) do the work so they can be tested without a database.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from . import db as tables
from .db import Database

logger = logging.getLogger(__name__)

RISK_LEVELS = ["none", "low", "medium", "high", "critical"]
RISK_RANK = {name: rank for rank, name in enumerate(RISK_LEVELS)}
CRISIS_INTENTS = {"crisis_self_harm", "crisis_violence_intent", "crisis_travel_intent"}
THEME_PREFIX = "narrative_"


def channel_of(sender_id: str) -> str:
    if sender_id.startswith("tg-"):
        return "tg"
    if sender_id.startswith("web-"):
        return "web"
    return "other"


def parse_data(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def user_intent(event: dict[str, Any], column_intent: str | None = None) -> str | None:
    intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
    return intent or column_intent


def crisis_of(event: dict[str, Any], intent: str | None) -> str | None:
    """Crisis category of a user event, or None. Either the detector's mark or a crisis intent."""
    crisis = (event.get("parse_data") or {}).get("crisis")
    if isinstance(crisis, dict) and crisis.get("category"):
        return str(crisis["category"])
    if intent in CRISIS_INTENTS:
        return intent[len("crisis_"):]
    return None


def is_worker_message(event: dict[str, Any]) -> bool:
    meta = event.get("metadata") or {}
    return isinstance(meta, dict) and meta.get("from") == "worker"


def new_row(sender_id: str, ts: float, event_id: int) -> dict[str, Any]:
    return {
        "sender_id": sender_id, "channel": channel_of(sender_id), "first_ts": ts, "last_ts": ts,
        "last_user_ts": None, "last_event_id": event_id, "n_user": 0, "n_bot": 0, "n_worker": 0,
        "risk_level": "none", "risk_rank": 0, "risk_reasons": "[]", "theme": None,
        "themes_seen": "[]", "language": None, "paused": False, "paused_since": None,
        "human_requested": False, "crisis_category": None, "crisis_ts": None, "n_crisis": 0,
        "escalated_ts": None, "first_worker_ts": None, "handoffs": 0, "closed_at": None,
        "esc_start_ts": None, "esc_start_id": None, "esc_last_ts": None, "esc_last_id": None,
    }


def _signal(row: dict[str, Any], event_id: int, ts: float) -> None:
    """Something that needs a person happened (a request, a crisis, a pause, a message to a paused
    bot). It opens a new escalation episode unless one is open: the episode's start is what the
    overdue clock counts from. A worker's hand-back or close resolves it (``esc_resolved_id``, written
    by the dashboard and only read here)."""
    resolved = row.get("esc_resolved_id") or 0
    if row.get("esc_start_id") is None or row["esc_start_id"] <= resolved:
        row["esc_start_id"], row["esc_start_ts"] = event_id, ts
    row["esc_last_id"], row["esc_last_ts"] = event_id, ts


def _add_theme(row: dict[str, Any], theme: str) -> None:
    seen = json.loads(row["themes_seen"] or "[]")
    if theme not in seen:
        seen.append(theme)
        row["themes_seen"] = json.dumps(seen)


def apply_event(row: dict[str, Any], event_id: int, type_name: str, ts: float,
                intent_name: str | None, data: dict[str, Any]) -> str | None:
    """Update ``row`` in place with one tracker event. Returns a crisis category when it is one."""
    ts = float(ts or time.time())
    row["last_ts"] = max(row["last_ts"] or ts, ts)
    row["last_event_id"] = max(row["last_event_id"] or 0, event_id)
    crisis = None
    if type_name == "user":
        row.pop("_session_start", None)
        if row["paused"]:  # the bot will not answer: this person waits for a human
            _signal(row, event_id, ts)
        row["n_user"] += 1
        row["last_user_ts"] = ts
        intent = user_intent(data, intent_name)
        if intent and intent.startswith(THEME_PREFIX):
            _add_theme(row, intent[len(THEME_PREFIX):])
            row["theme"] = row["theme"] or intent[len(THEME_PREFIX):]
        crisis = crisis_of(data, intent)
        if crisis:
            row["crisis_category"] = crisis
            row["crisis_ts"] = ts
            row["n_crisis"] += 1
            row["risk_level"], row["risk_rank"] = "critical", RISK_RANK["critical"]
            row["escalated_ts"] = row["escalated_ts"] or ts
            _signal(row, event_id, ts)
    elif type_name == "bot":
        if is_worker_message(data):
            row["n_worker"] += 1
            row["first_worker_ts"] = row["first_worker_ts"] or ts
        else:
            row["n_bot"] += 1
    elif type_name == "slot":
        name, value = data.get("name"), data.get("value")
        if name == "risk_level" and value in RISK_RANK:
            row["risk_level"], row["risk_rank"] = value, RISK_RANK[value]
        elif name == "risk_reasons":
            row["risk_reasons"] = json.dumps([str(v) for v in value] if isinstance(value, list) else [])
        elif name == "active_theme":
            if value:
                row["theme"] = str(value)
                _add_theme(row, str(value))
        elif name == "language":
            row["language"] = str(value)[:8] if value else None
        elif name == "human_requested":
            row["human_requested"] = bool(value)
            if value:
                row["escalated_ts"] = row["escalated_ts"] or ts
                if not row.get("_session_start"):  # not the carry-over copy of a new session
                    _signal(row, event_id, ts)
        elif name == "crisis_category" and value:
            row["crisis_category"] = str(value)[:32]
    elif type_name == "pause":
        if not row["paused"]:
            row["handoffs"] += 1
        row["paused"], row["paused_since"] = True, ts
        row["escalated_ts"] = row["escalated_ts"] or ts
        _signal(row, event_id, ts)
    elif type_name == "resume":
        row["paused"], row["paused_since"] = False, None
    elif type_name == "restart":
        row["paused"], row["paused_since"] = False, None
        row["human_requested"] = False
        if row.get("crisis_ts") is None:  # the person started over; a crisis stays open
            row["esc_start_id"] = row["esc_start_ts"] = None
    elif type_name == "session_started":
        # Rasa copies the slots into the new session right after this event (carry-over)
        row["_session_start"] = True
    return crisis


class Broadcaster:
    """Fan-out of small JSON messages to the server-sent-event clients (one queue each)."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue] = set()

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=100)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._queues.discard(queue)

    def publish(self, message: dict[str, Any]) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                pass  # a slow client misses one update; the next one refreshes everything

    def close(self) -> None:
        self.publish({"type": "bye"})

    @property
    def clients(self) -> int:
        return len(self._queues)


COLUMNS = [c.name for c in tables.conversations.columns]


class Projector:
    """Tails ``events`` by id and keeps ``conversations`` up to date."""

    def __init__(self, db: Database, batch: int = 5000) -> None:
        self.db = db
        self.batch = batch
        # One tail at a time: the loop and the handlers that want fresh state after an action.
        self._lock = threading.Lock()

    # --- synchronous parts (run in the DB thread pool) -------------------------------------
    def last_id(self) -> int:
        with self.db.engine.connect() as conn:
            value = conn.execute(
                sa.select(tables.projection_state.c.value).where(
                    tables.projection_state.c.key == "last_event_id")
            ).scalar()
        return int(value or 0)

    def tail_once(self) -> dict[str, Any]:
        """Apply the next batch of events. Returns changed senders, crises and whether more wait."""
        with self._lock:
            return self._tail_once()

    def _tail_once(self) -> dict[str, Any]:
        result: dict[str, Any] = {"changed": [], "crises": [], "more": False}
        if not self.db.tracker_ready():
            return result
        last = self.last_id()
        ev = tables.events
        with self.db.tracker.connect() as tconn:
            rows = tconn.execute(
                sa.select(ev.c.id, ev.c.sender_id, ev.c.type_name, ev.c.timestamp,
                          ev.c.intent_name, ev.c.data)
                .where(ev.c.id > last).order_by(ev.c.id).limit(self.batch)
            ).fetchall()
            if not rows and last:
                top = tconn.execute(sa.select(sa.func.max(ev.c.id))).scalar() or 0
                if top < last:
                    logger.warning("tracker events id went backwards (%s < %s): rebuilding", top, last)
                    self._reset()
                    result["more"] = True
                    return result
        if not rows:
            return result
        by_sender: dict[str, list[Any]] = {}
        for row in rows:
            by_sender.setdefault(row.sender_id, []).append(row)
        conv = tables.conversations
        with self.db.engine.begin() as conn:
            existing: dict[str, dict[str, Any]] = {}
            senders = list(by_sender)
            for i in range(0, len(senders), 500):
                chunk = senders[i:i + 500]
                for r in conn.execute(sa.select(conv).where(conv.c.sender_id.in_(chunk))):
                    existing[r.sender_id] = dict(r._mapping)
            inserts, updates = [], []
            for sender, events in by_sender.items():
                current = existing.get(sender)
                is_new = current is None
                if is_new:
                    current = new_row(sender, float(events[0].timestamp or time.time()), events[0].id)
                for e in events:
                    crisis = apply_event(current, e.id, e.type_name, e.timestamp, e.intent_name,
                                         parse_data(e.data))
                    if crisis:
                        result["crises"].append({"sender_id": sender, "category": crisis})
                (inserts if is_new else updates).append(current)
                result["changed"].append(sender)
            for row in inserts + updates:  # transient markers are not columns
                row.pop("_session_start", None)
            if inserts:
                conn.execute(conv.insert(), inserts)
            if updates:
                stmt = conv.update().where(conv.c.sender_id == sa.bindparam("b_sender")).values(
                    {c: sa.bindparam("b_" + c) for c in COLUMNS
                     if c != "sender_id" and c not in tables.DASHBOARD_OWNED})
                conn.execute(stmt, [{"b_" + k: v for k, v in u.items()} | {"b_sender": u["sender_id"]}
                                    for u in updates])
            self._set_last(conn, rows[-1].id)
        result["more"] = len(rows) == self.batch
        return result

    def _set_last(self, conn, value: int) -> None:
        st = tables.projection_state
        done = conn.execute(st.update().where(st.c.key == "last_event_id").values(value=value))
        if done.rowcount == 0:
            conn.execute(st.insert().values(key="last_event_id", value=value))

    def _reset(self) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(tables.conversations.delete())
            self._set_last(conn, 0)

    def reconcile(self) -> list[str]:
        """Senders that have a projection row but no events any more (erased while we were down)."""
        if not self.db.tracker_ready():
            return []
        with self.db.tracker.connect() as tconn:
            present = {r[0] for r in tconn.execute(sa.select(tables.events.c.sender_id).distinct())}
        with self.db.engine.connect() as conn:
            projected = {r[0] for r in conn.execute(sa.select(tables.conversations.c.sender_id))}
        return sorted(projected - present)

    def catch_up(self, max_batches: int = 1000) -> int:
        n = 0
        for _ in range(max_batches):
            res = self.tail_once()
            n += len(res["changed"])
            if not res["more"]:
                break
        return n

    # --- async loop -------------------------------------------------------------------------
    async def step(self, broadcaster: Broadcaster) -> dict[str, Any]:
        """Tail once now and tell the live clients. Handlers call it after an action so that the
        page they redirect to already shows the new state."""
        try:
            res = await self.db.run(self.tail_once)
        except asyncio.CancelledError:
            raise
        except Exception:  # keep tailing: a locked or missing DB is transient
            logger.exception("projection tail failed")
            res = {"changed": [], "crises": [], "more": False}
        if res["changed"]:
            broadcaster.publish({"type": "update", "changed": len(res["changed"]),
                                 "crises": res["crises"][-20:]})
        return res

    async def run(self, broadcaster: Broadcaster, interval: float = 0.5,
                  reconcile_every: float = 3600.0, on_gone=None) -> None:
        last_reconcile = time.monotonic()
        while True:
            res = await self.step(broadcaster)
            if on_gone is not None and time.monotonic() - last_reconcile > reconcile_every:
                # conversations whose events were all deleted (retention) leave the dashboard too
                last_reconcile = time.monotonic()
                try:
                    for sender in await self.db.run(self.reconcile):
                        await self.db.run(on_gone, sender)
                except Exception:
                    logger.exception("reconcile failed")
            if not res["more"]:
                await asyncio.sleep(interval)


def erase_sender(conn, sender_id: str) -> dict[str, int]:
    """Delete everything the dashboard holds about one conversation (no audit here)."""
    counts = {}
    for name, table in (("notes", tables.notes), ("tags", tables.tags),
                        ("assignments", tables.assignments), ("conversations", tables.conversations)):
        counts[name] = conn.execute(table.delete().where(table.c.sender_id == sender_id)).rowcount
    return counts


def iter_chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
