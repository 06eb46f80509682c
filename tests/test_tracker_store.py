"""The URL-configured tracker store: SQLite tuning, erasure on save, retention."""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from stores.tracker import UrlSQLTrackerStore
from tests.conftest import ROOT


def make_store(tmp_path, **kwargs):
    domain = Domain.load(str(ROOT / "domain.yml"))
    return UrlSQLTrackerStore(domain=domain, host=f"sqlite:///{tmp_path / 'rasa.db'}", dashboard_url="", **kwargs), domain


def count(store, sender):
    table = store.SQLEvent.__table__
    with store.engine.connect() as conn:
        return conn.execute(table.select().where(table.c.sender_id == sender)).fetchall().__len__()


def test_sqlite_runs_in_wal_mode_with_pooled_connections(tmp_path):
    store, _ = make_store(tmp_path)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
    assert store.engine.pool.__class__.__name__ == "QueuePool"


def test_save_then_erase_on_request(tmp_path):
    store, domain = make_store(tmp_path)
    tracker = DialogueStateTracker.from_events("web-a", [UserUttered("hello", {"name": "greet", "confidence": 1.0})], slots=domain.slots)
    asyncio.run(store.save(tracker))
    assert count(store, "web-a") >= 1
    tracker.update(SlotSet("erasure_requested", True))
    asyncio.run(store.save(tracker))
    assert count(store, "web-a") == 0
    assert asyncio.run(store.retrieve("web-a")) is None


def test_retention_deletes_only_expired_conversations(tmp_path):
    store, domain = make_store(tmp_path, retention_days=1)
    old = DialogueStateTracker.from_events("web-old", [UserUttered("hi", {"name": "greet"}, timestamp=time.time() - 3 * 86400)], slots=domain.slots)
    new = DialogueStateTracker.from_events("web-new", [UserUttered("hi", {"name": "greet"})], slots=domain.slots)
    asyncio.run(store.save(old))
    asyncio.run(store.save(new))
    assert store.purge_expired() == 1
    assert count(store, "web-old") == 0 and count(store, "web-new") >= 1


def test_fast_paths_store_and_read_exactly_like_rasas_sql_tracker_store(tmp_path):
    """Same rows, same trackers (latest session and full) as Rasa's own SQLTrackerStore."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted

    ours, domain = make_store(tmp_path)
    stock = SQLTrackerStore(domain=domain, host=f"sqlite:///{tmp_path / 'stock.db'}")
    t0 = time.time() - 100
    turns = [
        [ActionExecuted("action_session_start", timestamp=t0), SessionStarted(timestamp=t0 + 1),
         ActionExecuted("action_listen", timestamp=t0 + 2)],
        [UserUttered("bonjour", {"name": "greet", "confidence": 0.9}, timestamp=t0 + 3),
         SlotSet("language", "fr", timestamp=t0 + 4), BotUttered("salut", {}, {"kind": "x"}, timestamp=t0 + 5),
         ActionExecuted("action_listen", timestamp=t0 + 6)],
        [ActionExecuted("action_session_start", timestamp=t0 + 50), SessionStarted(timestamp=t0 + 51),
         SlotSet("language", "fr", timestamp=t0 + 52), ActionExecuted("action_listen", timestamp=t0 + 53)],
        [UserUttered("merci", {"name": "thanks", "confidence": 0.8}, timestamp=t0 + 60),
         ActionExecuted("utter_thanks", timestamp=t0 + 61)],
    ]
    for store in (ours, stock):
        for events in turns:  # as Rasa does each turn: read the latest session, add, save
            tracker = asyncio.run(store.retrieve("tg-x")) or DialogueStateTracker.from_events(
                "tg-x", [], slots=domain.slots)
            for event in events:
                tracker.update(event)
            asyncio.run(store.save(tracker))
    columns = ("sender_id", "type_name", "timestamp", "intent_name", "action_name", "data")

    def rows(store):
        table = store.SQLEvent.__table__
        with store.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.select(*[table.c[c] for c in columns]).order_by(table.c.id))]

    assert rows(ours) == rows(stock) and len(rows(ours)) == 13
    latest_ours, latest_stock = asyncio.run(ours.retrieve("tg-x")), asyncio.run(stock.retrieve("tg-x"))
    assert latest_ours.events == latest_stock.events and len(latest_ours.events) == 5
    full_ours = asyncio.run(ours.retrieve_full_tracker("tg-x"))
    assert full_ours.events == asyncio.run(stock.retrieve_full_tracker("tg-x")).events
    assert len(full_ours.events) == 13
    assert asyncio.run(ours.retrieve("nobody")) is None
