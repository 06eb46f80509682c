"""Register the Telegram webhook and the bot's commands (EN and FR). Run it explicitly, once per deploy.

    make webhook                                   # setWebhook + setMyCommands (en, fr, default)
    .venv/bin/python -m scripts.set_webhook --commands-only   # polling mode: commands only
    .venv/bin/python -m scripts.set_webhook --delete          # back to polling (keeps pending updates)
    .venv/bin/python -m scripts.set_webhook --info            # what Telegram has registered

Reads TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_URL (https://<host>/webhooks/telegram/webhook),
TELEGRAM_WEBHOOK_SECRET (1-256 of A-Z a-z 0-9 _ -, the same value the Rasa server has) and
TELEGRAM_API_BASE_URL from the environment / `.env` (scripts/settings.py). Pending updates are never
dropped: Telegram keeps them up to 24 h and the connector is idempotent. The Rasa server never calls
setWebhook by itself.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sys
from typing import Any, Dict, List, Optional

from connectors.payloads import COMMAND_DESCRIPTIONS
from connectors.telegram import ALLOWED_UPDATES, TelegramSettings, make_bot

SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
TELEGRAM_DEFAULT_BASE = "https://api.telegram.org/bot"


def command_lists() -> Dict[str, List[Dict[str, str]]]:
    """Commands per language code ('' = the default list for every other language)."""
    lists = {lang: [{"command": c, "description": d} for c, d in descs.items()]
             for lang, descs in COMMAND_DESCRIPTIONS.items()}
    lists[""] = lists["en"]
    return lists


def check_settings(settings: TelegramSettings, need_webhook: bool) -> Optional[str]:
    """An error message when the settings cannot work, else None."""
    if not settings.token:
        return "TELEGRAM_BOT_TOKEN is not set"
    if not need_webhook:
        return None
    if not settings.webhook_url:
        return "TELEGRAM_WEBHOOK_URL is not set (https://<host>/webhooks/telegram/webhook)"
    if not settings.webhook_url.rstrip("/").endswith("/webhooks/telegram/webhook"):
        return "TELEGRAM_WEBHOOK_URL must end with /webhooks/telegram/webhook"
    if settings.base_url == TELEGRAM_DEFAULT_BASE and not settings.webhook_url.startswith("https://"):
        return "Telegram only calls https:// webhooks (ports 443, 80, 88 or 8443)"
    if not SECRET_RE.match(settings.webhook_secret or ""):
        return ("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ - "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return None


async def register_commands(bot: Any) -> None:
    from telegram import BotCommand

    for lang, commands in command_lists().items():
        await bot.set_my_commands([BotCommand(c["command"], c["description"]) for c in commands],
                                  language_code=lang or None)


async def run(args: argparse.Namespace, settings: TelegramSettings) -> int:
    bot = make_bot(settings)
    try:
        if args.info:
            info = await bot.get_webhook_info()
            print(f"url={info.url or '(none: polling)'} pending_updates={info.pending_update_count}"
                  f" allowed_updates={list(info.allowed_updates or [])}")
            return 0
        if args.delete:
            await bot.delete_webhook(drop_pending_updates=False)
            print("Webhook deleted; the connector can poll (unset TELEGRAM_WEBHOOK_URL).")
            return 0
        if not args.commands_only:
            await bot.set_webhook(url=settings.webhook_url, secret_token=settings.webhook_secret,
                                  allowed_updates=ALLOWED_UPDATES,
                                  max_connections=args.max_connections,
                                  drop_pending_updates=False)
            print(f"Webhook set: {settings.webhook_url}")
        await register_commands(bot)
        print("Commands registered (en, fr, default).")
        return 0
    finally:
        with contextlib.suppress(Exception):  # nothing left to do
            await bot.shutdown()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--delete", action="store_true", help="delete the webhook (keep updates)")
    group.add_argument("--info", action="store_true", help="show the registered webhook")
    group.add_argument("--commands-only", action="store_true", help="only setMyCommands")
    parser.add_argument("--max-connections", type=int, default=40, choices=range(1, 101),
                        metavar="1-100")
    args = parser.parse_args(argv)

    from scripts.settings import load_settings

    settings = TelegramSettings.from_env(load_settings())
    error = check_settings(settings, need_webhook=not (args.delete or args.info or args.commands_only))
    if error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(args, settings))
    except Exception as exc:  # noqa: BLE001 - a clear message, never the token
        print(f"error: Telegram call failed ({type(exc).__name__})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
