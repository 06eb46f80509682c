"""The URL-configured tracker store: SQLite tuning, erasure on save, retention."""

from __future__ import annotations

import asyncio
import time

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
