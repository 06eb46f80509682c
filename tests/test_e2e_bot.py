"""End to end through the real Rasa server and action server (REST channel + HTTP API):
crisis while paused for a human, crisis inside a form, counter-narrative metadata, erasure."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
import requests

from tests.stack import RasaStack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with RasaStack(workdir=tmp_path_factory.mktemp("bot-e2e")) as running:
        yield running


def say(stack, sender, text):
    resp = requests.post(f"{stack.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60)
    assert resp.status_code == 200
    return resp.json()


def tracker(stack, sender):
    resp = requests.get(f"{stack.rasa_url}/conversations/{sender}/tracker", headers=stack.auth_headers(), timeout=30)
    assert resp.status_code == 200
    return resp.json()


def add_event(stack, sender, event):
    resp = requests.post(
        f"{stack.rasa_url}/conversations/{sender}/tracker/events", json=event, headers=stack.auth_headers(), timeout=30
    )
    assert resp.status_code == 200, resp.text


def sender_id():
    return f"web-{uuid.uuid4().hex[:12]}"


def test_api_requires_the_token(stack):
    resp = requests.get(f"{stack.rasa_url}/conversations/web-x/tracker", timeout=10)
    assert resp.status_code == 401


def test_counter_narrative_reply_carries_metadata(stack):
    sender = sender_id()
    replies = say(stack, sender, "The Jews control all the banks and the media, everyone knows it")
    assert replies, "the bot must answer"
    bot_events = [e for e in tracker(stack, sender)["events"] if e["event"] == "bot"]
    cn = [e for e in bot_events if (e.get("metadata") or {}).get("cn_id")]
    assert cn, f"no counter-narrative event in {[e.get('text', '')[:40] for e in bot_events]}"
    meta = cn[0]["metadata"]
    assert meta["theme"] == "antisemitism" and meta["language"] == "en"
    # first contact: the bot said it is an automated assistant
    assert any("automated assistant" in (r.get("text") or "") for r in replies)


def test_crisis_reply_even_when_paused(stack):
    sender = sender_id()
    say(stack, sender, "salut")
    add_event(stack, sender, {"event": "pause"})
    assert say(stack, sender, "ok je suis là") == [], "paused: the bot stays quiet"
    replies = say(stack, sender, "je veux en finir avec la vie, ce soir")
    texts = " ".join(r.get("text") or "" for r in replies)
    assert "3114" in texts or "112" in texts, texts
    state = tracker(stack, sender)
    assert state["paused"] is True, "the human keeps the conversation"
    assert state["slots"]["risk_level"] == "critical"
    assert "crisis:self_harm" in state["slots"]["risk_reasons"]
    crisis_bots = [e for e in state["events"] if e["event"] == "bot" and (e.get("metadata") or {}).get("while_paused")]
    assert crisis_bots and crisis_bots[1]["metadata"]["helpline_ids"]
    add_event(stack, sender, {"event": "resume"})
    assert say(stack, sender, "bonjour"), "after hand-back the bot answers again"


def test_crisis_inside_country_form(stack):
    sender = sender_id()
    say(stack, sender, "/ask_country")
    assert tracker(stack, sender)["active_loop"].get("name") == "country_form"
    replies = say(stack, sender, "I just want to die, there is no point anymore")
    assert any("safe" in (r.get("text") or "") for r in replies)
    state = tracker(stack, sender)
    assert not state["active_loop"].get("name")
    assert state["slots"]["risk_level"] == "critical"


def test_figurative_is_not_a_crisis(stack):
    sender = sender_id()
    say(stack, sender, "lol this meme is killing me")
    state = tracker(stack, sender)
    assert state["slots"]["risk_level"] != "critical"
    assert state["latest_message"]["intent"]["name"] != "crisis_self_harm"


def test_delete_erases_the_conversation(stack):
    sender = sender_id()
    say(stack, sender, "hello")
    say(stack, sender, "/request_delete")
    replies = say(stack, sender, "/confirm_delete")
    assert any((r.get("custom") or {}).get("erasure") == "done" for r in replies)
    db_path = stack.env["TRACKER_DB_URL"].replace("sqlite:///", "")
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT COUNT(*) FROM events WHERE sender_id = ?", (sender,)).fetchone()[0]
    assert rows == 0
    fresh = tracker(stack, sender)
    assert not [e for e in fresh["events"] if e["event"] == "user"]


def test_logs_hold_no_message_text(stack):
    sender = sender_id()
    secret_text = "my unique sentence about the caliphate zq7x"
    say(stack, sender, secret_text)
    for name in ("rasa", "actions"):
        log = stack.tail_log(name, lines=100000)
        assert "zq7x" not in log, f"message text leaked into the {name} log"
