"""Unclaimed escalations expire: overdue flag, alert and audit, automatic hand-back of a paused
conversation nobody holds (through Rasa's API, like a worker's hand-back), crisis pinned at the top.
Real aiohttp app and fake Rasa API on loopback; the dashboard's clock is a FakeClock that the tests
move forward instead of sleeping for minutes."""
from __future__ import annotations

import asyncio
import re
import time

import pytest
import pytest_asyncio
import sqlalchemy as sa

from dashboard import actions, auth, migrations, queries
from dashboard import db as tables
from dashboard.app import create_app
from dashboard.config import Settings
from dashboard.escalations import SYSTEM_NAME
from dashboard.keys import BROADCASTER, DB, ESCALATION_TASK, ESCALATIONS, PROJECTOR
from dashboard.migrations import m0001_initial, m0002_escalation_watch
from dashboard.projection import apply_event, new_row
from dashboard.testing import (
    FakeClock,
    FakeRasa,
    add_events,
    make_settings,
    make_tracker,
    simple_event,
    slot_event,
    user_event,
)
from tests.test_dashboard_app import PASSWORD, TOKEN, audit_actions, csrf_of, login

TIMEOUT = 15 * 60
MIN = 60


@pytest.fixture
def tracker(tmp_path):
    return make_tracker(f"sqlite:///{tmp_path}/rasa.db")


@pytest_asyncio.fixture
async def fake_rasa(aiohttp_server, tracker):
    fake = FakeRasa(tracker, TOKEN)
    server = await aiohttp_server(fake.app)
    fake.url = str(server.make_url("")).rstrip("/")
    return fake


async def start(aiohttp_client, tmp_path, tracker, fake_rasa=None, workers=True, **overrides):
    clock = FakeClock()
    values = {"rasa_url": fake_rasa.url if fake_rasa else "http://127.0.0.1:9", "clock": clock,
              "escalation_check_interval": 0}  # no background sweeps unless a test asks
    values.update(overrides)
    app = create_app(make_settings(tmp_path, **values))
    cl = await aiohttp_client(app)
    for name, role in (("wendy", "worker"), ("sam", "supervisor"), ("ada", "admin")) if workers else ():
        await app[DB].run(auth.create_worker, app[DB].engine, name, PASSWORD, role)
    cl.clock, cl.tracker, cl.fake_rasa = clock, tracker, fake_rasa
    return cl


@pytest_asyncio.fixture
async def esc(aiohttp_client, tmp_path, tracker, fake_rasa):
    return await start(aiohttp_client, tmp_path, tracker, fake_rasa)


async def project(cl):
    """Tail the tracker now (the background tail would do the same within 0.1 s)."""
    await cl.app[PROJECTOR].step(cl.app[BROADCASTER])


async def sweep(cl):
    return await cl.app[ESCALATIONS].sweep()


def senders(html):
    return re.findall(r'data-sender="([^"]+)"', html)


def row_of(html, sender):
    match = re.search(rf'<tr class="([^"]*)" data-sender="{re.escape(sender)}">(.*?)</tr>', html, re.S)
    assert match, f"{sender} is not in the queue"
    return match.group(1).split(), match.group(2)


async def queue_html(cl, **params):
    resp = await cl.get("/queue/rows", params=params)
    assert resp.status == 200
    return await resp.text()


def conv_row(cl, sender):
    with cl.app[DB].engine.connect() as conn:
        return conn.execute(sa.select(tables.conversations).where(
            tables.conversations.c.sender_id == sender)).first()


def assignments(cl):
    with cl.app[DB].engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(tables.assignments.c.sender_id,
                                                         tables.assignments.c.worker_id))]


def ask_for_person(cl, sender, ts):
    add_events(cl.tracker, sender, user_event("can I talk to a real person", "request_human", ts=ts),
               slot_event("human_requested", True, ts=ts))


async def post(cl, sender, action):
    csrf = await csrf_of(cl, f"/c/{sender}")
    return await (await cl.post(f"/c/{sender}/{action}", data={"csrf_token": csrf})).text()


def rasa_events(cl):
    return [body["event"] for kind, body in cl.fake_rasa.requests if kind == "tracker_events"]


# --- overdue flag, wait shown, alert once ---------------------------------------------------------

async def test_unclaimed_request_is_flagged_overdue_once_with_its_wait(esc):
    ask_for_person(esc, "tg-r1", esc.clock.now)
    await project(esc)
    await login(esc)
    classes, cells = row_of(await queue_html(esc), "tg-r1")
    assert "unclaimed" in classes and "overdue" not in classes
    assert "needs a person" in cells and "waiting under a minute" in cells
    assert (await sweep(esc))["overdue"] == []

    esc.clock.advance(14 * MIN)
    classes, cells = row_of(await queue_html(esc), "tg-r1")
    assert "overdue" not in classes and "waiting 14 min" in cells

    esc.clock.advance(2 * MIN)
    html = await queue_html(esc)
    classes, cells = row_of(html, "tg-r1")
    assert "overdue" in classes and 'class="badge overdue"' in cells and "waiting 16 min" in cells
    assert "overdue (unclaimed over 15 min): 1" in html
    assert senders(await queue_html(esc, overdue="1")) == ["tg-r1"]
    page = await (await esc.get("/c/tg-r1")).text()
    assert "waiting 16 min" in page and "<strong>overdue</strong>" in page
    assert "The bot is answering in the meantime." in page

    done = await sweep(esc)
    assert [(o["sender_id"], o["category"]) for o in done["overdue"]] == [("tg-r1", None)]
    assert done["overdue"][0]["waited_s"] >= 16 * MIN - 5
    assert done["handed_back"] == [] and rasa_events(esc) == []  # the bot was answering anyway
    overdue = [a for a in audit_actions(esc) if a[0] == "escalation_overdue"]
    assert len(overdue) == 1
    assert overdue[0][1:3] == (SYSTEM_NAME, "tg-r1") and overdue[0][3].startswith("waited_s=")
    # once per wait: no second alert or audit row while it keeps waiting
    esc.clock.advance(10 * MIN)
    assert (await sweep(esc))["overdue"] == []
    assert len([a for a in audit_actions(esc) if a[0] == "escalation_overdue"]) == 1
    # claiming it ends the flag
    await post(esc, "tg-r1", "claim")
    assert senders(await queue_html(esc, unclaimed="1")) == []
    assert "overdue" not in row_of(await queue_html(esc), "tg-r1")[0]


async def test_overdue_alert_reaches_open_pages(esc):
    ask_for_person(esc, "tg-live", esc.clock.now - 20 * MIN)
    await project(esc)
    await login(esc)
    resp = await esc.get("/events")
    assert b"hello" in await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 2)
    await sweep(esc)
    data = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 2)
    assert b"event: update" in data and b'"overdue": [{"sender_id": "tg-live"' in data
    assert b"real person" not in data  # never message text on the wire
    resp.close()


# --- automatic hand-back ----------------------------------------------------------------------------

async def test_paused_conversation_nobody_holds_is_handed_back_through_rasa(esc):
    ask_for_person(esc, "tg-p1", esc.clock.now)
    await project(esc)
    await login(esc)
    assert "the bot is paused" in await post(esc, "tg-p1", "take-over")
    await project(esc)
    esc.clock.advance(30 * MIN)  # long ago, but a worker holds it: nothing to do
    assert await sweep(esc) == {"overdue": [], "handed_back": [], "failed": []}

    # the worker lets go without handing back: the bot stays paused, the person is alone
    assert "Claim released." in await post(esc, "tg-p1", "release")
    classes, cells = row_of(await queue_html(esc), "tg-p1")
    assert "unclaimed" in classes and "waiting under a minute" in cells and "human" in cells
    esc.clock.advance(10 * MIN)  # the wait counts from the release, not from the request
    assert await sweep(esc) == {"overdue": [], "handed_back": [], "failed": []}

    esc.clock.advance(6 * MIN)
    done = await sweep(esc)
    assert done["handed_back"] == ["tg-p1"] and [o["sender_id"] for o in done["overdue"]] == ["tg-p1"]
    assert rasa_events(esc) == ["pause", "resume"]  # the fake API checked the JWT
    # the person is told, by the bot itself, that nobody was free and the assistant is back
    notices = [body for kind, body in esc.fake_rasa.requests if kind == "bot_notice"]
    assert notices == [{"sender_id": "tg-p1", "notice": "handback"}]
    kinds = [kind for kind, _b in esc.fake_rasa.requests]
    assert kinds.index("bot_notice") > len(kinds) - 1 - kinds[::-1].index("tracker_events")
    assert conv_row(esc, "tg-p1").paused is False
    assert assignments(esc) == []  # the watch's short hold is gone
    hand_backs = [a for a in audit_actions(esc) if a[0] == "auto_hand_back"]
    assert hand_backs == [("auto_hand_back", SYSTEM_NAME, "tg-p1", f"unclaimed_s={16 * MIN}; timeout_s={TIMEOUT}")]
    # still waiting for a person and still flagged, now with the bot answering
    classes, cells = row_of(await queue_html(esc), "tg-p1")
    assert {"unclaimed", "overdue"} <= set(classes) and "bot" in cells
    assert "handed back to the bot" in await (await esc.get("/c/tg-p1/messages")).text()
    esc.clock.advance(5 * MIN)
    assert (await sweep(esc))["handed_back"] == [] and rasa_events(esc) == ["pause", "resume"]


async def test_unclaimed_crisis_and_overdue_escalations_stay_on_the_first_page(
        aiohttp_client, tmp_path, tracker, fake_rasa):
    cl = await start(aiohttp_client, tmp_path, tracker, fake_rasa, queue_page_size=3)
    now = cl.clock.now
    # a crisis whose risk level the bot later lowered, and an old request for a person
    add_events(cl.tracker, "tg-sos", user_event("...", crisis="self_harm", ts=now - 100),
               slot_event("risk_level", "medium", ts=now - 99))
    ask_for_person(cl, "tg-wait", now - 20 * MIN)
    for i in range(4):  # newer, higher-risk conversations that nobody escalated
        add_events(cl.tracker, f"tg-h{i}", user_event("they hate us", "greet", ts=now - 10 + i),
                   slot_event("risk_level", "critical", ts=now - 10 + i))
    await project(cl)
    await login(cl)
    assert senders(await queue_html(cl)) == ["tg-sos", "tg-wait", "tg-h3"]
    assert senders(await queue_html(cl, unclaimed="1")) == ["tg-sos", "tg-wait"]
    assert senders(await queue_html(cl, language="fr")) == []  # filters still apply


async def test_crisis_handed_back_stays_at_the_top_and_flagged(esc):
    now = esc.clock.now
    add_events(esc.tracker, "tg-sos", user_event("...", crisis="self_harm", ts=now),
               simple_event("pause", ts=now))  # paused outside the dashboard, nobody claimed
    add_events(esc.tracker, "tg-new", user_event("hi", "greet", ts=now + 5),
               slot_event("risk_level", "critical", ts=now + 5))
    await project(esc)
    await login(esc)
    esc.clock.advance(16 * MIN)
    done = await sweep(esc)
    assert done["handed_back"] == ["tg-sos"]
    assert done["overdue"][0]["category"] == "self_harm"
    html = await queue_html(esc)
    assert senders(html)[0] == "tg-sos"
    classes, cells = row_of(html, "tg-sos")
    assert {"unclaimed", "overdue"} <= set(classes) and "crisis: self_harm" in cells and "bot" in cells
    detail = [a[3] for a in audit_actions(esc) if a[0] == "escalation_overdue"][0]
    assert "crisis=self_harm" in detail and "risk=critical" in detail


async def test_background_watch_runs_without_being_called(aiohttp_client, tmp_path, tracker, fake_rasa):
    cl = await start(aiohttp_client, tmp_path, tracker, fake_rasa, escalation_check_interval=0.05)
    assert ESCALATION_TASK in cl.app
    now = cl.clock.now
    add_events(cl.tracker, "tg-bg", user_event("hello?", "greet", ts=now), simple_event("pause", ts=now))
    cl.clock.advance(TIMEOUT + 1)
    for _ in range(100):  # up to 5 s of real time for the 0.05 s loop
        if "bot_notice" in [kind for kind, _b in cl.fake_rasa.requests]:  # the hand-back's last step
            break
        await asyncio.sleep(0.05)
    assert rasa_events(cl) == ["resume"]
    assert any(a[0] == "auto_hand_back" for a in audit_actions(cl))


async def test_hand_back_by_a_worker_resolves_and_a_new_request_reopens(esc):
    ask_for_person(esc, "tg-h", esc.clock.now)
    await project(esc)
    await login(esc)
    await post(esc, "tg-h", "take-over")
    await project(esc)
    assert "Handed back to the bot." in await post(esc, "tg-h", "hand-back")
    assert senders(await queue_html(esc, unclaimed="1")) == []
    esc.clock.advance(60 * MIN)
    assert await sweep(esc) == {"overdue": [], "handed_back": [], "failed": []}
    # the person asks again: a new escalation, with its own clock
    add_events(esc.tracker, "tg-h", slot_event("human_requested", True, ts=esc.clock.now))
    await project(esc)
    classes, cells = row_of(await queue_html(esc), "tg-h")
    assert "unclaimed" in classes and "waiting under a minute" in cells
    esc.clock.advance(16 * MIN)
    assert [o["sender_id"] for o in (await sweep(esc))["overdue"]] == ["tg-h"]


async def test_closed_while_paused_then_the_person_writes(esc):
    ask_for_person(esc, "tg-c", esc.clock.now)
    await project(esc)
    await login(esc)
    await post(esc, "tg-c", "take-over")
    await project(esc)
    assert "Conversation closed." in await post(esc, "tg-c", "close")  # closed, bot still paused
    esc.clock.advance(60 * MIN)
    assert senders(await queue_html(esc, unclaimed="1")) == []
    assert await sweep(esc) == {"overdue": [], "handed_back": [], "failed": []}
    add_events(esc.tracker, "tg-c", user_event("hello? anyone?", "greet", ts=esc.clock.advance(5)))
    await project(esc)
    classes, cells = row_of(await queue_html(esc), "tg-c")
    assert "unclaimed" in classes and "waiting under a minute" in cells
    esc.clock.advance(16 * MIN)
    assert (await sweep(esc))["handed_back"] == ["tg-c"]


async def test_a_worker_who_claims_first_keeps_the_conversation(esc):
    now = esc.clock.now
    add_events(esc.tracker, "tg-w", user_event("hello?", "greet", ts=now), simple_event("pause", ts=now))
    await project(esc)
    esc.clock.advance(20 * MIN)
    await login(esc)
    # while the watch holds it (a few milliseconds in real life), a claim is refused ...
    engine = esc.app[DB].engine
    assert await esc.app[DB].run(actions.lock_for_hand_back, engine, "tg-w", esc.clock.now, TIMEOUT)
    assert "Someone else has claimed" in await post(esc, "tg-w", "claim")
    await esc.app[DB].run(actions.unlock, engine, "tg-w")
    # ... and once a worker holds it, the watch leaves it alone
    assert "You have claimed" in await post(esc, "tg-w", "claim")
    assert not await esc.app[DB].run(actions.lock_for_hand_back, engine, "tg-w", esc.clock.now, TIMEOUT)
    assert await sweep(esc) == {"overdue": [], "handed_back": [], "failed": []}
    assert rasa_events(esc) == []


async def test_a_hold_left_by_a_crash_is_dropped_at_start(aiohttp_client, tmp_path, tracker, fake_rasa):
    cl = await start(aiohttp_client, tmp_path, tracker, fake_rasa)
    engine = cl.app[DB].engine
    with engine.begin() as conn:
        conn.execute(tables.assignments.insert().values(sender_id="tg-x", worker_id=actions.SYSTEM_WORKER_ID,
                                                        claimed_at=time.time()))
        conn.execute(tables.assignments.insert().values(sender_id="tg-y", worker_id=1, claimed_at=time.time()))
    await start(aiohttp_client, tmp_path, tracker, fake_rasa, workers=False)
    assert assignments(cl) == [("tg-y", 1)]


async def test_rasa_down_keeps_it_flagged_and_retries(aiohttp_client, tmp_path, tracker):
    cl = await start(aiohttp_client, tmp_path, tracker)  # RASA_URL points at a closed port
    now = cl.clock.now
    add_events(tracker, "tg-d", user_event("...", crisis="violence_intent", ts=now), simple_event("pause", ts=now))
    await project(cl)
    cl.clock.advance(16 * MIN)
    done = await sweep(cl)
    assert done["failed"] == ["tg-d"] and done["handed_back"] == []
    assert assignments(cl) == [] and conv_row(cl, "tg-d").paused is True
    await login(cl)
    classes, _ = row_of(await queue_html(cl), "tg-d")
    assert {"unclaimed", "overdue"} <= set(classes)
    assert [a[0] for a in audit_actions(cl) if a[0] in ("escalation_overdue", "auto_hand_back")] == [
        "escalation_overdue"]
    assert (await sweep(cl))["failed"] == []  # not hammering a server that is down
    cl.clock.advance(61)
    assert (await sweep(cl))["failed"] == ["tg-d"]


async def test_hand_back_can_be_turned_off_and_the_watch_too(aiohttp_client, tmp_path, tracker, fake_rasa):
    cl = await start(aiohttp_client, tmp_path, tracker, fake_rasa, escalation_hand_back=False)
    now = cl.clock.now
    add_events(tracker, "tg-o", user_event("hello?", "greet", ts=now), simple_event("pause", ts=now))
    await project(cl)
    cl.clock.advance(16 * MIN)
    done = await sweep(cl)
    assert [o["sender_id"] for o in done["overdue"]] == ["tg-o"] and done["handed_back"] == []
    assert rasa_events(cl) == []

    (tmp_path / "off").mkdir()
    off = await start(aiohttp_client, tmp_path / "off", make_tracker(f"sqlite:///{tmp_path}/off/rasa.db"),
                      fake_rasa, escalation_timeout=0, escalation_check_interval=15)
    add_events(off.tracker, "tg-o", user_event("hello?", "greet", ts=off.clock.now), simple_event("pause", ts=off.clock.now))
    await project(off)
    off.clock.advance(24 * 3600)
    assert ESCALATION_TASK not in off.app
    assert await sweep(off) == {"overdue": [], "handed_back": [], "failed": []}
    await login(off)
    classes, cells = row_of(await queue_html(off), "tg-o")
    assert "unclaimed" in classes and "overdue" not in classes and "waiting 1 d 0 h" in cells


async def test_disabled_workers_claims_go_back_to_the_queue(esc):
    ask_for_person(esc, "tg-dw", esc.clock.now)
    await project(esc)
    await login(esc, "wendy")
    await post(esc, "tg-dw", "take-over")
    await project(esc)
    await login(esc, "ada")
    workers = await esc.app[DB].run(queries.list_workers, esc.app[DB].engine)
    wendy = next(w for w in workers if w["username"] == "wendy")
    csrf = await csrf_of(esc, "/workers")
    await esc.post(f"/workers/{wendy['id']}/disable", data={"csrf_token": csrf})
    assert assignments(esc) == []
    assert ("release", "ada", "tg-dw", f"worker_id={wendy['id']} disabled") in audit_actions(esc)
    assert senders(await queue_html(esc, unclaimed="1")) == ["tg-dw"]
    esc.clock.advance(16 * MIN)
    assert (await sweep(esc))["handed_back"] == ["tg-dw"]


# --- settings and migration -------------------------------------------------------------------------

def test_settings_from_env():
    s = Settings.from_env({})
    assert s.escalation_timeout == 900 and s.escalation_hand_back is True and s.trusted_proxies == ()
    s = Settings.from_env({"DASHBOARD_ESCALATION_TIMEOUT_S": "300", "DASHBOARD_ESCALATION_HAND_BACK": "false",
                           "DASHBOARD_TRUSTED_PROXIES": " 10.0.0.1, 192.168.0.0/16 ,::1"})
    assert s.escalation_timeout == 300 and s.escalation_hand_back is False
    assert [str(n) for n in s.trusted_proxies] == ["10.0.0.1/32", "192.168.0.0/16", "::1/128"]
    assert Settings.from_env({"DASHBOARD_ESCALATION_TIMEOUT_S": "0"}).escalation_timeout == 0
    assert Settings.from_env({"DASHBOARD_ESCALATION_HAND_BACK": ""}).escalation_hand_back is True
    with pytest.raises(ValueError, match="DASHBOARD_ESCALATION_TIMEOUT_S"):
        Settings.from_env({"DASHBOARD_ESCALATION_TIMEOUT_S": "15min"})
    with pytest.raises(ValueError, match="DASHBOARD_TRUSTED_PROXIES"):
        Settings.from_env({"DASHBOARD_TRUSTED_PROXIES": "10.0.0.1, proxy.internal"})


def test_migration_carries_existing_escalations_over_without_an_alert_storm(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path}/old.db", future=True)
    migrations._version_meta.create_all(engine)
    with engine.begin() as conn:  # a database at version 1 with two conversations
        m0001_initial.upgrade(conn)
        conn.execute(migrations.schema_version.insert().values(version=1, name="m0001_initial", applied_at=1.0))
        base = {"channel": "tg", "first_ts": 1.0, "last_ts": 50.0, "last_event_id": 7, "n_user": 1, "n_bot": 1,
                "n_worker": 0, "risk_level": "low", "risk_rank": 1, "risk_reasons": "[]", "themes_seen": "[]",
                "paused": False, "human_requested": False, "n_crisis": 0, "handoffs": 0}
        conn.execute(sa.text("INSERT INTO conversations (sender_id, channel, first_ts, last_ts, last_event_id, n_user, "
                             "n_bot, n_worker, risk_level, risk_rank, risk_reasons, themes_seen, paused, "
                             "human_requested, n_crisis, handoffs, escalated_ts) VALUES (:sender_id, :channel, "
                             ":first_ts, :last_ts, :last_event_id, :n_user, :n_bot, :n_worker, :risk_level, "
                             ":risk_rank, :risk_reasons, :themes_seen, :paused, :human_requested, :n_crisis, "
                             ":handoffs, :escalated_ts)"),
                     [base | {"sender_id": "tg-asked", "human_requested": True, "escalated_ts": 20.0},
                      base | {"sender_id": "tg-calm", "escalated_ts": None}])
    assert migrations.upgrade(engine) == [m0002_escalation_watch.VERSION]
    with engine.connect() as conn:
        rows = {r.sender_id: r for r in conn.execute(sa.text("SELECT * FROM conversations"))}
    asked, calm = rows["tg-asked"], rows["tg-calm"]
    assert (asked.esc_start_ts, asked.esc_start_id, asked.esc_last_id) == (20.0, 7, 7)
    assert asked.overdue_at is not None and asked.esc_resolved_id is None
    assert calm.esc_start_id is None and calm.overdue_at is None


# --- projection rules of an escalation episode ---------------------------------------------------------

def _apply(row, event_id, event):
    intent = (event.get("parse_data") or {}).get("intent", {}).get("name") if event["event"] == "user" else None
    apply_event(row, event_id, event["event"], event["timestamp"], intent, event)


def test_episode_opens_once_and_reopens_only_after_a_resolution():
    row = new_row("tg-e", 1.0, 1)
    _apply(row, 1, slot_event("human_requested", True, ts=10))
    _apply(row, 2, slot_event("human_requested", True, ts=20))
    assert (row["esc_start_id"], row["esc_start_ts"], row["esc_last_id"]) == (1, 10, 2)
    row["esc_resolved_id"] = 2  # a worker handed it back
    _apply(row, 3, user_event("thanks", "greet", ts=30))
    assert row["esc_start_id"] == 1 and row["esc_last_id"] == 2  # an ordinary message is no signal
    _apply(row, 4, user_event("...", crisis="self_harm", ts=40))
    assert (row["esc_start_id"], row["esc_start_ts"], row["esc_last_id"]) == (4, 40, 4)


def test_session_carry_over_is_not_a_new_request():
    row = new_row("tg-s", 1.0, 1)
    _apply(row, 1, slot_event("human_requested", True, ts=10))
    row["esc_resolved_id"] = 1
    _apply(row, 2, simple_event("session_started", ts=100))
    _apply(row, 3, slot_event("human_requested", True, ts=100))  # Rasa copies the slots over
    assert row["esc_last_id"] == 1
    _apply(row, 4, user_event("hi again", "greet", ts=101))
    _apply(row, 5, slot_event("human_requested", True, ts=102))  # asked again for real
    assert (row["esc_start_id"], row["esc_last_id"]) == (5, 5)
    assert "_session_start" not in row


def test_messages_to_a_paused_bot_are_signals_and_restart_ends_a_request():
    row = new_row("tg-m", 1.0, 1)
    _apply(row, 1, simple_event("pause", ts=10))
    row["esc_resolved_id"] = 1
    _apply(row, 2, user_event("hello?", "greet", ts=20))
    assert (row["esc_start_id"], row["esc_last_id"]) == (2, 2)
    _apply(row, 3, simple_event("restart", ts=30))
    assert row["esc_start_id"] is None and row["paused"] is False
    crisis = new_row("tg-k", 1.0, 1)
    _apply(crisis, 1, user_event("...", crisis="self_harm", ts=10))
    _apply(crisis, 2, simple_event("restart", ts=20))
    assert crisis["esc_start_id"] == 1  # a crisis stays open until a worker deals with it
