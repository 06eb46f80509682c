"""Connector unit tests that need no Rasa model: pure helpers, the store, the sender and the
runtime against the fake Bot API server (python-telegram-bot is the real client)."""
from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from connectors import messages
from connectors.dispatch import decide
from connectors.payloads import (
    COMMANDS,
    AllowList,
    command_payload,
    domain_intents,
    neutralise_text,
    split_message,
)
from connectors.pseudonym import is_telegram_sender, pseudonymise
from connectors.sender import Sender
from connectors.store import ConnectorStore
from connectors.telegram import (
    TelegramInput,
    TelegramOutput,
    TelegramRuntime,
    TelegramSettings,
    make_bot,
)
from tests.conftest import skip_or_fail
from tests.fake_telegram import FakeTelegram
from tests.stack import free_port

REPO = Path(__file__).resolve().parents[1]
KEY = b"unit-test-pseudonym-key"
TOKEN = "123456:UNIT-token"


# -- pseudonym ---------------------------------------------------------------------------------
def test_pseudonym_is_keyed_stable_and_shaped():
    a = pseudonymise(42, KEY)
    assert a == pseudonymise("42", KEY)
    assert a != pseudonymise(42, b"another key")
    assert a != pseudonymise(43, KEY)
    assert a.startswith("tg-") and len(a) == 35
    assert "42" not in a[3:] or a != "tg-42"
    assert is_telegram_sender(a)
    assert not is_telegram_sender("web-abc")
    with pytest.raises(ValueError):
        pseudonymise(42, b"")


def test_pseudonym_matches_the_documented_hmac():
    import hashlib
    import hmac

    expected = "tg-" + hmac.new(KEY, b"-100123", hashlib.sha256).hexdigest()[:32]
    assert pseudonymise(-100123, KEY) == expected


# -- commands, text, allow-list ---------------------------------------------------------------
@pytest.mark.parametrize("command,intent", sorted(COMMANDS.items()))
def test_every_command_maps_to_its_intent(command, intent):
    assert command_payload(f"/{command}") == f"/{intent}"
    assert command_payload(f"/{command}@counter_test_bot") == f"/{intent}"
    assert command_payload(f"/{command} deep-link-arg") == f"/{intent}"


def test_commands_listed_in_architecture_are_all_mapped():
    architecture = (REPO / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for command, intent in COMMANDS.items():
        assert f"`/{command}`" in architecture
        assert f"`{intent}`" in architecture


@pytest.mark.parametrize("text", ["/greet", '/inform_country{"country": "FR"}', "/startx",
                                  "/restart", "/session_start", "//greet", " /greet"])
def test_unknown_commands_are_not_commands(text):
    assert command_payload(text) is None


@pytest.mark.parametrize("text,expected", [
    ("/greet", "greet"),
    ('/crisis_self_harm{"x": 1}', 'crisis_self_harm{"x": 1}'),
    ("  // / hello there", "hello there"),
    ("/", ""),
    ("hello /greet", "hello /greet"),
])
def test_neutralise_strips_leading_slashes(text, expected):
    assert neutralise_text(text) == expected
    assert not neutralise_text(text).startswith("/")


def test_allow_list_accepts_only_domain_intents_with_safe_entities():
    # Rasa's agent.domain.intents also lists its default intents: they must never pass.
    allow = AllowList(["greet", "choose_language", "inform_country", "start", "restart", "back",
                       "session_start", "nlu_fallback"])
    for default in ("/restart", "/back", "/session_start", "/nlu_fallback"):
        assert allow.check(default) is None
    assert allow.check("/greet") == "/greet"
    assert allow.check('/choose_language{"language": "fr"}') == '/choose_language{"language":"fr"}'
    assert allow.check('/inform_country{"country":"BE"}') == '/inform_country{"country":"BE"}'
    for bad in ['/choose_language{"language": "de"}', '/inform_country{"country": "be"}',
                '/greet{"risk_level": "none"}', "/restart", "/unknown", "greet", "",
                '/greet{not json}', '/greet{"language": "en"', None, 12, "/greet" + "x" * 600,
                '/choose_language{"language": "en", "name": "x"}', "/greet{}"]:
        assert allow.check(bad) is None, bad


def test_domain_intents_read_from_a_domain_file(tmp_path):
    domain = tmp_path / "domain.yml"
    domain.write_text("version: '3.1'\nintents:\n  - greet\n  - choose_language:\n"
                      "      use_entities: [language]\n", encoding="utf-8")
    assert domain_intents(domain) == ["greet", "choose_language"]
    assert domain_intents(tmp_path / "missing.yml") == []


def test_split_message_keeps_parts_under_the_limit_and_loses_nothing():
    paragraph = ("This is a sentence. " * 30).strip()
    text = "\n\n".join([paragraph] * 12)
    parts = split_message(text, 4096)
    assert len(parts) > 1
    assert all(0 < len(p) <= 4096 for p in parts)
    assert "".join(parts).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")
    assert all(p.endswith(".") for p in parts)  # paragraph or sentence boundaries
    no_spaces = "x" * 9000
    parts = split_message(no_spaces, 4096)
    assert [len(p) for p in parts] == [4096, 4096, 808]
    assert split_message("short") == ["short"]


# -- dispatch ----------------------------------------------------------------------------------
def _msg(**content: Any) -> dict:
    base = {"message_id": 1, "date": 0, "chat": {"id": 7, "type": "private"},
            "from": {"id": 7, "is_bot": False, "first_name": "A", "language_code": "fr-FR"}}
    base.update(content)
    return {"update_id": 1, "message": base}


def test_dispatch_text_command_and_injection():
    d = decide(_msg(text="  salut  "))
    assert (d.kind, d.chat_id, d.text, d.language_code) == ("message", 7, "salut", "fr-FR")
    assert decide(_msg(text="/start")).text == "/start"
    assert decide(_msg(text="/delete")).text == "/request_delete"
    injected = decide(_msg(text='/crisis_self_harm{"risk_level":"none"}'))
    assert injected.kind == "message" and not injected.text.startswith("/")
    assert decide(_msg(text="///")).kind == "reply"


@pytest.mark.parametrize("content", [
    {"sticker": {"file_id": "x"}}, {"photo": [{"file_id": "x"}]}, {"voice": {"file_id": "x"}},
    {"video": {"file_id": "x"}}, {"document": {"file_id": "x"}},
    {"location": {"latitude": 1.0, "longitude": 2.0}}, {"contact": {"phone_number": "1"}},
    {"poll": {"id": "p"}}, {"video_note": {"file_id": "x"}}, {"animation": {"file_id": "x"}},
])
def test_dispatch_non_text_gets_kind_reply(content):
    d = decide(_msg(**content))
    assert d.kind == "reply" and d.reply_key == "unsupported" and d.chat_id == 7


def test_dispatch_odd_updates():
    group = _msg(text="hi")
    group["message"]["chat"] = {"id": -5, "type": "group"}
    assert decide(group).kind == "ignore"
    assert decide({"update_id": 2, "channel_post": {"text": "x"}}).kind == "ignore"
    edited = {"update_id": 3, "edited_message": _msg(text="x")["message"]}
    assert decide(edited).reply_key == "edited"
    blocked = {"update_id": 4, "my_chat_member": {"chat": {"id": 7, "type": "private"},
                                                  "new_chat_member": {"status": "kicked"}}}
    assert decide(blocked).kind == "blocked"
    for junk in [None, [], "x", {}, {"update_id": 5}, {"update_id": 6, "message": "x"},
                 {"update_id": 7, "message": {"chat": "x"}}, {"update_id": 8, "callback_query": {}}]:
        assert decide(junk).kind == "ignore"
    cb = decide({"update_id": 9, "callback_query": {"id": "q", "data": "/greet",
                                                    "from": {"id": 7},
                                                    "message": {"chat": {"id": 7, "type": "private"}}}})
    assert (cb.kind, cb.callback_query_id, cb.callback_data) == ("callback", "q", "/greet")
    no_msg = decide({"update_id": 10, "callback_query": {"id": "q2", "data": "/greet"}})
    assert no_msg.kind == "ignore" and no_msg.callback_query_id == "q2"


def test_messages_are_bilingual():
    assert messages.language_of("fr-CA") == "fr"
    assert messages.language_of(None) == "en"
    assert messages.text("button_expired", "fr") != messages.text("button_expired", "en")


# -- settings and construction -----------------------------------------------------------------
def test_channel_without_token_is_off_and_makes_no_network_call(monkeypatch, caplog):
    def _no_network(*args, **kwargs):
        raise AssertionError("network call during construction")

    monkeypatch.setattr(socket, "create_connection", _no_network)
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(TelegramInput, "_announced_off", False)
    caplog.set_level(logging.INFO)
    channel = TelegramInput.from_credentials(None)
    channel.settings = TelegramSettings.from_env({})
    assert channel.settings.mode == "off"
    assert TelegramInput.name() == "telegram"
    assert isinstance(channel.get_output_channel(), TelegramOutput)
    TelegramInput(TelegramSettings.from_env({}))  # a second channel does not log again
    assert sum("Telegram is off" in r.getMessage() for r in caplog.records) <= 1


def test_settings_modes_from_env():
    base = {"TELEGRAM_BOT_TOKEN": TOKEN, "PSEUDONYM_KEY": "k"}
    assert TelegramSettings.from_env(base).mode == "polling"
    assert TelegramSettings.from_env({**base, "TELEGRAM_WEBHOOK_URL": "https://x/y"}).mode == "webhook"
    settings = TelegramSettings.from_env({**base, "TELEGRAM_API_BASE_URL": "http://127.0.0.1:1/bot"})
    assert settings.base_url == "http://127.0.0.1:1/bot"
    # Token without a pseudonym key: Telegram stays off rather than using raw chat ids.
    channel = TelegramInput(TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN}))
    assert channel.settings.mode == "off"


# -- store -------------------------------------------------------------------------------------
def _postgres_url() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            pass
    except OSError:
        return None
    try:
        import psycopg2

        psycopg2.connect(host="127.0.0.1", user="postgres", dbname="test", connect_timeout=2).close()
    except Exception:  # noqa: BLE001
        return None
    return "postgresql://postgres@127.0.0.1:5432/test"


STORE_URLS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest_asyncio.fixture(params=STORE_URLS)
async def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'connector.db'}"
    else:
        url = _postgres_url()
        if url is None:
            skip_or_fail("PostgreSQL not reachable on 127.0.0.1:5432 (db test, user postgres)")
    s = ConnectorStore(url)
    await s.open()
    if request.param == "postgresql":
        from connectors import store as store_module

        def _clear():
            with s._engine.begin() as conn:
                for table in reversed(store_module.metadata.sorted_tables):
                    conn.execute(table.delete())

        await s._run(_clear)
    yield s
    await s.close()


@pytest.mark.asyncio
async def test_store_idempotency_payload_drop_and_purge(store):
    sender = pseudonymise(1, KEY)
    assert await store.claim_update(10, sender, {"update_id": 10, "x": "secret text"})
    assert not await store.claim_update(10, sender, {"update_id": 10})
    assert [u for u, _ in await store.pending_updates()] == [10]
    await store.finish_update(10)
    assert await store.update_status(10) == "done"
    assert await store.pending_updates() == []
    # The payload and sender are gone, the id stays (a redelivery is still refused).
    counts = await store.counts(sender)
    assert counts["updates"] == 0
    assert not await store.claim_update(10, sender, {"update_id": 10})
    await store.purge(update_retention_s=-1, callback_retention_s=-1)
    assert await store.update_status(10) is None


@pytest.mark.asyncio
async def test_store_chats_outbox_callbacks_and_erasure(store):
    sender = pseudonymise(2, KEY)
    await store.remember_chat(sender, 2)
    assert await store.get_chat(sender) == (2, True)
    await store.set_active(sender, False)
    assert await store.get_chat(sender) == (2, False)
    row = await store.outbox_add(sender, 2, "sendMessage", {"text": "a"})
    await store.outbox_add(sender, 2, "sendMessage", {"text": "b"})
    pending = await store.outbox_pending()
    assert [p[4]["text"] for p in pending] == ["a", "b"]
    await store.outbox_done(row)
    assert [p[4]["text"] for p in await store.outbox_pending()] == ["b"]
    await store.callback_put("tok", sender, "/greet")
    assert await store.callback_get("tok", sender) == "/greet"
    assert await store.callback_get("tok", pseudonymise(3, KEY)) is None
    await store.claim_update(20, sender, {"update_id": 20})
    await store.erase_sender(sender)
    counts = await store.counts(sender)
    assert counts["chats"] == counts["outbox"] == counts["callbacks"] == 0
    # A still-pending (newer) update is kept so it gets answered.
    assert counts["updates"] == 1


# -- sender against the fake Bot API ----------------------------------------------------------
@pytest_asyncio.fixture
async def fake():
    server = FakeTelegram(token=TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def sqlite_store(tmp_path):
    s = ConnectorStore(f"sqlite:///{tmp_path / 'c.db'}")
    await s.open()
    yield s
    await s.close()


def _settings(fake: FakeTelegram, tmp_path: Path, **extra: Any) -> TelegramSettings:
    env = {"TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_BASE_URL": fake.base_url,
           "PSEUDONYM_KEY": KEY.decode(), "CONNECTOR_DB_URL": f"sqlite:///{tmp_path / 'rt.db'}",
           "TELEGRAM_POLL_TIMEOUT": "1", "RASA_API_TOKEN": "t"}
    env.update(extra)
    return TelegramSettings.from_env(env)


@pytest.mark.asyncio
async def test_sender_retries_429_and_500_without_loss_in_order(fake, sqlite_store, tmp_path):
    bot = make_bot(_settings(fake, tmp_path))
    sender = Sender(bot, sqlite_store, global_rate=100, chat_rate=100, chat_burst=100)
    fake.fail("sendMessage", 429, times=1, retry_after=1)
    fake.fail("sendMessage", 500, times=2)
    sid = pseudonymise(5, KEY)
    started = time.monotonic()
    for i in range(5):
        await sender.send(sid, 5, "sendMessage", {"text": f"m{i}"})
    msgs = await fake.wait_for_messages(5, 5, timeout=20)
    assert [m["text"] for m in msgs] == [f"m{i}" for i in range(5)]
    assert time.monotonic() - started >= 1.0  # waited retry_after
    assert [c.status for c in fake.calls_of("sendMessage")][:3] == [429, 500, 500]
    assert await sender.drain(5)
    assert await sqlite_store.outbox_pending() == []
    await sender.close()
    await bot.shutdown()


@pytest.mark.asyncio
async def test_sender_marks_blocked_chat_inactive_and_stops(fake, sqlite_store, tmp_path):
    bot = make_bot(_settings(fake, tmp_path))
    sender = Sender(bot, sqlite_store, global_rate=100, chat_rate=100, chat_burst=100)
    blocked: list[str] = []

    async def on_blocked(sid: str) -> None:
        blocked.append(sid)
        await sqlite_store.set_active(sid, False)

    sender.on_blocked = on_blocked
    sid = pseudonymise(6, KEY)
    await sqlite_store.remember_chat(sid, 6)
    fake.block(6)
    for i in range(3):
        await sender.send(sid, 6, "sendMessage", {"text": f"m{i}"})
    await sender.send(pseudonymise(8, KEY), 8, "sendMessage", {"text": "other chat"})
    assert await sender.drain(10)
    assert blocked == [sid]
    assert len([c for c in fake.calls_of("sendMessage") if c.params["chat_id"] == 6]) == 1
    assert [m["text"] for m in fake.messages_to(8)] == ["other chat"]
    assert await sqlite_store.get_chat(sid) == (6, False)
    assert await sqlite_store.outbox_pending() == []
    await sender.close()
    await bot.shutdown()


@pytest.mark.asyncio
async def test_sender_respects_per_chat_and_global_rates(fake, sqlite_store, tmp_path):
    bot = make_bot(_settings(fake, tmp_path))
    sender = Sender(bot, sqlite_store, global_rate=10, chat_rate=2, chat_burst=1)
    for i in range(4):
        await sender.send(pseudonymise(9, KEY), 9, "sendMessage", {"text": f"a{i}"})
    for chat in range(100, 110):
        await sender.send(pseudonymise(chat, KEY), chat, "sendMessage", {"text": "b"})
    assert await sender.drain(20)
    times = [c.at for c in fake.calls_of("sendMessage") if c.params["chat_id"] == 9]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(times) == 4 and min(gaps) >= 0.45  # 2/s per chat
    all_times = sorted(c.at for c in fake.calls_of("sendMessage"))
    # 14 messages at 10/s with a burst of 10: the last cannot leave before ~0.4 s.
    assert all_times[-1] - all_times[0] >= 0.35
    await sender.close()
    await bot.shutdown()


@pytest.mark.asyncio
async def test_sender_resumes_outbox_after_restart(fake, tmp_path):
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    first = ConnectorStore(url)
    await first.open()
    sid = pseudonymise(11, KEY)
    await first.outbox_add(sid, 11, "sendMessage", {"text": "left over"})
    await first.close()
    second = ConnectorStore(url)
    await second.open()
    bot = make_bot(_settings(fake, tmp_path))
    sender = Sender(bot, second)
    assert await sender.resume_outbox() == 1
    msgs = await fake.wait_for_messages(11, 1, timeout=10)
    assert [m["text"] for m in msgs] == ["left over"]
    await sender.close()
    await bot.shutdown()
    await second.close()


# -- runtime with a stand-in for Rasa ----------------------------------------------------------
class EchoRasa:
    """Stands in for Rasa's message handler: records messages, answers through the output channel."""

    def __init__(self, delay: float = 0.0) -> None:
        self.messages: list[Any] = []
        self.delay = delay

    async def __call__(self, message: Any) -> None:
        self.messages.append(message)
        if self.delay:
            await asyncio.sleep(self.delay)
        if message.text == "/start":
            await message.output_channel.send_text_with_buttons(
                message.sender_id, "Choose",
                [{"title": "English", "payload": '/choose_language{"language": "en"}'},
                 {"title": "Long", "payload": '/inform_country{"country": "FR"}' + " " * 60}])
        elif message.text == "three":
            for text in ("one idea", "a second one"):
                await message.output_channel.send_text_message(message.sender_id, text)
            await message.output_channel.send_text_with_buttons(
                message.sender_id, "and a question?", [{"title": "Yes", "payload": "/greet"}])
            await message.output_channel.send_text_message(message.sender_id, "after the buttons")
        elif message.text == "/request_delete":
            await message.output_channel.send_text_message(message.sender_id, "bye")
            await message.output_channel.send_custom_json(message.sender_id, {"erasure": "done"})
        else:
            await message.output_channel.send_text_message(message.sender_id, f"echo {message.text}")


@pytest_asyncio.fixture
async def runtime(fake, tmp_path):
    rasa = EchoRasa()
    rt = TelegramRuntime(_settings(fake, tmp_path), rasa)
    await rt.start()
    rt.allow_list = AllowList(["greet", "choose_language", "inform_country", "start"])
    rt.test_rasa = rasa  # type: ignore[attr-defined]
    yield rt
    await rt.stop()


@pytest.mark.asyncio
async def test_runtime_polls_answers_in_order_with_pseudonym_and_metadata(fake, runtime):
    runtime.test_rasa.delay = 0.5  # a slow turn shows the typing indicator
    for i in range(3):
        fake.push_message(21, f"hello {i}", language_code="fr")
    msgs = await fake.wait_for_messages(21, 3, timeout=15)
    assert [m["text"] for m in msgs] == ["echo hello 0", "echo hello 1", "echo hello 2"]
    seen = runtime.test_rasa.messages
    assert {m.sender_id for m in seen} == {pseudonymise(21, KEY)}
    assert seen[0].metadata == {"language_code": "fr", "channel": "telegram"}
    assert seen[0].input_channel == "telegram"
    assert all(m.message_id.isdigit() for m in seen)
    assert fake.calls_of("sendChatAction")
    # Offsets advanced: Telegram has nothing left to re-send.
    assert await fake.wait_for(lambda: fake.pending_updates() == 0, 5)


@pytest.mark.asyncio
async def test_runtime_duplicate_update_is_answered_once(fake, runtime):
    update = fake.push_message(22, "once")
    await fake.wait_for_messages(22, 1, timeout=10)
    assert await runtime.accept({k: v for k, v in update.items() if not k.startswith("_")}) == "duplicate"
    await asyncio.sleep(0.3)
    assert len(fake.messages_to(22)) == 1


@pytest.mark.asyncio
async def test_runtime_buttons_callbacks_and_expired_buttons(fake, runtime):
    fake.push_message(23, "/start")
    msgs = await fake.wait_for_messages(23, 1, timeout=10)
    keyboard = msgs[0]["reply_markup"]["inline_keyboard"]
    datas = [row[0]["callback_data"] for row in keyboard]
    assert datas[0] == '/choose_language{"language": "en"}'
    assert datas[1].startswith("t:") and len(datas[1].encode()) <= 64
    fake.push_callback(23, datas[0])
    fake.push_callback(23, datas[1])
    fake.push_callback(23, '/greet{"risk_level": "none"}')  # forged
    fake.push_callback(23, "t:unknown-token")
    msgs = await fake.wait_for_messages(23, 5, timeout=15)
    texts = [m["text"] for m in msgs]
    assert texts[1] == 'echo /choose_language{"language":"en"}'
    assert texts[2] == 'echo /inform_country{"country":"FR"}'
    assert texts[3] == texts[4] == messages.text("button_expired", "en")
    assert len(fake.calls_of("answerCallbackQuery")) == 4
    assert [m.text for m in runtime.test_rasa.messages].count('/greet{"risk_level": "none"}') == 0


@pytest.mark.asyncio
async def test_runtime_odd_updates_get_kind_replies_and_never_reach_rasa(fake, runtime):
    fake.push_message(24, None, sticker={"file_id": "s"})
    fake.push_message(24, None, language_code="fr", photo=[{"file_id": "p"}])
    fake.push_update({"channel_post": {"message_id": 1, "date": 0,
                                       "chat": {"id": -100, "type": "channel"}, "text": "x"}})
    fake.push_message(124, "hi")  # known chat that then blocks the bot
    fake.push_update({"my_chat_member": {"chat": {"id": 124, "type": "private"},
                                         "from": {"id": 124, "is_bot": False, "first_name": "A"},
                                         "date": 0,
                                         "old_chat_member": {"status": "member", "user": {"id": 1}},
                                         "new_chat_member": {"status": "kicked", "user": {"id": 1}}}})
    msgs = await fake.wait_for_messages(24, 2, timeout=10)
    assert [m["text"] for m in msgs] == [messages.text("unsupported", "en"),
                                         messages.text("unsupported", "fr")]
    assert [m.text for m in runtime.test_rasa.messages] == ["hi"]
    assert await fake.wait_for(lambda: fake.pending_updates() == 0, 5)
    for _ in range(50):
        if (await runtime.store.get_chat(pseudonymise(124, KEY)))[1] is False:
            break
        await asyncio.sleep(0.1)
    assert (await runtime.store.get_chat(pseudonymise(124, KEY)))[1] is False


@pytest.mark.asyncio
async def test_runtime_erasure_after_delivery(fake, runtime):
    sid = pseudonymise(25, KEY)
    fake.push_message(25, "/delete")
    msgs = await fake.wait_for_messages(25, 1, timeout=10)
    assert [m["text"] for m in msgs] == ["bye"]
    assert await runtime.sender.drain(5)
    await asyncio.sleep(0.2)
    counts = await runtime.store.counts(sid)
    assert counts == {"chats": 0, "outbox": 0, "callbacks": 0, "updates": 0}


@pytest.mark.asyncio
async def test_runtime_recovers_pending_updates_after_a_crash(fake, tmp_path):
    settings = _settings(fake, tmp_path)
    crashed = ConnectorStore(settings.db_url)
    await crashed.open()
    update = {"update_id": 5000, "message": {"message_id": 1, "date": 0,
                                             "chat": {"id": 26, "type": "private"},
                                             "from": {"id": 26, "is_bot": False, "first_name": "A"},
                                             "text": "were you there"}}
    await crashed.claim_update(5000, pseudonymise(26, KEY), update)  # stored, never handled
    await crashed.close()
    rasa = EchoRasa()
    rt = TelegramRuntime(settings, rasa)
    await rt.start()
    try:
        msgs = await fake.wait_for_messages(26, 1, timeout=10)
        assert [m["text"] for m in msgs] == ["echo were you there"]
        assert await rt.store.update_status(5000) == "done"
    finally:
        await rt.stop()


@pytest.mark.asyncio
async def test_slow_chat_does_not_block_other_chats(fake, tmp_path):
    class SlowForOne(EchoRasa):
        async def __call__(self, message: Any) -> None:
            if message.text == "slow":
                await asyncio.sleep(2.0)
            await super().__call__(message)

    rt = TelegramRuntime(_settings(fake, tmp_path), SlowForOne())
    await rt.start()
    try:
        fake.push_message(30, "slow")
        await asyncio.sleep(0.2)
        started = time.monotonic()
        fake.push_message(31, "fast")
        await fake.wait_for_messages(31, 1, timeout=10)
        assert time.monotonic() - started < 1.5
        assert fake.messages_to(30) == []
        await fake.wait_for_messages(30, 1, timeout=10)
    finally:
        await rt.stop()


@pytest.mark.asyncio
async def test_handler_crash_gets_a_kind_reply_and_is_not_retried_forever(fake, tmp_path, caplog):
    async def broken(message: Any) -> None:
        raise RuntimeError("boom: " + message.text)

    rt = TelegramRuntime(_settings(fake, tmp_path), broken)
    await rt.start()
    try:
        caplog.set_level(logging.DEBUG, logger="connectors")
        update = fake.push_message(32, "private words")
        msgs = await fake.wait_for_messages(32, 1, timeout=10)
        assert msgs[0]["text"] == messages.text("error", "en")
        assert await rt.store.update_status(update["update_id"]) == "done"
        logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
        assert "private words" not in logged
    finally:
        await rt.stop()


@pytest.mark.asyncio
async def test_long_reply_is_split(fake, runtime):
    class LongRasa(EchoRasa):
        async def __call__(self, message: Any) -> None:
            await message.output_channel.send_text_message(
                message.sender_id, "\n\n".join(["Sentence number one. " * 60] * 8))

    runtime.on_new_message = LongRasa()
    fake.push_message(33, "tell me everything")
    msgs = await fake.wait_for_messages(33, 2, timeout=15)
    assert len(msgs) >= 2 and all(len(m["text"]) <= 4096 for m in msgs)
    assert [c.status for c in fake.calls_of("sendMessage") if c.params["chat_id"] == 33] == [200] * len(msgs)


def test_fake_server_records_json_bodies_too():
    # Guard for the e2e helpers: the fake parses both form and JSON bodies.
    async def go() -> None:
        import aiohttp

        async with FakeTelegram(token=TOKEN) as server, aiohttp.ClientSession() as session:
            async with session.post(f"{server.base_url}{TOKEN}/sendMessage",
                                    json={"chat_id": 1, "text": "x" * 4097}) as resp:
                assert resp.status == 400
            async with session.post(f"{server.base_url}wrong/getMe") as resp:
                assert resp.status == 401
            assert [c.status for c in server.calls] == [400, 401]
            assert json.dumps(server.calls[0].params)

    asyncio.run(go())


@pytest.mark.asyncio
async def test_recovery_resends_a_saved_turn_instead_of_running_it_again(fake, tmp_path):
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    settings = _settings(fake, tmp_path)
    sender_id = pseudonymise(27, KEY)
    tracker = DialogueStateTracker.from_events(sender_id, [
        ActionExecuted("action_listen"),
        UserUttered("hi", message_id="6000"),
        BotUttered("first reply"),
        BotUttered("pick one", data={"buttons": [{"title": "Yes", "payload": "/affirm"}]}),
        ActionExecuted("action_listen"),
    ])

    class Store:
        async def retrieve(self, sid: str) -> Any:
            return tracker if sid == sender_id else None

    class Agent:
        tracker_store = Store()
        domain = None

    crashed = ConnectorStore(settings.db_url)
    await crashed.open()
    update = {"update_id": 6000, "message": {"message_id": 1, "date": 0,
                                             "chat": {"id": 27, "type": "private"},
                                             "from": {"id": 27, "is_bot": False, "first_name": "A"},
                                             "text": "hi"}}
    await crashed.claim_update(6000, sender_id, update)
    await crashed.close()
    rasa = EchoRasa()
    rt = TelegramRuntime(settings, rasa, agent=Agent())
    await rt.start()
    try:
        msgs = await fake.wait_for_messages(27, 1, timeout=10)
        await asyncio.sleep(0.3)
        msgs = fake.messages_to(27)
        # The saved turn, sent as the live turn would have been: one message, buttons kept.
        assert [m["text"] for m in msgs] == ["first reply\n\npick one"]
        assert msgs[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "/affirm"
        assert rasa.messages == []  # the turn was not run twice
        assert await rt.store.update_status(6000) == "done"
    finally:
        await rt.stop()


def test_speedup_validates_action_results_like_rasa():
    import jsonschema
    from rasa.core.actions.action import RemoteAction

    from connectors import speedups

    before = RemoteAction._validate_action_result  # maybe patched by an earlier test already
    original = getattr(before, "__wrapped__", before)  # Rasa's own function
    action = RemoteAction.__new__(RemoteAction)  # only its static schema is used
    try:
        RemoteAction._validate_action_result = original
        assert speedups.apply() is True
        assert speedups.apply() is False  # idempotent
        patched = RemoteAction._validate_action_result
        assert patched is not original
        good = {"events": [{"event": "slot", "name": "language", "value": "fr"},
                           {"event": "bot", "text": "salut", "data": {}, "metadata": {}}],
                "responses": [{"text": "hello"}]}
        assert patched(action, good) is True
        assert original(action, good) is True
        for bad in ({"events": [{"event": "no_such_event"}]}, {"events": "x"},
                    {"responses": [1]}):
            with pytest.raises(jsonschema.ValidationError) as mine:
                patched(action, bad)
            with pytest.raises(jsonschema.ValidationError) as theirs:
                original(action, bad)
            assert mine.value.message == theirs.value.message
    finally:
        RemoteAction._validate_action_result = before


def test_speedup_fast_validator_agrees_with_rasa_on_typical_and_odd_responses():
    import jsonschema
    from rasa.core.actions.action import RemoteAction

    from connectors import speedups

    speedups.apply()
    patched = RemoteAction._validate_action_result
    original = getattr(patched, "__wrapped__", patched)
    action = RemoteAction.__new__(RemoteAction)
    cases = [
        {"events": [], "responses": []},
        {"events": [{"event": "slot", "name": "risk_level", "value": "critical", "timestamp": None}]},
        {"events": [{"event": "followup", "name": "action_listen"}]},
        {"events": [{"event": "action_execution_rejected", "name": "country_form"}]},
        {"events": [{"event": "active_loop", "name": None}, {"event": "pause"}, {"event": "resume"}]},
        {"events": [{"event": "user", "text": "hi", "parse_data": {"intent": {"name": "greet",
                                                                            "confidence": 1}}}]},
        {"events": [{"event": "bot", "text": "x", "metadata": {"cn_id": "a"}, "timestamp": 3}]},
        {"events": [{"event": "restart"}], "responses": [{"text": "t", "buttons": []}]},
        {"events": [{"event": "slot", "name": 3, "value": "x"}]},
        {"events": [{"event": "bot", "text": 5}]},
        {"events": [{"event": "user", "parse_data": {"intent": "greet"}}]},
        {"events": [{"timestamp": 1}]},
        {"events": [{"event": "slot", "name": "a", "value": 1, "timestamp": "yesterday"}]},
        {"events": None},
        [],
    ]
    for case in cases:
        try:
            theirs = original(action, case)
        except jsonschema.ValidationError as exc:
            theirs = exc.message
        try:
            mine = patched(action, case)
        except jsonschema.ValidationError as exc:
            mine = exc.message
        assert mine == theirs, case


def test_speedup_event_type_lookup_matches_rasa():
    from rasa.shared.core.events import Event, SlotSet, UserUttered

    from connectors import speedups

    speedups.apply()
    lookup = Event.resolve_by_type
    original = lookup.__wrapped__
    assert lookup is not original
    for name in ("user", "bot", "slot", "action", "followup", "pause", "resume", "restart",
                 "active_loop", "session_started", "user_featurization", "loop_interrupted"):
        assert lookup(name) is original(name)
    assert lookup("slot") is SlotSet and lookup("user") is UserUttered
    assert lookup("topic") is None  # Rasa's backwards-compatible answer
    assert lookup("no_such_event", default=SlotSet) is SlotSet
    with pytest.raises(ValueError):
        lookup("no_such_event")
    assert Event.from_parameters({"event": "slot", "name": "x", "value": 1}) == SlotSet("x", 1)


async def _serve_post(path: str, handler: Any) -> tuple[Any, int]:
    """A one-route aiohttp server on a free loopback port: (runner to clean up, port)."""
    from aiohttp import web

    app = web.Application()
    app.router.add_post(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


async def test_speedup_keeps_action_server_connections_alive_only_when_configured():
    from aiohttp import web
    from rasa.utils.endpoints import EndpointConfig

    from connectors import speedups

    speedups.apply()
    peers: list = []

    async def handler(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername"))
        return web.json_response({"ok": True})

    runner, port = await _serve_post("/webhook", handler)
    try:
        kept = EndpointConfig(url=f"http://127.0.0.1:{port}/webhook", keep_alive=True)
        for _ in range(3):
            assert await kept.request(json={"x": 1}, method="post") == {"ok": True}
        assert len(set(peers)) == 1  # one connection reused
        peers.clear()
        plain = EndpointConfig(url=f"http://127.0.0.1:{port}/webhook")
        for _ in range(3):
            assert await plain.request(json={"x": 1}, method="post") == {"ok": True}
        assert len(set(peers)) == 3  # Rasa's behaviour: a new connection each time
    finally:
        await speedups.close_kept_sessions()
        await runner.cleanup()


async def test_aiohttp_transport_maps_timeouts_and_failures_to_ptb_errors(fake):
    """python-telegram-bot on the aiohttp transport: real calls, its errors, its timeouts."""
    from aiohttp import web
    from telegram import Bot
    from telegram.error import NetworkError, TimedOut

    from connectors.aiohttp_request import AiohttpRequest

    bot = Bot(fake.token, base_url=fake.base_url, request=AiohttpRequest(read_timeout=0.5))
    await bot.initialize()  # getMe through aiohttp
    try:
        sent = await bot.send_message(chat_id=7, text="héllo & bye")
        assert sent.text == "héllo & bye" and sent.chat.id == 7
        assert (await fake.wait_for_messages(7, 1, timeout=5))[0]["text"] == "héllo & bye"
    finally:
        await bot.shutdown()

    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({"ok": True, "result": True})

    runner, port = await _serve_post("/botT/sendChatAction", slow)
    request, dead_request = AiohttpRequest(read_timeout=0.3), AiohttpRequest()
    try:
        slow_bot = Bot("T", base_url=f"http://127.0.0.1:{port}/bot", request=request)
        with pytest.raises(TimedOut):
            await slow_bot.send_chat_action(chat_id=1, action="typing")
        dead_bot = Bot("T", base_url=f"http://127.0.0.1:{free_port()}/bot", request=dead_request)
        with pytest.raises(NetworkError):
            await dead_bot.send_chat_action(chat_id=1, action="typing")
    finally:
        await request.shutdown()
        await dead_request.shutdown()
        await runner.cleanup()


@pytest.mark.asyncio
async def test_runtime_skips_the_typing_indicator_when_replies_are_queued(fake, runtime, monkeypatch):
    runtime.test_rasa.delay = 0.5  # slow enough for a typing indicator
    monkeypatch.setattr(runtime.sender, "pending", lambda: 1000)  # a long outbound backlog
    fake.push_message(23, "busy")
    msgs = await fake.wait_for_messages(23, 1, timeout=15)
    assert msgs[0]["text"] == "echo busy"
    assert not fake.calls_of("sendChatAction")
    monkeypatch.setattr(runtime.sender, "pending", lambda: 0)
    fake.push_message(23, "quiet")
    await fake.wait_for_messages(23, 2, timeout=15)
    assert fake.calls_of("sendChatAction")  # the same slow turn shows it when nothing waits


# -- one Telegram message per turn --------------------------------------------------------------
def test_merge_turn_messages_joins_paragraphs_until_buttons_or_the_size_limit():
    from connectors.payloads import EMPTY_TEXT, merge_turn_messages
    keyboard = [[{"text": "Yes", "callback_data": "/affirm"}]]
    calls = [("sendMessage", {"text": "a"}), ("sendMessage", {"text": "b"}),
             ("sendMessage", {"text": "c?", "inline_keyboard": keyboard}),
             ("sendMessage", {"text": "d"})]
    assert merge_turn_messages(calls) == [
        ("sendMessage", {"text": "a\n\nb\n\nc?", "inline_keyboard": keyboard}),
        ("sendMessage", {"text": "d"})]
    # A buttons-only message takes the text before it instead of showing the placeholder.
    assert merge_turn_messages([("sendMessage", {"text": "pick one"}),
                                ("sendMessage", {"text": EMPTY_TEXT, "inline_keyboard": keyboard})]) == [
        ("sendMessage", {"text": "pick one", "inline_keyboard": keyboard})]
    # Never past the limit: 3 x 40 characters with a limit of 90 make two messages.
    long = [("sendMessage", {"text": ch * 40}) for ch in "xyz"]
    merged = merge_turn_messages(long, limit=90)
    assert [len(p["text"]) for _, p in merged] == [82, 40]
    assert merge_turn_messages([]) == []
    # The caller's dicts are not changed.
    assert calls[0] == ("sendMessage", {"text": "a"})


@pytest.mark.asyncio
@pytest.mark.parametrize("merge,expected", [
    ("1", ["one idea\n\na second one\n\nand a question?", "after the buttons"]),
    ("0", ["one idea", "a second one", "and a question?", "after the buttons"]),
])
async def test_runtime_sends_one_telegram_message_per_turn_unless_told_not_to(fake, tmp_path, merge,
                                                                            expected):
    rasa = EchoRasa()
    rt = TelegramRuntime(_settings(fake, tmp_path, TELEGRAM_MERGE_REPLIES=merge,
                                   TELEGRAM_CHAT_RATE="100", TELEGRAM_CHAT_BURST="100"), rasa)
    await rt.start()
    rt.allow_list = AllowList(["greet"])
    try:
        fake.push_message(41, "three")
        msgs = await fake.wait_for_messages(41, len(expected), timeout=15)
        await asyncio.sleep(0.3)
        msgs = fake.messages_to(41)
        assert [m["text"] for m in msgs] == expected
        with_buttons = [m["text"] for m in msgs if m.get("reply_markup")]
        assert with_buttons == [expected[-2]]
    finally:
        await rt.stop()


# -- several Rasa replicas behind one Telegram ingress -------------------------------------------
def _chat_on_replica(settings: TelegramSettings, wanted: int, replicas: int, start: int) -> int:
    """A chat id whose conversation the ingress routes to replica ``wanted`` (0 = itself)."""
    chat = start
    while int(pseudonymise(chat, KEY)[-8:], 16) % (replicas + 1) != wanted:
        chat += 1
    return chat


@pytest.mark.asyncio
async def test_turns_run_on_the_chats_replica_and_fall_back_here_when_it_is_down(fake, tmp_path):
    from aiohttp import web

    seen: list[dict] = []

    async def replica_turn(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Bearer t"
        body = await request.json()
        seen.append(body)
        return web.json_response({"ok": True, "messages": [
            {"text": f"replica says {body['text']}"},
            {"text": "pick", "buttons": [{"title": "Yes", "payload": "/greet"}]}]})

    runner, port = await _serve_post("/webhooks/telegram/turn", replica_turn)
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = _settings(fake, tmp_path, TELEGRAM_TURN_REPLICAS=f"http://127.0.0.1:{port}/,{down}",
                         TELEGRAM_CHAT_RATE="100", TELEGRAM_CHAT_BURST="100")
    assert settings.turn_replicas == (f"http://127.0.0.1:{port}", down)
    rasa = EchoRasa()
    rt = TelegramRuntime(settings, rasa)
    await rt.start()
    rt.allow_list = AllowList(["greet"])
    local, remote, fallback = (_chat_on_replica(settings, i, 2, 5000) for i in (0, 1, 2))
    try:
        # Stable: the same chat always goes to the same replica.
        assert rt.replica_for(pseudonymise(remote, KEY)) == rt.replica_for(pseudonymise(remote, KEY))
        assert rt.replica_for(pseudonymise(local, KEY)) is None
        for chat in (local, remote, fallback):
            fake.push_message(chat, "hi", language_code="fr")
        for chat in (local, remote, fallback):
            await fake.wait_for_messages(chat, 1, timeout=15)
        assert [m["text"] for m in fake.messages_to(local)] == ["echo hi"]
        assert [m["text"] for m in fake.messages_to(fallback)] == ["echo hi"]
        remote_msgs = fake.messages_to(remote)
        # The replica's messages go out through this ingress, merged, buttons as an inline keyboard.
        assert [m["text"] for m in remote_msgs] == ["replica says hi\n\npick"]
        assert remote_msgs[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "/greet"
        assert [(b["sender_id"], b["text"], b["metadata"]) for b in seen] == [
            (pseudonymise(remote, KEY), "hi", {"language_code": "fr", "channel": "telegram"})]
        assert seen[0]["message_id"].isdigit()
        # Chats are concurrent, so the two local turns may come in either order.
        assert sorted(m.sender_id for m in rasa.messages) == sorted(pseudonymise(c, KEY)
                                                                   for c in (local, fallback))
        assert rt.stats["remote_turns"] == 1 and rt.stats["remote_fallbacks"] == 1
    finally:
        await rt.stop()
        await runner.cleanup()


class _SharedStores:
    """Stands in for the agent's shared tracker store and lock store (what a replica writes)."""

    def __init__(self) -> None:
        from rasa.shared.core.trackers import DialogueStateTracker

        self._tracker_cls = DialogueStateTracker
        self.saved: dict[str, list] = {}
        self.locked: list[str] = []
        self.tracker_store = self
        self.lock_store = self
        self.domain = None

    async def retrieve(self, sender_id: str) -> Any:
        events = self.saved.get(sender_id)
        return self._tracker_cls.from_events(sender_id, events) if events else None

    def lock(self, sender_id: str) -> Any:
        import contextlib

        @contextlib.asynccontextmanager
        async def held() -> Any:
            self.locked.append(sender_id)
            yield

        return held()


@pytest.mark.asyncio
@pytest.mark.parametrize("status,saved_by_replica,expected,counter", [
    # The replica never ran the turn (no model, wrong token, no route): it runs here.
    (503, False, ["echo hello"], "remote_fallbacks"),
    (404, False, ["echo hello"], "remote_fallbacks"),
    # It may have run: the shared tracker decides. Not saved -> runs here, once.
    (500, False, ["echo hello"], "remote_recoveries"),
    # Saved, then the replica failed before answering -> its replies are sent, not run again.
    (500, True, ["saved reply"], "remote_recoveries"),
])
async def test_a_failing_replica_loses_no_message_and_answers_none_twice(
        fake, tmp_path, status, saved_by_replica, expected, counter):
    from aiohttp import web
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

    stores = _SharedStores()

    async def failing(request: web.Request) -> web.Response:
        body = await request.json()
        if saved_by_replica:
            stores.saved[body["sender_id"]] = [
                ActionExecuted("action_listen"),
                UserUttered(body["text"], message_id=body["message_id"]),
                BotUttered("saved reply"), ActionExecuted("action_listen")]
        return web.json_response({"ok": False}, status=status)

    runner, port = await _serve_post("/webhooks/telegram/turn", failing)
    settings = _settings(fake, tmp_path, TELEGRAM_TURN_REPLICAS=f"http://127.0.0.1:{port}")
    rasa = EchoRasa()
    rt = TelegramRuntime(settings, rasa, agent=stores)
    await rt.start()
    chat = _chat_on_replica(settings, 1, 1, 7000)
    try:
        fake.push_message(chat, "hello")
        await fake.wait_for_messages(chat, 1, timeout=15)
        await asyncio.sleep(0.3)
        assert [m["text"] for m in fake.messages_to(chat)] == expected
        assert len(rasa.messages) == (0 if saved_by_replica else 1)
        assert rt.stats[counter] == 1 and rt.stats["errors"] == 0
        if counter == "remote_recoveries":
            assert stores.locked == [pseudonymise(chat, KEY)]  # checked under the chat's lock
    finally:
        await rt.stop()
        await runner.cleanup()


@pytest.mark.asyncio
async def test_runtime_accounts_for_where_an_updates_time_goes(fake, runtime):
    runtime.test_rasa.delay = 0.2
    fake.push_message(42, "timed")
    await fake.wait_for_messages(42, 1, timeout=10)
    await asyncio.sleep(0.2)
    timings = runtime.timings.summary()
    for stage in ("waiting_for_chat", "waiting_for_turn_slot", "turn", "commit",
                  "send_chat_limit", "send_global_limit", "send_call", "queued_to_sent"):
        assert timings[stage]["count"] >= 1, stage
    assert timings["turn"]["mean_ms"] >= 200  # the stand-in's delay is inside the turn
    assert set(timings["turn"]) == {"mean_ms", "count"}  # sums and counts, nothing else


def test_an_ingress_without_turns_spreads_every_chat_over_the_replicas_only():
    replicas = "http://127.0.0.1:1,http://127.0.0.1:2"
    only = TelegramRuntime.replica_for
    env = {"TELEGRAM_TURN_REPLICAS": replicas, "TELEGRAM_INGRESS_TURNS": "0"}

    class Stub:
        settings = TelegramSettings.from_env(env)

    chosen = [only(Stub(), pseudonymise(chat, KEY)) for chat in range(200)]
    assert None not in chosen
    assert {c: chosen.count(c) for c in set(chosen)}.keys() == {"http://127.0.0.1:1",
                                                                 "http://127.0.0.1:2"}
    assert min(chosen.count(c) for c in set(chosen)) > 60  # roughly even (HMAC digits)
    Stub.settings = TelegramSettings.from_env({"TELEGRAM_TURN_REPLICAS": replicas})
    with_ingress = [only(Stub(), pseudonymise(chat, KEY)) for chat in range(200)]
    assert with_ingress.count(None) > 40  # the ingress keeps about a third
