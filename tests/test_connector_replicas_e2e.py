"""End to end with two Rasa processes: the first is the Telegram ingress (polling) and routes each
chat's turns to itself or to the replica (TELEGRAM_TURN_REPLICAS), which shares the tracker store
(SQLite) and the lock store (Redis). Needs Redis on 127.0.0.1:6379 (skipped without it on a
developer's machine, required in CI) and the trained model."""
from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
import pytest_asyncio

from connectors.pseudonym import pseudonymise
from tests.conftest import skip_or_fail
from tests.fake_telegram import FakeTelegram
from tests.stack import RasaStack, StackError, latest_model
from tests.test_connector_e2e import bot_texts, settle, tracker_events, user_events

TOKEN = "434343:replicas-token"
KEY = "replicas-pseudonym-key"

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.e2e]


def replica_of(chat: int) -> int:
    """0 = the ingress itself, 1 = the replica (the ingress's rule for two processes)."""
    return int(pseudonymise(chat, KEY.encode())[-8:], 16) % 2


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fake():
    server = FakeTelegram(token=TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(fake, tmp_path_factory):
    try:
        latest_model()
    except StackError as exc:
        skip_or_fail(str(exc))
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    except OSError:
        skip_or_fail("Redis is not running on 127.0.0.1:6379 (needed for a shared lock store)")
    s = RasaStack(env={
        "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_POLL_TIMEOUT": "2", "PSEUDONYM_KEY": KEY,
        "LOCK_STORE_TYPE": "redis", "REDIS_DB": "4",
    }, workdir=tmp_path_factory.mktemp("replicas-stack"), replicas=2)
    await asyncio.to_thread(s.start)
    yield s
    await asyncio.to_thread(s.stop)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


async def test_chats_on_both_replicas_are_answered_once_in_order(fake, stack, http):
    chats = list(range(3100, 3108))
    assert {replica_of(c) for c in chats} == {0, 1}, "the chats should cover both processes"
    pushed = {c: [] for c in chats}
    for word in ["hello", "who runs this?", "thanks", "goodbye"]:
        for chat in chats:
            pushed[chat].append(str(fake.push_message(chat, word, language_code="en")["update_id"]))
    for chat in chats:
        await settle(fake, chat, 4, quiet=1.5, timeout=120)
    for chat in chats:
        events = await tracker_events(http, stack, pseudonymise(chat, KEY.encode()))
        # Every update is one user turn, in the order sent; what Telegram got is the tracker's.
        assert [e.get("message_id") for e in user_events(events)] == pushed[chat]
        assert [m["text"] for m in fake.messages_to(chat)] == bot_texts(events)
    async with http.get(f"{stack.rasa_url}/webhooks/telegram/") as resp:
        health = await resp.json()
    remote = sum(replica_of(c) == 1 for c in chats) * 4
    assert health["replicas"] == {"count": 1, "remote_turns": remote, "fallbacks": 0, "recoveries": 0}


async def test_a_replica_refuses_turns_without_the_token_or_from_non_telegram_senders(stack, http):
    replica = stack.replica_urls[1]
    body = {"sender_id": pseudonymise(3200, KEY.encode()), "text": "hello", "message_id": "1",
            "metadata": {}}
    async with http.post(f"{replica}/webhooks/telegram/turn", json=body) as resp:
        assert resp.status == 401
    async with http.post(f"{replica}/webhooks/telegram/turn", json=body,
                         headers={"Authorization": "Bearer wrong"}) as resp:
        assert resp.status == 403
    good = stack.operator_headers()
    async with http.post(f"{replica}/webhooks/telegram/turn",
                         json={**body, "sender_id": "web-123"}, headers=good) as resp:
        assert resp.status == 400
    async with http.post(f"{replica}/webhooks/telegram/turn", data=b"not json",
                         headers=good) as resp:
        assert resp.status == 400
    async with http.post(f"{replica}/webhooks/telegram/turn", json={**body, "message_id": "x; 1"},
                         headers=good) as resp:
        assert resp.status == 400
    # Slash text is held to the ingress's rule: /restart and forged slots never act as intents.
    forged = pseudonymise(3201, KEY.encode())
    for text in ("/restart", '/greet{"risk_level": "none"}'):
        async with http.post(f"{replica}/webhooks/telegram/turn", headers=good,
                             json={**body, "sender_id": forged, "text": text}) as resp:
            assert resp.status == 200
    users = user_events(await tracker_events(http, stack, forged))
    assert [u["text"] for u in users] == ["restart", 'greet{"risk_level": "none"}']
    assert "restart" not in [u["parse_data"]["intent"]["name"] for u in users]
    events = await tracker_events(http, stack, forged)
    assert not any(e.get("event") == "slot" and e.get("name") == "risk_level"
                   and e.get("value") == "none" for e in events)
    assert not any(e.get("event") == "restart" for e in events)
    async with http.post(f"{replica}/webhooks/telegram/turn", json=body, headers=good) as resp:
        assert resp.status == 200
        answer = await resp.json()
    # The replica returns the bot's messages for the ingress to send; it sends nothing itself.
    assert answer["ok"] is True and answer["messages"]
    assert all(set(m) <= {"text", "buttons", "quick_replies", "image", "attachment", "elements",
                          "custom"} for m in answer["messages"])
