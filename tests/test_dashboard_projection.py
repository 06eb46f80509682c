"""The projection rules (pure functions) and the tail against a tracker DB."""
from __future__ import annotations

import json

import sqlalchemy as sa

from dashboard import db as tables
from dashboard.db import Database
from dashboard.projection import Projector, apply_event, channel_of, new_row
from dashboard.queries import status_of
from dashboard.testing import add_events, bot_event, make_tracker, simple_event, slot_event, user_event


def run(events):
    row = new_row("tg-x", 1.0, 1)
    crises = []
    for i, e in enumerate(events, start=1):
        intent = (e.get("parse_data") or {}).get("intent", {}).get("name") if e["event"] == "user" else None
        c = apply_event(row, i, e["event"], e["timestamp"], intent, e)
        if c:
            crises.append(c)
    return row, crises


def test_channel_from_pseudonym():
    assert channel_of("tg-abc") == "tg" and channel_of("web-1") == "web" and channel_of("x") == "other"


def test_crisis_is_critical_at_once_and_escalates():
    row, crises = run([user_event("hi", "greet", ts=10), user_event("...", crisis="violence_intent", ts=20)])
    assert crises == ["violence_intent"]
    assert row["risk_level"] == "critical" and row["risk_rank"] == 4
    assert row["crisis_category"] == "violence_intent" and row["crisis_ts"] == 20
    assert row["escalated_ts"] == 20 and row["n_user"] == 2


def test_crisis_intent_without_detector_mark_counts_too():
    e = user_event("x", "crisis_travel_intent")
    row, crises = run([e])
    assert crises == ["travel_intent"]


def test_slots_set_risk_reasons_theme_language_human():
    row, _ = run([user_event("they hate us", "narrative_west_at_war_with_islam", ts=5),
                  slot_event("risk_level", "high", ts=5),
                  slot_event("risk_reasons", ["glorification:martyrdom_glory"], ts=5),
                  slot_event("active_theme", "martyrdom_glory", ts=5),
                  slot_event("language", "fr", ts=5),
                  slot_event("human_requested", True, ts=6),
                  slot_event("risk_level", "not-a-level", ts=7)])
    assert row["risk_level"] == "high"
    assert json.loads(row["risk_reasons"]) == ["glorification:martyrdom_glory"]
    assert row["theme"] == "martyrdom_glory"
    assert json.loads(row["themes_seen"]) == ["west_at_war_with_islam", "martyrdom_glory"]
    assert row["language"] == "fr" and row["human_requested"] is True and row["escalated_ts"] == 6


def test_pause_resume_restart_and_worker_messages():
    row, _ = run([user_event("hi", "greet", ts=1), simple_event("pause", ts=2),
                  bot_event("hello, a person here", {"from": "worker", "worker": "worker-1"}, ts=3),
                  simple_event("pause", ts=4)])
    assert row["paused"] is True and row["handoffs"] == 1  # a repeated pause is not a new handoff
    assert row["n_worker"] == 1 and row["n_bot"] == 0 and row["first_worker_ts"] == 3
    assert status_of(row) == "human"
    row2, _ = run([simple_event("pause", ts=1), simple_event("resume", ts=2)])
    assert row2["paused"] is False and status_of(row2) == "bot"
    row3, _ = run([simple_event("pause", ts=1), slot_event("human_requested", True, ts=1),
                   simple_event("restart", ts=2)])
    assert row3["paused"] is False and row3["human_requested"] is False


def test_closed_until_the_next_user_message():
    row, _ = run([user_event("hi", "greet", ts=1)])
    row["closed_at"] = 5
    assert status_of(row) == "closed"
    row["last_user_ts"] = 6
    assert status_of(row) == "bot"


def test_tail_is_incremental_and_rebuilds_when_ids_go_backwards(tmp_path):
    tracker_url = f"sqlite:///{tmp_path}/rasa.db"
    tracker = make_tracker(tracker_url)
    database = Database(f"sqlite:///{tmp_path}/dash.db", tracker_url)
    database.migrate()
    projector = Projector(database, batch=3)
    add_events(tracker, "tg-a", *[user_event(f"m{i}", "greet") for i in range(4)])
    add_events(tracker, "tg-b", user_event("x", crisis="self_harm"))
    first = projector.tail_once()
    assert first["more"] is True and first["changed"] == ["tg-a"]
    second = projector.tail_once()
    assert sorted(second["changed"]) == ["tg-a", "tg-b"]
    assert second["crises"] == [{"sender_id": "tg-b", "category": "self_harm"}]
    assert projector.tail_once()["changed"] == []
    with database.engine.connect() as conn:
        n_user = conn.execute(sa.select(tables.conversations.c.n_user)
                              .where(tables.conversations.c.sender_id == "tg-a")).scalar()
    assert n_user == 4  # every event applied exactly once across batches
    # a new, empty tracker DB (ids restart): the projection rebuilds from scratch
    tracker.dispose()
    (tmp_path / "rasa.db").unlink()
    tracker = make_tracker(tracker_url)
    database.tracker.dispose()
    add_events(tracker, "tg-c", user_event("new", "greet"))
    projector.catch_up()
    with database.engine.connect() as conn:
        senders = {r[0] for r in conn.execute(sa.select(tables.conversations.c.sender_id))}
    assert senders == {"tg-c"}
    database.close()
