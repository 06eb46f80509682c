"""Dashboard HTTP tests (aiohttp test client, SQLite in tmp_path, a fake Rasa API on loopback):
auth redirects, roles, CSRF refusal, escaping of hostile chat text, security headers, sessions,
throttling, take over / send / hand back through Rasa, erasure, audit entries."""
from __future__ import annotations

import asyncio
import os
import re
import stat
import time

import pytest
import pytest_asyncio
import sqlalchemy as sa

from dashboard import auth
from dashboard import db as tables
from dashboard.app import create_app
from dashboard.keys import DB
from dashboard.testing import (
    FakeRasa,
    add_events,
    bot_event,
    make_settings,
    make_tracker,
    simple_event,
    slot_event,
    user_event,
)

pytestmark = pytest.mark.asyncio

PASSWORD = "correct horse battery staple"
auth.use_fast_hashing_for_tests()
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
LOGIN_CSRF_RE = re.compile(r'action="/login" class="login">\s*<input type="hidden" name="csrf_token" value="([^"]+)"')
TOKEN = "test-api-token-0123456789abcdef-0123456789"


@pytest.fixture
def tracker(tmp_path):
    return make_tracker(f"sqlite:///{tmp_path}/rasa.db")


@pytest_asyncio.fixture
async def fake_rasa(aiohttp_server, tracker):
    fake = FakeRasa(tracker, TOKEN)
    server = await aiohttp_server(fake.app)
    fake.url = str(server.make_url("")).rstrip("/")
    return fake


@pytest_asyncio.fixture
async def client(aiohttp_client, tmp_path, tracker, fake_rasa):
    settings = make_settings(tmp_path, rasa_url=fake_rasa.url)
    app = create_app(settings)
    cl = await aiohttp_client(app)
    engine = app[DB].engine
    for name, role in (("wendy", "worker"), ("sam", "supervisor"), ("ada", "admin")):
        await app[DB].run(auth.create_worker, engine, name, PASSWORD, role)
    cl.fake_rasa = fake_rasa
    cl.tracker = tracker
    return cl


async def login(client, username="wendy", password=PASSWORD, follow=True):
    page = await client.get("/login")
    token = LOGIN_CSRF_RE.search(await page.text()).group(1)
    return await client.post("/login", data={"username": username, "password": password,
                                             "csrf_token": token}, allow_redirects=follow)


async def csrf_of(client, path="/"):
    resp = await client.get(path)
    assert resp.status == 200, path
    return CSRF_RE.search(await resp.text()).group(1)


async def wait_projected(client, sender, timeout=5.0):
    engine = client.app[DB].engine
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            row = conn.execute(sa.select(tables.conversations).where(
                tables.conversations.c.sender_id == sender)).first()
        if row is not None:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"{sender} never reached the projection")


def audit_actions(client):
    with client.app[DB].engine.connect() as conn:
        return [(r.action, r.username, r.sender_id, r.detail)
                for r in conn.execute(sa.select(tables.audit).order_by(tables.audit.c.id))]


# --- authentication -----------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/c/tg-abc", "/figures", "/audit", "/try", "/workers"])
async def test_pages_redirect_to_login(client, path):
    resp = await client.get(path, allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "/login"


async def test_event_stream_and_posts_need_a_session(client):
    assert (await client.get("/events")).status == 401
    assert (await client.post("/c/tg-abc/take-over", data={"csrf_token": "x"})).status == 401


async def test_login_sets_strict_httponly_cookie_and_new_session(client):
    first = await login(client, follow=False)
    assert first.status == 302 and first.headers["Location"] == "/"
    cookie = first.cookies["dash_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    token1 = cookie.value
    # logging in again gives a different token and kills the old one
    second = await login(client, follow=False)
    token2 = second.cookies["dash_session"].value
    assert token1 != token2
    with client.app[DB].engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(tables.sessions)).scalar()
    assert n == 1


async def test_wrong_password_refused_and_audited(client):
    resp = await login(client, password="not the password at all")
    assert resp.status == 401
    assert "Wrong username or password" in await resp.text()
    assert ("login_failed", "wendy", None, "client=127.0.0.1") in audit_actions(client)


async def test_login_form_needs_its_csrf_token(client):
    await client.get("/login")
    resp = await client.post("/login", data={"username": "wendy", "password": PASSWORD,
                                             "csrf_token": "forged"})
    assert resp.status == 403


async def test_login_is_throttled_after_five_failures(client):
    for _ in range(5):
        assert (await login(client, password="wrong password here")).status == 401
    resp = await login(client)  # even the right password is refused while throttled
    assert resp.status == 429
    assert ("login_throttled", "wendy", None, "client=127.0.0.1") in audit_actions(client)


async def test_logout_really_ends_the_session(client):
    await login(client)
    token = client.session.cookie_jar.filter_cookies(client.make_url("/"))["dash_session"].value
    csrf = await csrf_of(client)
    resp = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 302
    # replaying the old cookie does not work any more
    client.session.cookie_jar.update_cookies({"dash_session": token})
    again = await client.get("/", allow_redirects=False)
    assert again.status == 302 and again.headers["Location"] == "/login"


async def test_idle_session_expires(client):
    await login(client)
    with client.app[DB].engine.begin() as conn:
        conn.execute(tables.sessions.update().values(last_seen=time.time() - 31 * 60))
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 302


async def test_absolute_session_limit(client):
    await login(client)
    with client.app[DB].engine.begin() as conn:
        conn.execute(tables.sessions.update().values(created_at=time.time() - 12 * 3600 - 5))
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 302


async def test_security_headers(client):
    for resp in (await client.get("/login"), await client.get("/static/app.js")):
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_templates_have_no_inline_script(client):
    await login(client)
    html = await (await client.get("/")).text()
    assert "<script" in html
    for tag in re.findall(r"<script[^>]*>(.*?)</script>", html, re.DOTALL):
        assert tag.strip() == ""


# --- roles --------------------------------------------------------------------------------------

@pytest.mark.parametrize("user,path,status", [
    ("wendy", "/figures", 403), ("wendy", "/audit", 403), ("wendy", "/workers", 403),
    ("sam", "/figures", 200), ("sam", "/audit", 403),
    ("ada", "/figures", 200), ("ada", "/audit", 200), ("ada", "/workers", 200),
])
async def test_roles(client, user, path, status):
    await login(client, user)
    assert (await client.get(path)).status == status


async def test_only_admin_creates_workers(client):
    await login(client, "sam")
    csrf = await csrf_of(client)
    resp = await client.post("/workers", data={"csrf_token": csrf, "username": "newbie",
                                               "password": PASSWORD, "role": "admin"})
    assert resp.status == 403
    await login(client, "ada")
    csrf = await csrf_of(client)
    resp = await client.post("/workers", data={"csrf_token": csrf, "username": "newbie",
                                               "password": PASSWORD, "role": "worker"})
    assert resp.status == 200 and "newbie" in await resp.text()
    bad = await client.post("/workers", data={"csrf_token": csrf, "username": "x y",
                                              "password": "short", "role": "worker"})
    assert bad.status == 400


# --- CSRF -----------------------------------------------------------------------------------------

async def test_state_change_without_csrf_is_refused(client):
    add_events(client.tracker, "tg-aa11", user_event("hi", "greet"))
    await wait_projected(client, "tg-aa11")
    await login(client)
    for path in ("/c/tg-aa11/claim", "/c/tg-aa11/note", "/c/tg-aa11/take-over", "/c/tg-aa11/close"):
        assert (await client.post(path, data={"text": "x"})).status == 403
        assert (await client.post(path, data={"text": "x", "csrf_token": "wrong"})).status == 403
    resp = await client.post("/try/send", json={"message": "hi"})
    assert resp.status == 403
    assert client.fake_rasa.requests == []
    with client.app[DB].engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.notes)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.assignments)).scalar() == 0


# --- escaping -----------------------------------------------------------------------------------

HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&<b>bold</b>'


async def test_hostile_text_is_escaped_everywhere(client):
    add_events(client.tracker, "tg-bad1",
               user_event(HOSTILE, "out_of_scope"),
               bot_event(HOSTILE, buttons=[{"title": HOSTILE, "payload": "/help"}]),
               slot_event("risk_reasons", [HOSTILE]),
               slot_event("active_theme", "<i>theme</i>"))
    await wait_projected(client, "tg-bad1")
    await login(client)
    csrf = await csrf_of(client)
    await client.post("/c/tg-bad1/note", data={"csrf_token": csrf, "text": HOSTILE})
    for path in ("/", "/c/tg-bad1", "/c/tg-bad1/messages", "/queue/rows"):
        html = await (await client.get(path)).text()
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold" not in html
        assert "<i>theme" not in html
    page = await (await client.get("/c/tg-bad1")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("&lt;img src=x onerror=alert(2)&gt;") >= 3  # user, bot, button, note


async def test_unknown_filters_are_ignored_not_reflected(client):
    await login(client)
    resp = await client.get("/", params={"risk": "<script>", "theme": "<x>", "status": "nope",
                                         "n": "<script>"})
    assert resp.status == 200
    assert "<script>" not in (await resp.text()).replace('<script src="/static/app.js" defer></script>', "")


# --- queue --------------------------------------------------------------------------------------

async def test_queue_orders_by_risk_then_recency_and_filters(client):
    now = time.time()
    add_events(client.tracker, "tg-low", user_event("hello", "greet", ts=now - 10),
               slot_event("risk_level", "low", ts=now - 10), slot_event("language", "en", ts=now - 10))
    add_events(client.tracker, "tg-high", user_event("they are at war with us",
                                                     "narrative_west_at_war_with_islam", ts=now - 100),
               slot_event("risk_level", "high", ts=now - 100), slot_event("language", "fr", ts=now - 100))
    add_events(client.tracker, "tg-crisis", user_event("I want to end it all", crisis="self_harm", ts=now - 50))
    add_events(client.tracker, "tg-new", user_event("hi", "greet", ts=now))
    await wait_projected(client, "tg-new")
    await login(client)
    html = await (await client.get("/")).text()
    order = [s for s in re.findall(r'data-sender="([^"]+)"', html)]
    assert order == ["tg-crisis", "tg-high", "tg-low", "tg-new"]
    assert "needs a person" in html  # the crisis is an unclaimed escalation
    fr = await (await client.get("/", params={"language": "fr"})).text()
    assert re.findall(r'data-sender="([^"]+)"', fr) == ["tg-high"]
    unclaimed = await (await client.get("/queue/rows", params={"unclaimed": "1"})).text()
    assert re.findall(r'data-sender="([^"]+)"', unclaimed) == ["tg-crisis"]
    theme = await (await client.get("/", params={"theme": "west_at_war_with_islam"})).text()
    assert re.findall(r'data-sender="([^"]+)"', theme) == ["tg-high"]


async def test_crisis_is_pushed_by_server_sent_events(client):
    await login(client)
    resp = await client.get("/events")
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    hello = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 2)
    assert b"hello" in hello
    started = time.monotonic()
    add_events(client.tracker, "tg-sos", user_event("je veux mourir", crisis="self_harm"))
    data = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 2)
    assert time.monotonic() - started < 2.0
    assert b"event: update" in data and b"tg-sos" in data and b"self_harm" in data
    assert b"mourir" not in data  # no message text on the wire
    resp.close()


# --- acting on a conversation ---------------------------------------------------------------------

async def test_take_over_send_hand_back_go_through_rasa(client):
    add_events(client.tracker, "tg-c1", user_event("I need to talk to a human", "request_human"),
               slot_event("human_requested", True), slot_event("language", "en"))
    await wait_projected(client, "tg-c1")
    await login(client)
    csrf = await csrf_of(client, "/c/tg-c1")
    # sending before taking over is refused
    resp = await client.post("/c/tg-c1/send", data={"csrf_token": csrf, "text": "hello"})
    assert "Take the conversation over" in await resp.text()
    assert client.fake_rasa.requests == []

    resp = await client.post("/c/tg-c1/take-over", data={"csrf_token": csrf})
    assert "the bot is paused" in await resp.text()
    assert client.fake_rasa.requests[-1] == ("tracker_events", {"event": "pause"})
    await asyncio.sleep(0.4)  # the projection picks up the pause event
    resp = await client.post("/c/tg-c1/send", data={"csrf_token": csrf, "text": "Hi, I'm Wendy <3"})
    page = await resp.text()
    assert "Message sent." in page
    kind, body = client.fake_rasa.requests[-1]
    assert kind == "operator_send"
    assert body["sender_id"] == "tg-c1" and body["text"] == "Hi, I'm Wendy <3"
    assert body["worker"].startswith("worker-")
    await asyncio.sleep(0.4)
    page = await (await client.get("/c/tg-c1/messages")).text()
    assert 'class="msg worker"' in page and "Hi, I&#39;m Wendy &lt;3" in page

    resp = await client.post("/c/tg-c1/hand-back", data={"csrf_token": csrf})
    assert "Handed back to the bot." in await resp.text()
    assert client.fake_rasa.requests[-1] == ("tracker_events", {"event": "resume"})
    actions = [a[0] for a in audit_actions(client)]
    for expected in ("view", "take_over", "send", "hand_back"):
        assert expected in actions
    # the audit never holds message text
    assert all("Wendy" not in str(a) for a in audit_actions(client))


async def test_messages_while_paused_are_highlighted(client):
    add_events(client.tracker, "tg-p1", user_event("before", "greet"), simple_event("pause"),
               user_event("during", "greet"), simple_event("resume"), user_event("after", "greet"))
    await wait_projected(client, "tg-p1")
    await login(client)
    html = await (await client.get("/c/tg-p1/messages")).text()
    paused = re.findall(r'class="msg user while-paused[^"]*">.*?<div class="text">(.*?)</div>', html, re.DOTALL)
    assert paused == ["during"]


async def test_transcript_shows_understanding_and_content_sent(client):
    add_events(client.tracker, "tg-u1",
               user_event("the west hates muslims", "narrative_west_at_war_with_islam", 0.87),
               bot_event("Many Muslims serve in Western armies.",
                         {"cn_id": "west_at_war_with_islam-en-fact-01", "theme": "west_at_war_with_islam",
                          "language": "en", "kind": "fact"}),
               user_event("I want to die", crisis="self_harm"),
               bot_event("Are you safe right now?", {"helpline_ids": ["uk-samaritans"],
                                                     "crisis_category": "self_harm", "language": "en"}),
               slot_event("risk_level", "critical"), slot_event("risk_reasons", ["crisis:self_harm"]))
    await wait_projected(client, "tg-u1")
    await login(client)
    html = await (await client.get("/c/tg-u1")).text()
    assert "narrative_west_at_war_with_islam (0.87)" in html
    assert "west_at_war_with_islam-en-fact-01" in html
    assert "uk-samaritans" in html
    assert "crisis: self_harm" in html and "crisis:self_harm" in html


async def test_claim_note_tag_close(client):
    add_events(client.tracker, "tg-n1", user_event("hi", "greet"))
    await wait_projected(client, "tg-n1")
    await login(client)
    csrf = await csrf_of(client, "/c/tg-n1")
    await client.post("/c/tg-n1/claim", data={"csrf_token": csrf})
    await client.post("/c/tg-n1/note", data={"csrf_token": csrf, "text": "seems calmer today"})
    await client.post("/c/tg-n1/tag", data={"csrf_token": csrf, "tag": "follow-up"})
    bad = await client.post("/c/tg-n1/tag", data={"csrf_token": csrf, "tag": "no spaces!"})
    assert "was not accepted" in await bad.text()
    html = await (await client.get("/c/tg-n1")).text()
    assert "seems calmer today" in html and "follow-up" in html and "claimed by wendy" in html
    await client.post("/c/tg-n1/close", data={"csrf_token": csrf})
    closed = await (await client.get("/", params={"status": "closed"})).text()
    assert re.findall(r'data-sender="([^"]+)"', closed) == ["tg-n1"]
    # a new user message reopens it
    add_events(client.tracker, "tg-n1", user_event("me again", "greet"))
    await asyncio.sleep(0.4)
    closed = await (await client.get("/", params={"status": "closed"})).text()
    assert re.findall(r'data-sender="([^"]+)"', closed) == []


async def test_another_workers_claim_is_respected(client):
    add_events(client.tracker, "tg-x1", user_event("hi", "greet"))
    await wait_projected(client, "tg-x1")
    await login(client, "ada")
    csrf = await csrf_of(client, "/c/tg-x1")
    await client.post("/c/tg-x1/claim", data={"csrf_token": csrf})
    await login(client, "wendy")
    csrf = await csrf_of(client, "/c/tg-x1")
    resp = await client.post("/c/tg-x1/claim", data={"csrf_token": csrf})
    assert "Someone else has claimed" in await resp.text()


async def test_bad_sender_id_gets_404(client):
    await login(client)
    assert (await client.get("/c/tg-doesnotexist")).status == 404
    assert (await client.get("/c/" + "x" * 300)).status == 404


async def test_export_is_for_supervisors_and_audited(client):
    add_events(client.tracker, "tg-e1", user_event("hi", "greet"))
    await wait_projected(client, "tg-e1")
    await login(client)
    assert (await client.get("/c/tg-e1/export")).status == 403
    await login(client, "sam")
    resp = await client.get("/c/tg-e1/export")
    assert resp.status == 200
    body = await resp.json()
    assert body["messages"][0]["text"] == "hi"
    assert ("export", "sam", "tg-e1", None) in audit_actions(client)


async def test_audit_page_lists_actions_for_admin(client):
    add_events(client.tracker, "tg-a1", user_event("hi", "greet"))
    await wait_projected(client, "tg-a1")
    await login(client)
    await client.get("/c/tg-a1")
    await login(client, "ada")
    html = await (await client.get("/audit")).text()
    assert re.search(r"<td>wendy</td><td>view</td><td>tg-a1</td>", html)


# --- erasure --------------------------------------------------------------------------------------

async def test_internal_erasure(client):
    add_events(client.tracker, "tg-del", user_event("hi", "greet"))
    await wait_projected(client, "tg-del")
    await login(client)
    csrf = await csrf_of(client, "/c/tg-del")
    await client.post("/c/tg-del/note", data={"csrf_token": csrf, "text": "private note"})
    await client.post("/c/tg-del/tag", data={"csrf_token": csrf, "tag": "t1"})
    await client.post("/c/tg-del/claim", data={"csrf_token": csrf})

    assert (await client.post("/internal/erasure", json={"sender_id": "tg-del"})).status == 401
    assert (await client.post("/internal/erasure", json={"sender_id": "tg-del"},
                              headers={"Authorization": "Bearer wrong"})).status == 401
    bad = await client.post("/internal/erasure", data="not json",
                            headers={"Authorization": f"Bearer {TOKEN}"})
    assert bad.status == 400
    resp = await client.post("/internal/erasure", json={"sender_id": "tg-del"},
                             headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200
    engine = client.app[DB].engine
    with engine.connect() as conn:
        for table in (tables.notes, tables.tags, tables.assignments, tables.conversations):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)
                                .where(table.c.sender_id == "tg-del")).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.audit)
                            .where(tables.audit.c.sender_id == "tg-del")).scalar() == 0
        erasures = conn.execute(sa.select(tables.audit).where(tables.audit.c.action == "erasure")).fetchall()
    assert len(erasures) == 1 and "private" not in (erasures[0].detail or "")


async def test_reconcile_at_start_erases_conversations_without_events(tmp_path, aiohttp_client):
    tracker = make_tracker(f"sqlite:///{tmp_path}/rasa.db")
    add_events(tracker, "tg-keep", user_event("hi", "greet"))
    add_events(tracker, "tg-gone", user_event("hi", "greet"))
    settings = make_settings(tmp_path)
    app = create_app(settings)
    cl = await aiohttp_client(app)
    await wait_projected(cl, "tg-gone")
    await cl.app[DB].run(auth.create_worker, cl.app[DB].engine, "wendy", PASSWORD)
    await cl.close()
    with tracker.begin() as conn:  # the connector erased it while the dashboard was down
        conn.execute(tables.events.delete().where(tables.events.c.sender_id == "tg-gone"))
    app2 = create_app(make_settings(tmp_path))
    cl2 = await aiohttp_client(app2)
    with app2[DB].engine.connect() as conn:
        senders = {r[0] for r in conn.execute(sa.select(tables.conversations.c.sender_id))}
        erasures = conn.execute(sa.select(sa.func.count()).select_from(tables.audit)
                                .where(tables.audit.c.action == "erasure")).scalar()
    assert senders == {"tg-keep"} and erasures == 1
    await cl2.close()


# --- first admin, suggestions, test chat -----------------------------------------------------------

async def test_first_start_creates_admin_with_private_password_file(tmp_path, aiohttp_client, capsys):
    settings = make_settings(tmp_path)
    app = create_app(settings)
    cl = await aiohttp_client(app)
    path = tmp_path / "state" / "initial_admin_password"
    assert path.exists()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    password = path.read_text().strip()
    out = capsys.readouterr().out
    assert str(path) in out and password not in out
    page = await cl.get("/login")
    token = CSRF_RE.search(await page.text()).group(1)
    resp = await cl.post("/login", data={"username": "admin", "password": password, "csrf_token": token})
    assert resp.status == 200 and "admin (admin)" in await resp.text()


async def test_suggested_replies_come_from_approved_content(tmp_path, aiohttp_client, tracker, fake_rasa):
    cn = tmp_path / "content" / "counter_narratives"
    cn.mkdir(parents=True)
    (cn / "takfir.yml").write_text(
        "theme: takfir\nentries:\n"
        "  - id: takfir-en-fact-01\n    language: en\n    kind: fact\n"
        "    text: Approved <b>text</b>.\n    question: What do you think?\n"
        "    review: {status: approved, by: t, date: 2026-11-28}\n"
        "  - id: takfir-en-fact-02\n    language: en\n    kind: fact\n"
        "    text: Draft text never shown.\n    question: Q?\n"
        "    review: {status: draft, by: t, date: 2026-11-28}\n"
        "  - id: takfir-fr-fact-01\n    language: fr\n    kind: fact\n"
        "    text: Texte approuve.\n    question: Qu'en penses-tu ?\n"
        "    review: {status: approved, by: t, date: 2026-11-28}\n")
    app = create_app(make_settings(tmp_path, rasa_url=fake_rasa.url))
    cl = await aiohttp_client(app)
    await app[DB].run(auth.create_worker, app[DB].engine, "wendy", PASSWORD)
    add_events(tracker, "tg-s1", user_event("they are kafir", "narrative_takfir"), slot_event("language", "en"))
    await wait_projected(cl, "tg-s1")
    await login(cl)
    html = await (await cl.get("/c/tg-s1")).text()
    assert "Approved &lt;b&gt;text&lt;/b&gt;." in html
    assert "Draft text never shown" not in html and "Texte approuve" not in html
    assert fake_rasa.requests == []  # showing a suggestion sends nothing


async def test_try_chat_proxies_to_rest_and_polls_worker_messages(client):
    await login(client)
    csrf = await csrf_of(client, "/try")
    resp = await client.post("/try/send", json={"message": "hello"}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    body = await resp.json()
    assert body["replies"][0]["text"] == "Hello! I am a bot."
    assert body["replies"][0]["buttons"] == [{"title": "Help", "payload": "/help"}]
    sender = body["sender"]
    assert re.match(r"^web-[0-9a-f]{16}$", sender)
    assert client.fake_rasa.requests[-1] == ("rest", {"sender": sender, "message": "hello"})
    add_events(client.tracker, sender, bot_event("a worker here", {"from": "worker", "worker": "worker-1"}))
    poll = await (await client.get("/try/poll", params={"after": "0"})).json()
    assert [m["text"] for m in poll["messages"]] == ["a worker here"]
    empty = await client.post("/try/send", json={"message": "  "}, headers={"X-CSRF-Token": csrf})
    assert empty.status == 400
    junk = await client.post("/try/send", data="{nope", headers={"X-CSRF-Token": csrf,
                                                                "Content-Type": "application/json"})
    assert junk.status == 400


async def test_rasa_down_gives_a_kind_message(tmp_path, aiohttp_client, tracker):
    app = create_app(make_settings(tmp_path, rasa_url="http://127.0.0.1:9"))
    cl = await aiohttp_client(app)
    await app[DB].run(auth.create_worker, app[DB].engine, "wendy", PASSWORD)
    add_events(tracker, "tg-r1", user_event("hi", "greet"))
    await wait_projected(cl, "tg-r1")
    await login(cl)
    csrf = await csrf_of(cl, "/c/tg-r1")
    resp = await cl.post("/c/tg-r1/take-over", data={"csrf_token": csrf})
    assert resp.status == 200 and "did not accept the request" in await resp.text()
    chat = await cl.post("/try/send", json={"message": "hi"}, headers={"X-CSRF-Token": csrf})
    assert chat.status == 502 and "not reachable" in (await chat.json())["error"]


async def test_figures(client):
    now = time.time()
    add_events(client.tracker, "tg-f1", *[user_event(f"m{i}", "narrative_takfir", ts=now) for i in range(5)])
    add_events(client.tracker, "tg-f2", user_event("help", "request_human", ts=now),
               slot_event("human_requested", True, ts=now), simple_event("pause", ts=now + 60),
               bot_event("hi", {"from": "worker", "worker": "worker-1"}, ts=now + 240))
    await wait_projected(client, "tg-f2")
    await asyncio.sleep(0.3)
    await login(client, "sam")
    html = await (await client.get("/figures")).text()
    assert "1 (50.0%" in html  # one of two conversations has 5+ user messages
    assert "4.0 min over 1 conversations" in html
    assert "<td>takfir</td><td>1</td>" in html


async def test_event_stream_ends_when_the_session_ends(aiohttp_client, tmp_path, fake_rasa):
    app = create_app(make_settings(tmp_path, rasa_url=fake_rasa.url, sse_keepalive=0.2))
    cl = await aiohttp_client(app)
    await app[DB].run(auth.create_worker, app[DB].engine, "wendy", PASSWORD)
    await login(cl)
    stream = await cl.get("/events")
    await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 2)
    csrf = await csrf_of(cl)
    await cl.post("/logout", data={"csrf_token": csrf})
    rest = await asyncio.wait_for(stream.content.read(), 3)  # the server closes the stream
    assert b"event: update" not in rest


async def test_claim_from_the_queue_and_others_cannot_hand_back(client):
    add_events(client.tracker, "tg-q1", user_event("I need a human", "request_human"),
               slot_event("human_requested", True))
    await wait_projected(client, "tg-q1")
    await login(client, "wendy")
    queue_html = await (await client.get("/")).text()
    form = re.search(r'<form method="post" action="/c/tg-q1/claim" class="inline claim">'
                     r'<input type="hidden" name="csrf_token" value="([^"]+)">', queue_html)
    assert form, "an unclaimed escalation has a claim button in the queue"
    resp = await client.post("/c/tg-q1/claim", data={"csrf_token": form.group(1)})
    assert "You have claimed this conversation." in await resp.text()
    after = await (await client.get("/queue/rows", params={"unclaimed": "1"})).text()
    assert "tg-q1" not in after
    # another (non-supervisor) worker can neither hand back, close nor release it
    await client.app[DB].run(auth.create_worker, client.app[DB].engine, "walt", PASSWORD)
    await login(client, "walt")
    csrf = await csrf_of(client, "/c/tg-q1")
    n_before = len(client.fake_rasa.requests)
    for action in ("hand-back", "close", "release"):
        resp = await client.post(f"/c/tg-q1/{action}", data={"csrf_token": csrf})
        assert "Someone else has claimed" in await resp.text()
    assert len(client.fake_rasa.requests) == n_before
    # a supervisor can
    await login(client, "sam")
    csrf = await csrf_of(client, "/c/tg-q1")
    resp = await client.post("/c/tg-q1/hand-back", data={"csrf_token": csrf})
    assert "Handed back to the bot." in await resp.text()


async def test_no_server_version_banner(client):
    resp = await client.get("/login")
    assert resp.headers["Server"] == "dashboard"


async def test_disabled_worker_is_signed_out_and_cannot_log_in(client):
    def token():
        return client.session.cookie_jar.filter_cookies(client.make_url("/"))["dash_session"].value

    await login(client, "wendy")
    wendy_token = token()
    client.session.cookie_jar.clear()  # ada logs in from another browser
    await login(client, "ada")
    ada_token = token()
    client.session.cookie_jar.update_cookies({"dash_session": wendy_token})
    assert (await client.get("/", allow_redirects=False)).status == 200  # wendy's session is live
    client.session.cookie_jar.update_cookies({"dash_session": ada_token})
    workers_html = await (await client.get("/workers")).text()
    wendy_id = re.search(r"<td>wendy</td>.*?/workers/(\d+)/disable", workers_html, re.S).group(1)
    csrf = await csrf_of(client, "/workers")
    resp = await client.post(f"/workers/{wendy_id}/disable", data={"csrf_token": csrf})
    assert "Worker disabled" in await resp.text()
    client.session.cookie_jar.update_cookies({"dash_session": wendy_token})
    assert (await client.get("/", allow_redirects=False)).status == 302
    assert (await login(client, "wendy")).status == 401
    assert ("disable_worker", "ada", None, f"worker_id={wendy_id}") in audit_actions(client)
