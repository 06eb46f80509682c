"""End to end: fake Telegram Bot API -> connector (python-telegram-bot) -> real Rasa server -> real
action server -> fake sendMessage. Uses the trained model in models/ (`make test` trains first).

One stack for the module (Rasa takes a while to start); every test uses its own chat ids.
Rasa runs in polling mode and also accepts webhook POSTs (a webhook secret is set), so both sources
are exercised. The crash/restart test runs last.
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from connectors import messages
from connectors.pseudonym import pseudonymise
from connectors.store import ConnectorStore
from tests.conftest import skip_or_fail
from tests.fake_telegram import FakeTelegram
from tests.stack import RasaStack, StackError, latest_model

TOKEN = "424242:E2E-token"
SECRET = "e2e_webhook-secret"
KEY = "e2e-pseudonym-key"
CANARY = "zebracanary"  # a word that must never reach a log

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.e2e]


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
    s = RasaStack(env={
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_POLL_TIMEOUT": "2",
        "PSEUDONYM_KEY": KEY,
    }, workdir=tmp_path_factory.mktemp("e2e-stack"))
    # Start in a thread: the fake server (this loop) must answer the connector while Rasa starts.
    await asyncio.to_thread(s.start)
    yield s
    await asyncio.to_thread(s.stop)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


def sid(chat_id: int) -> str:
    return pseudonymise(chat_id, KEY.encode())


async def tracker_events(http: aiohttp.ClientSession, stack: RasaStack, sender_id: str) -> list:
    async with http.get(f"{stack.rasa_url}/conversations/{sender_id}/tracker",
                        headers=stack.auth_headers()) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json()).get("events") or []


def user_events(events: list) -> list:
    return [e for e in events if e.get("event") == "user"]


def bot_texts(events: list) -> list:
    """The Telegram messages the tracker's bot events should have become: a turn's consecutive
    bot messages are paragraphs of one message, and a message with buttons ends its group
    (TELEGRAM_MERGE_REPLIES, on by default)."""
    sent: list[str] = []
    joinable = False
    for event in events:
        if event.get("event") == "user":
            joinable = False
        elif event.get("event") == "bot" and event.get("text"):
            if joinable:
                sent[-1] += "\n\n" + event["text"]
            else:
                sent.append(event["text"])
            joinable = not (event.get("data") or {}).get("buttons")
    return sent


async def settle(fake: FakeTelegram, chat_id: int, at_least: int, quiet: float = 1.0,
                 timeout: float = 60.0) -> list:
    """Wait for at least `at_least` messages to the chat, then for `quiet` seconds without more."""
    msgs = await fake.wait_for_messages(chat_id, at_least, timeout=timeout)
    assert len(msgs) >= at_least, f"chat {chat_id}: {len(msgs)} of {at_least} messages"
    while True:
        count = len(fake.messages_to(chat_id))
        await asyncio.sleep(quiet)
        if len(fake.messages_to(chat_id)) == count:
            return fake.messages_to(chat_id)


async def say(fake: FakeTelegram, chat_id: int, text: str, **kw: Any) -> list:
    """Send one message and return the new bot messages it produced."""
    before = len(fake.messages_to(chat_id))
    fake.push_message(chat_id, text, **kw)
    return (await settle(fake, chat_id, before + 1))[before:]


async def test_text_round_trip_pseudonym_metadata_and_no_text_in_logs(fake, stack, http):
    chat = 1001
    update = fake.push_message(chat, f"hello, my name is {CANARY}", language_code="en")
    replies = await settle(fake, chat, 1)
    events = await tracker_events(http, stack, sid(chat))
    users = user_events(events)
    assert users[-1]["text"] == f"hello, my name is {CANARY}"
    assert users[-1]["message_id"] == str(update["update_id"])
    metadata = users[-1]["metadata"]
    assert {k: metadata[k] for k in ("language_code", "channel")} == {"language_code": "en",
                                                                       "channel": "telegram"}
    # Rasa adds model_id / assistant_id; the connector adds nothing that identifies the user.
    assert set(metadata) <= {"language_code", "channel", "model_id", "assistant_id"}
    assert users[-1]["input_channel"] == "telegram"
    assert [m["text"] for m in replies] == bot_texts(events)
    # The chat id is not a Rasa conversation.
    assert user_events(await tracker_events(http, stack, str(chat))) == []
    for name in ("rasa", "actions"):
        log = (stack.workdir / f"{name}.log").read_text(encoding="utf-8", errors="replace")
        assert CANARY not in log, f"message text in {name}.log"
        assert str(chat) not in log.replace(str(stack.rasa_port), ""), f"chat id in {name}.log"


@pytest.mark.parametrize("chat,command,intent", [
    (1101, "/start", "start"), (1102, "/help", "help"), (1103, "/language", "ask_language"),
    (1104, "/country", "ask_country"), (1105, "/helplines", "ask_helplines"), (1106, "/sos", "sos"),
    (1107, "/human", "request_human"), (1108, "/delete", "request_delete"), (1109, "/stop", "stop"),
])
async def test_commands_reach_rasa_as_their_intents(fake, stack, http, chat, command, intent):
    replies = await say(fake, chat, command, language_code="fr")
    assert replies, f"{command} got no answer"
    last = user_events(await tracker_events(http, stack, sid(chat)))[-1]
    assert last["parse_data"]["intent"]["name"] == intent


async def test_slash_text_is_neutralised_not_injected(fake, stack, http):
    chat = 2001
    await say(fake, chat, "hello")
    await say(fake, chat, '/greet{"language": "fr"}')
    await say(fake, chat, "/restart")
    events = await tracker_events(http, stack, sid(chat))
    texts = [e["text"] for e in user_events(events)]
    assert texts[-2:] == ['greet{"language": "fr"}', "restart"]
    assert all(not t.startswith("/") for t in texts[1:])
    assert not any(e.get("event") == "restart" for e in events)
    assert all(e["parse_data"]["intent"].get("confidence", 0) < 1.0 or
               e["parse_data"]["intent"]["name"].startswith("crisis_")
               for e in user_events(events)[-2:])


async def test_buttons_are_inline_keyboards_and_callbacks_are_checked(fake, stack, http):
    chat = 3001
    replies = await say(fake, chat, "/language")
    keyboards = [m["reply_markup"]["inline_keyboard"] for m in replies if m.get("reply_markup")]
    assert keyboards, "the language question has buttons"
    buttons = [b for row in keyboards[-1] for b in row if "callback_data" in b]
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)
    answered_before = len(fake.calls_of("answerCallbackQuery"))
    before = len(fake.messages_to(chat))
    fake.push_callback(chat, buttons[0]["callback_data"])
    await settle(fake, chat, before + 1)
    last = user_events(await tracker_events(http, stack, sid(chat)))[-1]
    data = buttons[0]["callback_data"]
    expected_intent = data[1:].split("{")[0] if data.startswith("/") else None
    if expected_intent:
        assert last["parse_data"]["intent"]["name"] == expected_intent
    # Forged and unknown button data: a polite "expired" reply, nothing reaches Rasa.
    users_before = len(user_events(await tracker_events(http, stack, sid(chat))))
    for forged in ['/greet{"risk_level": "none"}', "/restart", "t:nope", "hello"]:
        before = len(fake.messages_to(chat))
        fake.push_callback(chat, forged)
        new = (await settle(fake, chat, before + 1))[before:]
        assert [m["text"] for m in new] == [messages.text("button_expired", "en")]
    assert len(user_events(await tracker_events(http, stack, sid(chat)))) == users_before
    assert len(fake.calls_of("answerCallbackQuery")) == answered_before + 5


async def test_every_odd_update_gets_a_kind_reply_or_is_ignored(fake, stack, http):
    chat = 4001
    kinds = [{"sticker": {"file_id": "s", "file_unique_id": "u", "width": 1, "height": 1,
                          "is_animated": False, "is_video": False, "type": "regular"}},
             {"photo": [{"file_id": "p", "file_unique_id": "u", "width": 1, "height": 1}]},
             {"voice": {"file_id": "v", "file_unique_id": "u", "duration": 1}},
             {"video": {"file_id": "v", "file_unique_id": "u", "width": 1, "height": 1, "duration": 1}},
             {"document": {"file_id": "d", "file_unique_id": "u"}},
             {"location": {"latitude": 48.85, "longitude": 2.35}},
             {"contact": {"phone_number": "+33100000000", "first_name": "X"}},
             {"poll": {"id": "1", "question": "?", "options": [], "total_voter_count": 0,
                       "is_closed": False, "is_anonymous": True, "type": "regular",
                       "allows_multiple_answers": False}}]
    for content in kinds:
        fake.push_message(chat, None, **content)
    replies = await settle(fake, chat, len(kinds))
    assert [m["text"] for m in replies] == [messages.text("unsupported", "en")] * len(kinds)
    edited = fake.push_message(chat, "typo")["message"]
    fake.push_update({"edited_message": {**edited, "edit_date": int(time.time())}})
    group = {"message_id": 9, "date": 0, "chat": {"id": -4001, "type": "group", "title": "g"},
             "from": {"id": chat, "is_bot": False, "first_name": "T"}, "text": "hi all"}
    fake.push_update({"message": group})
    fake.push_update({"channel_post": {"message_id": 1, "date": 0,
                                       "chat": {"id": -1004001, "type": "channel"}, "text": "x"}})
    fake.push_update({"inline_query": {"id": "q", "from": {"id": chat, "is_bot": False,
                                                           "first_name": "T"},
                                       "query": "x", "offset": ""}})
    fake.push_update({"update_id": fake.next_update_id(), "unknown_future_field": {"x": 1}})
    await settle(fake, chat, len(kinds) + 2)  # "typo" gets an answer, the edit a note
    assert messages.text("edited", "en") in [m["text"] for m in fake.messages_to(chat)]
    assert fake.messages_to(-4001) == [] and fake.messages_to(-1004001) == []
    assert await fake.wait_for(lambda: fake.pending_updates() == 0, 10)
    texts = [e["text"] for e in user_events(await tracker_events(http, stack, sid(chat)))]
    assert texts == ["typo"]
    assert user_events(await tracker_events(http, stack, sid(-4001))) == []


async def test_duplicate_update_is_answered_once(fake, stack, http):
    chat = 5001
    update = fake.push_message(chat, "hello there")
    replies = await settle(fake, chat, 1)
    body = {k: v for k, v in update.items() if not k.startswith("_")}
    for _ in range(2):
        async with http.post(f"{stack.rasa_url}/webhooks/telegram/webhook", json=body,
                             headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as resp:
            assert resp.status == 200
    await asyncio.sleep(2.0)
    assert len(fake.messages_to(chat)) == len(replies)
    ids = [e["message_id"] for e in user_events(await tracker_events(http, stack, sid(chat)))]
    assert ids.count(str(update["update_id"])) == 1


async def test_webhook_secret_and_bad_bodies(fake, stack, http):
    url = f"{stack.rasa_url}/webhooks/telegram/webhook"
    update = {"update_id": fake.next_update_id(),
              "message": {"message_id": 1, "date": 0, "chat": {"id": 6001, "type": "private"},
                          "from": {"id": 6001, "is_bot": False, "first_name": "W",
                                   "language_code": "fr"}, "text": "bonjour"}}
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                    {"X-Telegram-Bot-Api-Secret-Token": SECRET + "x"}):
        async with http.post(url, json=update, headers=headers) as resp:
            assert resp.status == 403
    good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    for raw in (b"not json", b"[]", b"null", b'{"update_id": "x"}', b"{}"):
        async with http.post(url, data=raw, headers={**good, "Content-Type": "application/json"}) as resp:
            assert resp.status == 200
    async with http.post(url, json=update, headers=good) as resp:
        assert resp.status == 200
    replies = await settle(fake, 6001, 1)
    assert replies
    assert user_events(await tracker_events(http, stack, sid(6001)))[-1]["text"] == "bonjour"


async def test_429_and_500_answers_are_retried_without_loss_or_duplicates(fake, stack, http):
    chat = 7001
    fake.fail("sendMessage", 429, times=1, retry_after=1, chat_id=chat)
    fake.fail("sendMessage", 500, times=2, chat_id=chat)
    for text in ("hello", "thanks"):
        fake.push_message(chat, text)
    await asyncio.sleep(1.0)
    events = await tracker_events(http, stack, sid(chat))
    deadline = time.monotonic() + 60
    while len(user_events(events)) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        events = await tracker_events(http, stack, sid(chat))
    expected = bot_texts(events)
    sent = await settle(fake, chat, len(expected), quiet=2.0)
    assert [m["text"] for m in sent] == expected
    statuses = [c.status for c in fake.calls_of("sendMessage") if c.params.get("chat_id") == chat]
    assert statuses[:3] == [429, 500, 500]


async def test_blocked_user_is_marked_inactive(fake, stack, http):
    chat = 8001
    await say(fake, chat, "hello")
    fake.block(chat)
    fake.push_message(chat, "thanks")
    await fake.wait_for(lambda: any(c.status == 403 for c in fake.calls_of("sendMessage")
                                    if c.params.get("chat_id") == chat), 30)
    store = ConnectorStore(stack.env["CONNECTOR_DB_URL"])
    await store.open()
    try:
        for _ in range(50):
            chat_row = await store.get_chat(sid(chat))
            if chat_row and chat_row[1] is False:
                break
            await asyncio.sleep(0.2)
        assert chat_row == (chat, False)
        assert [r for r in await store.outbox_pending() if r[1] == sid(chat)] == []
    finally:
        await store.close()
    attempts = len([c for c in fake.calls_of("sendMessage") if c.params.get("chat_id") == chat])
    async with http.post(f"{stack.rasa_url}/webhooks/telegram/operator/send",
                         json={"sender_id": sid(chat), "text": "are you ok?", "worker": "w-1"},
                         headers=stack.operator_headers()) as resp:
        assert resp.status == 200
        assert (await resp.json())["delivered"] == "recorded"
    await asyncio.sleep(1.0)
    assert len([c for c in fake.calls_of("sendMessage") if c.params.get("chat_id") == chat]) == attempts


async def test_operator_send(fake, stack, http):
    url = f"{stack.rasa_url}/webhooks/telegram/operator/send"
    chat = 9001
    await say(fake, chat, "hello")
    body = {"sender_id": sid(chat), "text": "Hi, I'm Sam, a person from the team.", "worker": "w-7"}
    async with http.post(url, json=body) as resp:
        assert resp.status == 401
    async with http.post(url, json=body, headers={"Authorization": "Bearer nope"}) as resp:
        assert resp.status == 403
    async with http.post(url, json={**body, "sender_id": "tg-" + "0" * 32},
                         headers=stack.operator_headers()) as resp:
        assert resp.status == 404
    for bad in ({**body, "text": ""}, {"sender_id": sid(chat)}, [1, 2]):
        async with http.post(url, json=bad, headers=stack.operator_headers()) as resp:
            assert resp.status == 400
    before = len(fake.messages_to(chat))
    async with http.post(url, json=body, headers=stack.operator_headers()) as resp:
        assert resp.status == 200
        assert await resp.json() == {"ok": True, "delivered": "queued"}
    new = (await settle(fake, chat, before + 1))[before:]
    assert [m["text"] for m in new] == [body["text"]]
    events = await tracker_events(http, stack, sid(chat))
    worker = [e for e in events if e.get("event") == "bot" and e.get("metadata", {}).get("from") == "worker"]
    assert worker[-1]["text"] == body["text"] and worker[-1]["metadata"]["worker"] == "w-7"
    # A notice from the bot itself (the dashboard's automatic hand-back), in the user's language.
    async with http.post(url, json={"sender_id": sid(chat), "notice": "bogus"},
                         headers=stack.operator_headers()) as resp:
        assert resp.status == 400
    before = len(fake.messages_to(chat))
    async with http.post(url, json={"sender_id": sid(chat), "notice": "handback"},
                         headers=stack.operator_headers()) as resp:
        assert await resp.json() == {"ok": True, "delivered": "queued"}
    new = (await settle(fake, chat, before + 1))[before:]
    from actions import library

    assert [m["text"] for m in new] == [library.message("handback_notice", "en")]
    events = await tracker_events(http, stack, sid(chat))
    notice = [e for e in events if e.get("event") == "bot" and e.get("metadata", {}).get("from") == "bot"]
    assert notice[-1]["metadata"] == {"from": "bot", "kind": "handback_notice", "language": "en"}
    # A web (REST) conversation is recorded, not sent anywhere.
    async with http.post(f"{stack.rasa_url}/webhooks/rest/webhook",
                         json={"sender": "web-e2e", "message": "hello"}) as resp:
        assert resp.status == 200
    async with http.post(url, json={**body, "sender_id": "web-e2e"},
                         headers=stack.operator_headers()) as resp:
        assert (await resp.json()) == {"ok": True, "delivered": "recorded"}


async def test_delete_erases_connector_rows(fake, stack, http):
    chat = 9501
    await say(fake, chat, "hello")
    replies = await say(fake, chat, "/delete")
    buttons = [b for m in replies if m.get("reply_markup")
               for row in m["reply_markup"]["inline_keyboard"] for b in row if "callback_data" in b]
    confirm = [b for b in buttons if "confirm_delete" in b["callback_data"]]
    assert confirm, f"no confirmation button in {json.dumps(replies)[:300]}"
    before = len(fake.messages_to(chat))
    fake.push_callback(chat, confirm[0]["callback_data"])
    await settle(fake, chat, before + 1, quiet=2.0)
    assert user_events(await tracker_events(http, stack, sid(chat))) == []
    store = ConnectorStore(stack.env["CONNECTOR_DB_URL"])
    await store.open()
    try:
        assert await store.counts(sid(chat)) == {"chats": 0, "outbox": 0, "callbacks": 0,
                                                 "updates": 0}
    finally:
        await store.close()


async def burst_and_restart(fake, stack, http, chats: list, kill: bool) -> dict:
    """Push a burst to several chats, restart Rasa once some replies went out, wait for the rest.
    Returns {chat: (tracker user message ids, pushed ids, sent texts, tracker bot texts)}."""
    pushed: dict[int, list[int]] = {c: [] for c in chats}
    for word in ["hello", "thanks", "who runs this?", "goodbye"]:
        for chat in chats:
            pushed[chat].append(fake.push_message(chat, word)["update_id"])
    await fake.wait_for(lambda: sum(len(fake.messages_to(c)) for c in chats) >= 3, 60)
    await asyncio.to_thread(stack.restart_rasa, kill)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        done = 0
        for chat in chats:
            ids = [e.get("message_id") for e in user_events(await tracker_events(http, stack, sid(chat)))]
            done += all(str(u) in ids for u in pushed[chat])
        if done == len(chats):
            break
        await asyncio.sleep(1.0)
    for chat in chats:  # and every reply is out
        await settle(fake, chat, 1, quiet=2.0)
    result = {}
    for chat in chats:
        events = await tracker_events(http, stack, sid(chat))
        result[chat] = ([e.get("message_id") for e in user_events(events)],
                        [str(u) for u in pushed[chat]],
                        [m["text"] for m in fake.messages_to(chat)], bot_texts(events))
    return result


async def test_zy_graceful_restart_mid_burst_is_exactly_once(fake, stack, http):
    result = await burst_and_restart(fake, stack, http, list(range(9801, 9807)), kill=False)
    for chat, (ids, pushed, sent, expected) in result.items():
        assert ids == pushed, f"chat {chat}: order/loss/duplicate {ids} vs {pushed}"
        assert sent == expected, (f"chat {chat}: sent {[t[:30] for t in sent]} != tracker "
                                  f"{[t[:30] for t in expected]}")


def is_subsequence(needle: list, haystack: list) -> bool:
    it = iter(haystack)
    return all(any(x == y for y in it) for x in needle)


async def test_zz_crash_mid_burst_loses_nothing(fake, stack, http):
    """SIGKILL: every update is handled exactly once and every bot message is delivered in order.
    A message Telegram received just before the kill, whose outbox row was not yet cleared, is
    sent again (at-least-once delivery; Telegram has no idempotency key): at most one per chat."""
    result = await burst_and_restart(fake, stack, http, list(range(9901, 9907)), kill=True)
    extra = 0
    for chat, (ids, pushed, sent, expected) in result.items():
        assert ids == pushed, f"chat {chat}: order/loss/duplicate {ids} vs {pushed}"
        assert is_subsequence(expected, sent), (f"chat {chat}: sent {[t[:30] for t in sent]} "
                                                f"misses some of {[t[:30] for t in expected]}")
        assert len(sent) - len(expected) <= 1, f"chat {chat}: {len(sent) - len(expected)} repeats"
        extra += len(sent) - len(expected)
    print(f"crash mid-burst: {extra} message(s) repeated over {len(result)} chats")
