"""The dashboard on PostgreSQL (DATABASE_URL and TRACKER_DB_URL past one machine): migrations,
projection, queue, conversation, erasure. Uses 127.0.0.1:5432 db `test` user `postgres` (trust
auth), in a throw-away schema; skipped with the reason when that server is unreachable."""
from __future__ import annotations

import asyncio
import re
import secrets
import time

import pytest
import pytest_asyncio
import sqlalchemy as sa

from dashboard import auth
from dashboard import db as tables
from dashboard.app import create_app
from dashboard.keys import BROADCASTER, DB, ESCALATIONS, PROJECTOR, SETTINGS
from dashboard.testing import (
    FakeClock,
    add_events,
    make_settings,
    make_tracker,
    simple_event,
    slot_event,
    user_event,
)
from tests.conftest import skip_or_fail

pytestmark = pytest.mark.asyncio
auth.use_fast_hashing_for_tests()

PG = "postgresql://postgres@127.0.0.1:5432/test"
PASSWORD = "correct horse battery staple"


def _pg_or_skip() -> sa.engine.Engine:
    engine = sa.create_engine(PG, future=True, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except Exception as exc:  # any driver error means: no server here
        skip_or_fail(f"PostgreSQL at {PG} is not reachable ({type(exc).__name__}); "
                    "start it to run the PostgreSQL tests")
    return engine


@pytest.fixture
def pg_schema():
    admin = _pg_or_skip()
    schema = "dash_test_" + secrets.token_hex(4)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{PG}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest_asyncio.fixture
async def pg_client(aiohttp_client, tmp_path, pg_schema):
    tracker = make_tracker(pg_schema)
    settings = make_settings(tmp_path, database_url=pg_schema, tracker_db_url=pg_schema)
    app = create_app(settings)
    client = await aiohttp_client(app)
    await app[DB].run(auth.create_worker, app[DB].engine, "wendy", PASSWORD, "admin")
    client.tracker = tracker
    yield client
    await client.close()
    tracker.dispose()


async def test_postgres_end_to_end_of_the_dashboard(pg_client):
    client = pg_client
    now = time.time()
    add_events(client.tracker, "tg-pg1", user_event("hello", "greet", ts=now - 5),
               slot_event("risk_level", "medium", ts=now - 5))
    add_events(client.tracker, "tg-pg2", user_event("I will end it", crisis="self_harm", ts=now))
    engine = client.app[DB].engine
    for _ in range(100):
        with engine.connect() as conn:
            n = conn.execute(sa.select(sa.func.count()).select_from(tables.conversations)).scalar()
        if n == 2:
            break
        await asyncio.sleep(0.05)
    assert n == 2
    page = await client.get("/login")
    token = re.search(r'action="/login" class="login">\s*<input type="hidden" name="csrf_token" '
                      r'value="([^"]+)"', await page.text()).group(1)
    resp = await client.post("/login", data={"username": "wendy", "password": PASSWORD,
                                             "csrf_token": token})
    html = await resp.text()
    assert re.findall(r'data-sender="([^"]+)"', html) == ["tg-pg2", "tg-pg1"]
    conv = await (await client.get("/c/tg-pg2")).text()
    assert "crisis: self_harm" in conv
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', conv).group(1)
    await client.post("/c/tg-pg2/note", data={"csrf_token": csrf, "text": "call back"})
    # the tracker connection is read-only: a write through it fails
    with pytest.raises(sa.exc.DBAPIError):
        with client.app[DB].tracker.begin() as conn:
            conn.execute(tables.events.delete())
    token = client.app[SETTINGS].rasa_api_token
    resp = await client.post("/internal/erasure", json={"sender_id": "tg-pg2"},
                             headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.notes)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.conversations)
                            .where(tables.conversations.c.sender_id == "tg-pg2")).scalar() == 0


async def test_postgres_escalation_watch(aiohttp_client, tmp_path, pg_schema):
    """The overdue queries, the pinned queue and the hand-back hold in PostgreSQL's SQL dialect
    (Rasa is unreachable here, so the hand-back itself fails and is retried later)."""
    tracker = make_tracker(pg_schema)
    clock = FakeClock()
    app = create_app(make_settings(tmp_path, database_url=pg_schema, tracker_db_url=pg_schema, clock=clock,
                                   escalation_check_interval=0, queue_page_size=2))
    client = await aiohttp_client(app)
    try:
        await app[DB].run(auth.create_worker, app[DB].engine, "wendy", PASSWORD, "worker")
        now = clock.now
        add_events(tracker, "tg-ask", user_event("a person please", "request_human", ts=now),
                   slot_event("human_requested", True, ts=now))
        add_events(tracker, "tg-paused", user_event("hello?", "greet", ts=now), simple_event("pause", ts=now))
        for i in range(3):
            add_events(tracker, f"tg-hi{i}", user_event("hi", "greet", ts=now + i),
                       slot_event("risk_level", "critical", ts=now + i))
        await app[PROJECTOR].step(app[BROADCASTER])
        clock.advance(16 * 60)
        done = await app[ESCALATIONS].sweep()
        assert sorted(o["sender_id"] for o in done["overdue"]) == ["tg-ask", "tg-paused"]
        assert done["failed"] == ["tg-paused"]
        with app[DB].engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(tables.assignments)).scalar() == 0
        page = await client.get("/login")
        token = re.search(r'action="/login" class="login">\s*<input type="hidden" name="csrf_token" '
                          r'value="([^"]+)"', await page.text()).group(1)
        html = await (await client.post("/login", data={"username": "wendy", "password": PASSWORD,
                                                        "csrf_token": token})).text()
        assert sorted(re.findall(r'data-sender="([^"]+)"', html)) == ["tg-ask", "tg-paused"]
        assert "overdue (unclaimed over 15 min): 2" in html
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        await client.post("/c/tg-ask/close", data={"csrf_token": csrf})
        rows = await (await client.get("/queue/rows", params={"overdue": "1"})).text()
        assert re.findall(r'data-sender="([^"]+)"', rows) == ["tg-paused"]
    finally:
        await client.close()
        tracker.dispose()
