"""The explicit webhook/commands registration command, against the fake Bot API server."""
from __future__ import annotations

import argparse

import pytest

from connectors.telegram import ALLOWED_UPDATES, TelegramSettings
from scripts.set_webhook import check_settings, command_lists, run
from tests.fake_telegram import FakeTelegram

TOKEN = "654321:SCRIPT-token"


def _args(**kw):
    base = {"delete": False, "info": False, "commands_only": False, "max_connections": 40}
    base.update(kw)
    return argparse.Namespace(**base)


def test_check_settings_refuses_what_telegram_would_refuse():
    ok = TelegramSettings(token=TOKEN, webhook_url="https://bot.example.org/webhooks/telegram/webhook",
                          webhook_secret="abc_DEF-123")
    assert check_settings(ok, need_webhook=True) is None
    for field, value in [("token", ""), ("webhook_url", ""), ("webhook_secret", ""),
                         ("webhook_secret", "has space"), ("webhook_secret", "x" * 257),
                         ("webhook_url", "http://bot.example.org/webhooks/telegram/webhook"),
                         ("webhook_url", "https://bot.example.org/other")]:
        bad = TelegramSettings(**{**ok.__dict__, field: value})
        assert check_settings(bad, need_webhook=True), (field, value)
    assert check_settings(TelegramSettings(token=TOKEN), need_webhook=False) is None


def test_commands_exist_in_both_languages_with_the_same_names():
    lists = command_lists()
    names = {lang: [c["command"] for c in cmds] for lang, cmds in lists.items()}
    assert names["en"] == names["fr"] == names[""]
    assert set(names["en"]) == {"start", "help", "language", "country", "helplines", "sos",
                                "human", "delete", "stop"}
    assert all(0 < len(c["description"]) <= 256 for cmds in lists.values() for c in cmds)


@pytest.mark.asyncio
async def test_set_webhook_and_commands_then_delete():
    async with FakeTelegram(token=TOKEN) as fake:
        settings = TelegramSettings(token=TOKEN, base_url=fake.base_url,
                                    webhook_url="http://127.0.0.1:9/webhooks/telegram/webhook",
                                    webhook_secret="s3cret_-X")
        assert check_settings(settings, need_webhook=True) is None  # http allowed for a test double
        assert await run(_args(), settings) == 0
        assert fake.webhook["url"] == settings.webhook_url
        assert fake.webhook["secret_token"] == "s3cret_-X"
        assert fake.webhook["allowed_updates"] == ALLOWED_UPDATES
        assert set(fake.commands) == {"", "en", "fr"}
        assert fake.commands["fr"][0]["command"] == "start"
        set_calls = fake.calls_of("setWebhook")
        assert set_calls and not set_calls[0].params.get("drop_pending_updates")
        assert await run(_args(info=True), settings) == 0
        assert await run(_args(delete=True), settings) == 0
        assert fake.webhook == {}
        assert not fake.calls_of("deleteWebhook")[0].params.get("drop_pending_updates")
