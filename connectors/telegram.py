"""Telegram channel for Rasa on python-telegram-bot 22: polling or webhook, one update handler.

Registered in credentials.yml as ``connectors.telegram.TelegramInput:`` with no keys; every setting
comes from the environment (docs/telegram.md). Constructing the channel and
``get_output_channel()`` never touch the network: the Bot API client, the database and the polling
loop start with the Rasa server (``after_server_start``) and stop with it.

Flow of one update: webhook or getUpdates -> stored as pending in ``tg_updates`` (idempotent on
``update_id``) -> per-chat FIFO worker -> ``connectors.dispatch.decide`` -> Rasa (``UserMessage``
with a pseudonymous ``sender_id``) -> ``TelegramOutput`` -> outbox -> rate-limited ``Sender``.
The update is then marked done and its payload dropped. A crash before that means the pending
row is handled again at the next start.
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import secrets
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors import messages
from connectors.dispatch import Decision, decide
from connectors.payloads import (
    EMPTY_TEXT,
    MAX_CALLBACK_BYTES,
    AllowList,
    domain_intents,
    merge_turn_messages,
    neutralise_text,
    split_message,
)
from connectors.pseudonym import is_telegram_sender, pseudonymise

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name, not a secret


def _env_float(env: dict[str, str], name: str, default: float) -> float:
    try:
        return float(env.get(name, "") or default)
    except ValueError:
        logger.warning("%s is not a number; using %s", name, default)
        return default


@dataclass
class TelegramSettings:
    """Everything the channel needs, read from the environment (never from credentials.yml)."""

    token: str = ""
    base_url: str = "https://api.telegram.org/bot"
    webhook_url: str = ""
    webhook_secret: str = ""
    pseudonym_key: bytes = b""
    db_url: str = "sqlite:///state/connector.db"
    rasa_api_token: str = ""
    poll_timeout: float = 25.0
    global_rate: float = 30.0
    chat_rate: float = 1.0
    chat_burst: float = 3.0
    max_concurrent_turns: int = 32
    turn_timeout: float = 120.0
    typing_after: float = 0.3
    merge_replies: bool = True
    # Other Rasa replicas (base URLs) that run turns for this ingress, chosen per chat.
    turn_replicas: tuple[str, ...] = ()
    # With replicas: does this process (the ingress) also run a share of the turns?
    ingress_turns: bool = True
    update_retention_s: float = 48 * 3600.0
    callback_retention_s: float = 7 * 24 * 3600.0
    domain_path: str = str(REPO_ROOT / "domain.yml")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> TelegramSettings:
        env = dict(os.environ if environ is None else environ)
        return cls(
            token=env.get("TELEGRAM_BOT_TOKEN", "").strip(),
            base_url=env.get("TELEGRAM_API_BASE_URL", "").strip() or "https://api.telegram.org/bot",
            webhook_url=env.get("TELEGRAM_WEBHOOK_URL", "").strip(),
            webhook_secret=env.get("TELEGRAM_WEBHOOK_SECRET", "").strip(),
            pseudonym_key=env.get("PSEUDONYM_KEY", "").encode("utf-8"),
            db_url=env.get("CONNECTOR_DB_URL", "").strip() or "sqlite:///state/connector.db",
            rasa_api_token=env.get("RASA_API_TOKEN", ""),
            poll_timeout=_env_float(env, "TELEGRAM_POLL_TIMEOUT", 25.0),
            global_rate=_env_float(env, "TELEGRAM_GLOBAL_RATE", 30.0),
            chat_rate=_env_float(env, "TELEGRAM_CHAT_RATE", 1.0),
            chat_burst=_env_float(env, "TELEGRAM_CHAT_BURST", 3.0),
            max_concurrent_turns=int(_env_float(env, "TELEGRAM_MAX_CONCURRENT_TURNS", 32)),
            turn_timeout=_env_float(env, "TELEGRAM_TURN_TIMEOUT", 120.0),
            typing_after=_env_float(env, "TELEGRAM_TYPING_AFTER", 0.3),
            merge_replies=env.get("TELEGRAM_MERGE_REPLIES", "1").strip().lower()
            not in ("0", "false", "no", "off"),
            turn_replicas=tuple(u.strip().rstrip("/") for u in
                                env.get("TELEGRAM_TURN_REPLICAS", "").split(",") if u.strip()),
            ingress_turns=env.get("TELEGRAM_INGRESS_TURNS", "1").strip().lower()
            not in ("0", "false", "no", "off"),
            update_retention_s=_env_float(env, "TELEGRAM_UPDATE_RETENTION_HOURS", 48.0) * 3600.0,
            domain_path=env.get("RASA_DOMAIN_PATH", "") or str(REPO_ROOT / "domain.yml"),
        )

    @property
    def mode(self) -> str:
        if not self.token:
            return "off"
        return "webhook" if self.webhook_url else "polling"


# Bot notices the dashboard may ask for (``notice`` in POST /webhooks/telegram/operator/send)
# -> their key in content/messages.yml.
BOT_NOTICES = {"handback": "handback_notice"}

# A replica that answers one of these never ran the turn (bad request, auth, no route, no model).
NOT_RUN_STATUSES = frozenset({400, 401, 403, 404, 503})
# Seconds to open a connection to a replica before running the turn on the ingress instead.
REPLICA_CONNECT_TIMEOUT = 3.0

# Queued outbound messages (about one second of Telegram's global budget) above which the
# typing indicator is skipped.
TYPING_SKIP_BACKLOG = 30


def make_bot(settings: TelegramSettings, for_polling: bool = False) -> Any:
    """A python-telegram-bot ``Bot`` with explicit timeouts (creating it does no network I/O)."""
    from telegram import Bot
    from telegram.request import HTTPXRequest

    from connectors.aiohttp_request import AiohttpRequest

    # Sends on aiohttp (connectors/aiohttp_request.py: several times cheaper per call than httpx
    # on the event loop Rasa's turns share); the long-poll getUpdates stays on PTB's default.
    request = AiohttpRequest(connection_pool_size=64, connect_timeout=5.0, read_timeout=10.0,
                             write_timeout=10.0, pool_timeout=10.0)
    updates_request = HTTPXRequest(connection_pool_size=2, connect_timeout=5.0,
                                   read_timeout=settings.poll_timeout + 10.0,
                                   write_timeout=10.0, pool_timeout=10.0)
    return Bot(settings.token, base_url=settings.base_url, request=request,
               get_updates_request=updates_request)


class TelegramRuntime:
    """The running part of the channel: store, bot, sender, polling loop, per-chat workers."""

    def __init__(self, settings: TelegramSettings,
                 on_new_message: Callable[[UserMessage], Awaitable[Any]],
                 agent: Any = None) -> None:
        from connectors.sender import Sender
        from connectors.store import ConnectorStore

        self.settings = settings
        self.on_new_message = on_new_message
        self.agent = agent
        self.store = ConnectorStore(settings.db_url)
        self.bot = make_bot(settings)
        self.sender = Sender(self.bot, self.store, settings.global_rate, settings.chat_rate,
                             settings.chat_burst)
        self.sender.on_blocked = self._on_blocked
        self.allow_list = AllowList([])
        self._chat_queues: dict[int, asyncio.Queue] = {}
        # sender_id -> chat_id written as active in tg_chats by this process (saves a write a turn)
        self._known_chats: dict[str, int] = {}
        self._chat_tasks: dict[int, asyncio.Task] = {}
        self._turns = asyncio.Semaphore(max(1, settings.max_concurrent_turns))
        self._background: list[asyncio.Task] = []
        self._running = False
        self._replica_session: Any = None  # aiohttp session to the other replicas, opened lazily
        self._fallback_logged = 0.0
        self.stats = {"received": 0, "duplicates": 0, "handled": 0, "errors": 0,
                      "remote_turns": 0, "remote_fallbacks": 0, "remote_recoveries": 0}
        # Where an update's time goes (sums and counts only; GET /webhooks/telegram/?timings=1).
        self.timings = self.sender.timings

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry the token
        await self.store.open()
        await self._initialize_bot()
        self.allow_list = AllowList(self._intents())
        self._running = True
        await self.sender.resume_outbox()
        for update_id, payload in await self.store.pending_updates():
            self._schedule(update_id, payload, recovered=True)
        loop = asyncio.get_running_loop()
        self._background.append(loop.create_task(self._purge_loop()))
        if self.settings.mode == "polling":
            self._background.append(loop.create_task(self._poll_loop()))
        logger.info("Telegram channel on (%s mode)", self.settings.mode)

    async def _initialize_bot(self) -> None:
        """Open the HTTP clients and check the token with getMe (at server start, not before)."""
        from telegram.error import InvalidToken

        try:
            await asyncio.wait_for(self.bot.initialize(), 15.0)
        except InvalidToken:
            # Its message contains the token: never log it.
            raise RuntimeError("Telegram rejected TELEGRAM_BOT_TOKEN") from None
        except Exception as exc:  # noqa: BLE001 - Telegram unreachable now; sends retry later
            logger.warning("Telegram getMe failed at start (%s); continuing", type(exc).__name__)

    async def stop(self) -> None:
        self._running = False
        for task in self._background:
            task.cancel()
        for task in self._background:
            try:
                await task
            except (asyncio.CancelledError, Exception) as exc:  # noqa: BLE001 - shutting down
                logger.debug("Task ended with %s at shutdown", type(exc).__name__)
        # In-flight turns get a moment; unfinished updates stay pending for the next start.
        tasks = list(self._chat_tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        for task in tasks:
            task.cancel()
        await self.sender.close(timeout=5.0)
        if self._replica_session is not None:
            await self._replica_session.close()
            self._replica_session = None
        try:
            await self.bot.shutdown()
        except Exception as exc:  # noqa: BLE001 - shutting down
            logger.debug("Bot shutdown failed (%s)", type(exc).__name__)
        await self.store.close()

    def _intents(self) -> list[str]:
        domain = getattr(self.agent, "domain", None)
        intents = list(getattr(domain, "intents", []) or [])
        if intents:
            return intents
        return domain_intents(Path(self.settings.domain_path))

    # -- intake ----------------------------------------------------------------------------
    async def accept(self, update: Any) -> str:
        """Take one update from the webhook or getUpdates. Returns what happened (for logs/tests).

        The update is stored before this returns, so acknowledging it afterwards loses nothing.
        """
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return "malformed"
        update_id = update["update_id"]
        self.stats["received"] += 1
        decision = decide(update)
        sender_id = self._sender(decision.chat_id) if decision.chat_id is not None else None
        try:
            fresh = await self.store.claim_update(update_id, sender_id, update)
        except Exception:
            logger.exception("Could not store update %d; handling it directly", update_id)
            await self._handle(update_id, decision, recovered=False, stored=False)
            return "handled_unstored"
        if not fresh:
            self.stats["duplicates"] += 1
            logger.info("Duplicate update %d ignored", update_id)
            return "duplicate"
        self._schedule(update_id, update, decision=decision)
        return "queued"

    def _schedule(self, update_id: int, update: dict[str, Any], recovered: bool = False,
                  decision: Decision | None = None) -> None:
        decision = decision or decide(update)
        key = decision.chat_id if decision.chat_id is not None else 0
        queue = self._chat_queues.get(key)
        if queue is None:
            queue = self._chat_queues[key] = asyncio.Queue()
        queue.put_nowait((update_id, decision, recovered, time.monotonic()))
        task = self._chat_tasks.get(key)
        if task is None or task.done():
            self._chat_tasks[key] = asyncio.get_running_loop().create_task(self._chat_worker(key))

    async def _chat_worker(self, key: int) -> None:
        queue = self._chat_queues[key]
        while not queue.empty():
            update_id, decision, recovered, queued_at = queue.get_nowait()
            self.timings.add("waiting_for_chat", time.monotonic() - queued_at)
            await self._handle(update_id, decision, recovered)
        if queue.empty():
            self._chat_queues.pop(key, None)
            self._chat_tasks.pop(key, None)

    # -- handling --------------------------------------------------------------------------
    def _sender(self, chat_id: int) -> str:
        return pseudonymise(chat_id, self.settings.pseudonym_key)

    async def _handle(self, update_id: int, decision: Decision, recovered: bool,
                      stored: bool = True) -> None:
        committed = False
        try:
            committed = await self._handle_decision(update_id, decision, recovered)
            self.stats["handled"] += 1
        except Exception as exc:
            self.stats["errors"] += 1
            # Type only: exception messages may quote user text.
            logger.error("Telegram update %d failed (%s: %s)", update_id, decision.reason,
                         type(exc).__name__)
            logger.debug("Traceback of update %d", update_id, exc_info=True)
            if decision.chat_id is not None and decision.kind in ("message", "callback"):
                try:
                    await self.reply(decision.chat_id, "error", decision.language_code)
                except Exception:
                    logger.exception("Could not send the error reply for update %d", update_id)
        if stored and not committed:
            try:
                await self.store.finish_update(update_id)
            except Exception:
                logger.exception("Could not mark update %d done", update_id)

    async def _handle_decision(self, update_id: int, decision: Decision, recovered: bool) -> bool:
        """Handle one update; True when a turn committed it (marked done) already."""
        if decision.callback_query_id:
            await self._answer_callback(decision.callback_query_id)
        if decision.kind == "ignore" or decision.chat_id is None:
            logger.debug("Update %d ignored (%s)", update_id, decision.reason)
            return False
        chat_id = decision.chat_id
        sender_id = self._sender(chat_id)
        if decision.kind in ("blocked", "unblocked"):
            self._known_chats.pop(sender_id, None)
        if decision.kind == "blocked":
            self.sender.block(sender_id)
            await self.store.set_active(sender_id, False)
            return False
        if decision.kind == "unblocked":
            self.sender.unblock(sender_id)
            if await self.store.get_chat(sender_id):
                await self.store.remember_chat(sender_id, chat_id, active=True)
            return False
        self.sender.unblock(sender_id)
        if self._known_chats.get(sender_id) != chat_id:
            await self.store.remember_chat(sender_id, chat_id, active=True)
            self._known_chats[sender_id] = chat_id
        if decision.kind == "reply":
            await self.reply(chat_id, decision.reply_key or "unsupported", decision.language_code)
            return False
        text = decision.text
        if decision.kind == "callback":
            text = await self._callback_payload(sender_id, decision.callback_data or "")
            if text is None:
                await self.reply(chat_id, "button_expired", decision.language_code)
                return False
        if not text:
            return False
        if recovered and await self._replay_from_tracker(sender_id, chat_id, update_id):
            logger.info("Recovered update %d was already answered by Rasa: replies re-queued",
                        update_id)
            return True
        await self._turn(update_id, chat_id, sender_id, text, decision.language_code)
        return True

    async def _turn(self, update_id: int, chat_id: int, sender_id: str, text: str,
                    language_code: str | None) -> None:
        """One Rasa turn. Replies are buffered and stored together with "update done" at the end,
        so a crash mid-turn re-runs the turn instead of sending half of it twice."""
        output = TelegramOutput(self, chat_id=chat_id, buffered=True)
        message = UserMessage(
            text=text,
            output_channel=output,
            sender_id=sender_id,
            input_channel=TelegramInput.name(),
            message_id=str(update_id),
            metadata={"language_code": language_code, "channel": "telegram"},
        )
        waited = time.monotonic()
        async with self._turns:
            started = time.monotonic()
            self.timings.add("waiting_for_turn_slot", started - waited)
            typing = asyncio.get_running_loop().create_task(self._typing(chat_id))
            try:
                await asyncio.wait_for(self._run_turn(message), self.settings.turn_timeout)
            except asyncio.CancelledError:
                # Shutting down mid-turn: store nothing, the update stays pending and the next
                # start replays it from the tracker or runs it again.
                typing.cancel()
                raise
            except BaseException:
                typing.cancel()
                await self.commit(update_id, sender_id, chat_id, output.buffer)
                raise
            typing.cancel()
            self.timings.add("turn", time.monotonic() - started)
            await self.commit(update_id, sender_id, chat_id, output.buffer)

    def replica_for(self, sender_id: str) -> str | None:
        """The replica that runs this conversation's turns: None for this process. Stable per
        chat (the pseudonym is an HMAC, so its digits are evenly spread), so one conversation
        always runs on one replica and its turns stay in order."""
        replicas = self.settings.turn_replicas
        if not replicas:
            return None
        try:
            digits = int(sender_id[-8:], 16)
        except ValueError:
            return None
        if not self.settings.ingress_turns:  # the ingress only receives and sends
            return replicas[digits % len(replicas)]
        index = digits % (len(replicas) + 1)
        return None if index == 0 else replicas[index - 1]

    async def _run_turn(self, message: UserMessage) -> None:
        """Rasa's turn, here or on the conversation's replica (``TELEGRAM_TURN_REPLICAS``).

        A replica answers with the bot messages of the turn (``POST /webhooks/telegram/turn``);
        they go through this process's output channel exactly like local ones. Failures:
        - the request never ran (connection refused or not made in time, or the replica answered
          400/401/403/404/503: no model, wrong token, old code): the turn runs here;
        - it may have run (5xx, dropped connection, no answer in time): under the conversation's
          lock, the shared tracker says whether the turn was saved; if so its replies are sent,
          if not the turn runs here. No message is lost and none is answered twice."""
        replica = self.replica_for(message.sender_id)
        if replica is None:
            await self.on_new_message(message)
            return
        import aiohttp

        if self._replica_session is None:
            self._replica_session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
                timeout=aiohttp.ClientTimeout(total=max(1.0, self.settings.turn_timeout * 0.75),
                                              sock_connect=REPLICA_CONNECT_TIMEOUT))
        body = {"sender_id": message.sender_id, "text": message.text,
                "message_id": message.message_id, "metadata": message.metadata or {}}
        headers = {"Authorization": "Bearer " + self.settings.rasa_api_token}
        try:
            async with self._replica_session.post(f"{replica}/webhooks/telegram/turn", json=body,
                                                  headers=headers) as resp:
                status = resp.status
                replies = (await resp.json()).get("messages") or [] if status == 200 else None
        except (aiohttp.ClientConnectorError, aiohttp.ServerTimeoutError) as exc:
            await self._turn_here(message, type(exc).__name__)
            return
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            await self._recover_turn(message, type(exc).__name__)
            return
        if status in NOT_RUN_STATUSES:
            await self._turn_here(message, f"HTTP {status}")
            return
        if replies is None:
            await self._recover_turn(message, f"HTTP {status}")
            return
        self.stats["remote_turns"] += 1
        for reply in replies:
            if isinstance(reply, dict):
                await message.output_channel.send_response(message.sender_id, reply)

    async def _turn_here(self, message: UserMessage, reason: str) -> None:
        """The replica did not run the turn: run it in this process."""
        self.stats["remote_fallbacks"] += 1
        now = time.monotonic()
        if now - self._fallback_logged > 60.0:  # one line a minute, not one per turn
            self._fallback_logged = now
            logger.error("Rasa replica did not take a turn (%s): turns run on the ingress", reason)
        await self.on_new_message(message)

    async def _recover_turn(self, message: UserMessage, reason: str) -> None:
        """The replica may have run the turn: ask the shared tracker, under the conversation's
        lock (held by the replica while it is still in the turn)."""
        self.stats["remote_recoveries"] += 1
        logger.error("Rasa replica failed during a turn of %s (%s): checking the tracker",
                     message.sender_id, reason)
        lock_store = getattr(self.agent, "lock_store", None)
        if lock_store is not None:
            async with lock_store.lock(message.sender_id):
                replies = await self._saved_replies(message.sender_id, message.message_id)
        else:
            replies = await self._saved_replies(message.sender_id, message.message_id)
        if replies is None:
            await self.on_new_message(message)
            return
        for reply in replies:
            await message.output_channel.send_response(message.sender_id, reply)

    async def _saved_replies(self, sender_id: str, message_id: str | None) -> list | None:
        """The bot messages that followed the user message ``message_id`` in the tracker, or None
        when the tracker does not have that message (or cannot be read)."""
        store = getattr(self.agent, "tracker_store", None)
        if store is None or message_id is None:
            return None
        try:
            tracker = await store.retrieve(sender_id)
        except Exception as exc:  # noqa: BLE001 - then run the turn; a rare duplicate beats silence
            logger.warning("Tracker lookup failed (%s)", type(exc).__name__)
            return None
        if tracker is None:
            return None
        found = False
        replies: list[dict[str, Any]] = []
        for event in tracker.events:
            name = type(event).__name__
            if name == "UserUttered":
                if found:
                    break
                found = getattr(event, "message_id", None) == message_id
            elif found and name == "BotUttered":
                replies.append(event.message())  # what Rasa hands to send_response
        return replies if found else None

    async def commit(self, update_id: int | None, sender_id: str, chat_id: int,
                     buffer: list[tuple[str, Any]]) -> None:
        """Store a turn's replies and mark its update done (one transaction), then queue them.

        With ``merge_replies`` (default) the turn's consecutive messages go out as one Telegram
        message where they fit (``merge_turn_messages``)."""
        if self.settings.merge_replies:
            buffer = _merge_buffer(buffer)
        calls = [item[1] for item in buffer if item[0] == "call"]
        started = time.monotonic()
        row_ids = iter(await self.store.commit_turn(update_id, sender_id, chat_id, calls))
        self.timings.add("commit", time.monotonic() - started)
        for kind, value in buffer:
            if kind == "call":
                self.sender.enqueue_stored(sender_id, chat_id, next(row_ids), value[0], value[1])
            elif kind == "erase":
                await self.sender.after_pending(sender_id, chat_id,
                                                lambda: self.erase(sender_id))

    async def _replay_from_tracker(self, sender_id: str, chat_id: int, update_id: int) -> bool:
        """After a crash between Rasa saving the turn and the connector storing its replies: if
        the tracker already has this update's user message, send the bot messages that followed it
        instead of running the turn again. False when the turn has to run."""
        replies = await self._saved_replies(sender_id, str(update_id))
        if replies is None:
            return False
        output = TelegramOutput(self, chat_id=chat_id, buffered=True)
        for reply in replies:
            await output.send_response(sender_id, reply)
        await self.commit(update_id, sender_id, chat_id, output.buffer)
        return True

    async def _typing(self, chat_id: int) -> None:
        """Typing indicator when the bot takes a moment (best effort, never retried); skipped for
        quick turns, where it would only cost an API call and linger after the reply, and when
        replies are already queued (under load every API call should carry an answer)."""
        try:
            await asyncio.sleep(self.settings.typing_after)
            if self.sender.pending() >= TYPING_SKIP_BACKLOG:
                return
            await asyncio.wait_for(self.bot.send_chat_action(chat_id=chat_id, action="typing"), 5.0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - cosmetic
            logger.debug("sendChatAction failed (%s)", type(exc).__name__)

    async def _answer_callback(self, query_id: str) -> None:
        try:
            await asyncio.wait_for(self.bot.answer_callback_query(callback_query_id=query_id), 10.0)
        except Exception as exc:  # noqa: BLE001 - the button still works without it
            logger.warning("answerCallbackQuery failed (%s)", type(exc).__name__)

    async def _callback_payload(self, sender_id: str, data: str) -> str | None:
        if data.startswith("t:"):
            stored = await self.store.callback_get(data[2:], sender_id)
            if stored is None:
                return None
            data = stored
        return self.allow_list.check(data)

    async def _already_in_tracker(self, sender_id: str, update_id: int) -> bool:
        store = getattr(self.agent, "tracker_store", None)
        if store is None:
            return False
        try:
            tracker = await store.retrieve(sender_id)
        except Exception:  # noqa: BLE001 - then answer it; a rare duplicate beats a silence
            return False
        if tracker is None:
            return False
        wanted = str(update_id)
        return any(getattr(e, "message_id", None) == wanted for e in tracker.events
                   if type(e).__name__ == "UserUttered")

    async def reply(self, chat_id: int, key: str, language_code: str | None) -> None:
        """One of the connector's own short replies, through the rate-limited sender."""
        sender_id = self._sender(chat_id)
        await self.sender.send(sender_id, chat_id, "sendMessage",
                               {"text": messages.text(key, language_code)})

    async def _on_blocked(self, sender_id: str) -> None:
        self._known_chats.pop(sender_id, None)
        await self.store.set_active(sender_id, False)

    async def erase(self, sender_id: str) -> None:
        """Delete every connector row of this conversation (the tracker is already erased)."""
        self._known_chats.pop(sender_id, None)
        await self.store.erase_sender(sender_id)
        logger.info("Connector data erased for %s", sender_id)

    # -- outbound from the output channel --------------------------------------------------
    async def chat_for(self, sender_id: str) -> int | None:
        chat = await self.store.get_chat(sender_id)
        if chat is None or not chat[1]:
            return None
        return chat[0]

    async def callback_data(self, sender_id: str, payload: str) -> str:
        if len(payload.encode("utf-8")) <= MAX_CALLBACK_BYTES and not payload.startswith("t:"):
            return payload
        token = secrets.token_urlsafe(12)
        await self.store.callback_put(token, sender_id, payload)
        return "t:" + token

    # -- background loops ------------------------------------------------------------------
    async def _poll_loop(self) -> None:
        from telegram.error import Conflict, InvalidToken, RetryAfter

        from connectors.sender import retry_after_seconds

        offset: int | None = None
        failures = 0
        while self._running:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    kwargs: dict[str, Any] = {"timeout": int(self.settings.poll_timeout),
                                              "allowed_updates": ALLOWED_UPDATES}
                    if offset is not None:
                        kwargs["offset"] = offset
                    result = await self.bot.do_api_request(
                        "getUpdates", api_kwargs=kwargs,
                        read_timeout=self.settings.poll_timeout + 10.0)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Conflict:
                logger.error("getUpdates refused: a webhook is set. Run `python -m "
                             "scripts.set_webhook --delete` or set TELEGRAM_WEBHOOK_URL")
                await asyncio.sleep(30.0)
                continue
            except InvalidToken:
                logger.error("Telegram refused the bot token; polling stops")
                return
            except RetryAfter as exc:
                await asyncio.sleep(retry_after_seconds(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - network, 5xx, timeouts: back off
                failures += 1
                wait = min(30.0, 0.5 * 2 ** min(failures, 6))
                logger.warning("getUpdates failed (%s); retry in %.1fs", type(exc).__name__, wait)
                await asyncio.sleep(wait)
                continue
            for update in result or []:
                if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
                    continue
                # Stored (or handled) before the offset moves past it: nothing is lost.
                await self.accept(update)
                offset = update["update_id"] + 1

    async def _purge_loop(self) -> None:
        while self._running:
            try:
                await self.store.purge(self.settings.update_retention_s,
                                       self.settings.callback_retention_s)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Purging old Telegram update ids failed")
            await asyncio.sleep(3600.0)


def _merge_buffer(buffer: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """``merge_turn_messages`` over each run of calls; other entries (erase) keep their place."""
    out: list[tuple[str, Any]] = []
    run: list[tuple[str, dict[str, Any]]] = []
    for kind, value in [*buffer, ("end", None)]:
        if kind == "call":
            run.append(value)
            continue
        out.extend(("call", call) for call in merge_turn_messages(run))
        run = []
        if kind != "end":
            out.append((kind, value))
    return out


# The parts of a bot message that TelegramOutput.send_response uses.
SENDABLE_KEYS = ("text", "buttons", "quick_replies", "image", "attachment", "elements", "custom")


class _TurnCollector(OutputChannel):
    """Collects a remote turn's bot messages as Rasa hands them to ``send_response`` (unlike
    Rasa's CollectingOutputChannel, without splitting texts), for the ingress replica to send."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    @classmethod
    def name(cls) -> str:
        return "telegram"

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        self.messages.append({k: message[k] for k in SENDABLE_KEYS if message.get(k)})

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        self.messages.append({"text": text})


class TelegramOutput(OutputChannel):
    """Sends the bot's messages to one Telegram chat, through the outbox and the sender."""

    @classmethod
    def name(cls) -> str:
        return "telegram"

    def __init__(self, runtime: TelegramRuntime | None, chat_id: int | None = None,
                 buffered: bool = False) -> None:
        self.runtime = runtime
        self.chat_id = chat_id
        # During a turn, calls are collected here and committed by TelegramRuntime.commit.
        self.buffer: list[tuple[str, Any]] = []
        self.buffered = buffered

    async def _chat(self, recipient_id: str) -> int | None:
        if self.runtime is None:
            return None
        if self.chat_id is not None:
            return self.chat_id
        return await self.runtime.chat_for(recipient_id)

    async def _send(self, recipient_id: str, text: str,
                    keyboard: list[list[dict[str, str]]] | None = None) -> None:
        chat_id = await self._chat(recipient_id)
        if chat_id is None:
            logger.info("No active Telegram chat for %s: message not sent", recipient_id)
            return
        parts = split_message(text or "") if text else [""]
        for index, part in enumerate(parts):
            params: dict[str, Any] = {"text": part or EMPTY_TEXT}
            if keyboard and index == len(parts) - 1:
                params["inline_keyboard"] = keyboard
            if self.buffered:
                self.buffer.append(("call", ("sendMessage", params)))
            else:
                await self.runtime.sender.send(recipient_id, chat_id, "sendMessage", params)

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        # Unlike the base class, keep one bot message as one Telegram message (split only > 4096).
        if message.get("custom"):
            await self.send_custom_json(recipient_id, message["custom"])
        buttons = message.get("quick_replies") or message.get("buttons")
        text = message.get("text")
        if buttons:
            await self.send_text_with_buttons(recipient_id, text or "", buttons)
        elif text:
            await self.send_text_message(recipient_id, text)
        if message.get("image"):
            await self.send_image_url(recipient_id, message["image"])
        if message.get("attachment"):
            await self.send_attachment(recipient_id, message["attachment"])
        if message.get("elements"):
            await self.send_elements(recipient_id, message["elements"])

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send(recipient_id, text)

    async def send_text_with_buttons(self, recipient_id: str, text: str,
                                     buttons: list[dict[str, Any]], **kwargs: Any) -> None:
        keyboard: list[list[dict[str, str]]] = []
        for button in buttons or []:
            title = str(button.get("title") or button.get("payload") or "")[:64] or "…"
            if button.get("url"):
                keyboard.append([{"text": title, "url": str(button["url"])}])
                continue
            payload = str(button.get("payload") or button.get("title") or "")
            if not payload or self.runtime is None:
                continue
            data = await self.runtime.callback_data(recipient_id, payload)
            keyboard.append([{"text": title, "callback_data": data}])
        await self._send(recipient_id, text or "", keyboard or None)

    async def send_quick_replies(self, recipient_id: str, text: str,
                                 quick_replies: list[dict[str, Any]], **kwargs: Any) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self._send(recipient_id, str(image))

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        await self._send(recipient_id, str(attachment))

    async def send_elements(self, recipient_id: str, elements: Any, **kwargs: Any) -> None:
        for element in elements or []:
            if isinstance(element, dict) and element.get("title"):
                await self.send_text_with_buttons(
                    recipient_id,
                    "\n".join(str(element.get(k)) for k in ("title", "subtitle") if element.get(k)),
                    element.get("buttons") or [])

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any],
                               **kwargs: Any) -> None:
        if not isinstance(json_message, dict) or json_message.get("erasure") != "done":
            logger.debug("Custom JSON message not supported on Telegram: ignored")
            return
        if self.runtime is None:
            return
        runtime = self.runtime
        chat_id = self.chat_id
        if chat_id is None:
            chat = await runtime.store.get_chat(recipient_id)
            chat_id = chat[0] if chat else None
        if chat_id is None:
            await runtime.erase(recipient_id)
            return
        if self.buffered:
            self.buffer.append(("erase", None))
            return
        # After the messages already queued for this chat are delivered (they need the chat id).
        await runtime.sender.after_pending(recipient_id, chat_id,
                                           lambda: runtime.erase(recipient_id))


class TelegramInput(InputChannel):
    """Rasa input channel ``telegram`` (see module docstring)."""

    _announced_off = False

    @classmethod
    def name(cls) -> str:
        return "telegram"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        if credentials:
            logger.warning("credentials.yml keys for the telegram channel are ignored; "
                           "it reads TELEGRAM_* from the environment")
        # Rasa builds its channels once at start: the place to apply the action-validation fix
        # (connectors/speedups.py; measured ~20x cheaper per action call).
        from connectors import log_privacy, speedups

        speedups.apply()
        log_privacy.apply()  # no message text in Rasa's own structlog events
        return cls(TelegramSettings.from_env())

    def __init__(self, settings: TelegramSettings | None = None) -> None:
        self.settings = settings or TelegramSettings.from_env()
        self.runtime: TelegramRuntime | None = None
        self._started: asyncio.Event | None = None  # created on the server's loop
        if self.settings.mode == "off" and not TelegramInput._announced_off:
            TelegramInput._announced_off = True
            logger.info("Telegram is off: TELEGRAM_BOT_TOKEN is not set")
        if self.settings.token and not self.settings.pseudonym_key:
            logger.error("Telegram is off: PSEUDONYM_KEY is not set (needed for sender ids)")
            self.settings.token = ""

    def get_output_channel(self) -> OutputChannel | None:
        return TelegramOutput(self.runtime)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("telegram_webhook", __name__)
        channel = self

        @bp.listener("before_server_start")
        async def _prepare(_app: Any, _loop: Any) -> None:
            channel._started = asyncio.Event()

        @bp.listener("after_server_start")
        async def _start(app: Any, _loop: Any) -> None:
            if channel._started is None:
                channel._started = asyncio.Event()
            try:
                if channel.settings.mode == "off":
                    return
                runtime = TelegramRuntime(channel.settings, on_new_message,
                                          agent=getattr(app.ctx, "agent", None))
                try:
                    await runtime.start()
                except Exception as exc:  # noqa: BLE001 - Rasa keeps serving its other channels
                    logger.error("Telegram channel failed to start (%s: %s)", type(exc).__name__,
                                 exc if isinstance(exc, RuntimeError) else "")
                    return
                channel.runtime = runtime
            finally:
                channel._started.set()

        @bp.listener("before_server_stop")
        async def _stop(_app: Any, _loop: Any) -> None:
            if channel.runtime is not None:
                runtime, channel.runtime = channel.runtime, None
                await runtime.stop()

        @bp.listener("after_server_stop")
        async def _close_kept_sessions(_app: Any, _loop: Any) -> None:
            from connectors import speedups

            await speedups.close_kept_sessions()

        @bp.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            body: dict[str, Any] = {"status": "ok", "telegram": channel.settings.mode,
                                    "running": channel.runtime is not None}
            if channel.runtime is not None and _request.args.get("timings"):
                body["timings_ms"] = channel.runtime.timings.summary()
            if channel.runtime is not None and channel.settings.turn_replicas:
                stats = channel.runtime.stats  # counts only
                body["replicas"] = {"count": len(channel.settings.turn_replicas),
                                    "remote_turns": stats["remote_turns"],
                                    "fallbacks": stats["remote_fallbacks"],
                                    "recoveries": stats["remote_recoveries"]}
            return response.json(body)

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            expected = channel.settings.webhook_secret
            given = request.headers.get(SECRET_HEADER, "")
            if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
                return response.json({"ok": False}, status=403)
            if channel.runtime is None and channel.settings.mode != "off":
                # Starting: wait for the store (an update answered 200 now would be lost).
                if channel._started is not None:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(channel._started.wait(), 30.0)
            runtime = channel.runtime
            if runtime is None:
                if channel.settings.mode == "off":
                    return response.json({"ok": True, "telegram": "off"})
                # Not running (failed start): Telegram keeps the update and re-sends it later.
                return response.json({"ok": False, "error": "starting"}, status=503)
            try:
                update = json.loads(request.body or b"null")
            except ValueError:
                logger.warning("Webhook body is not JSON: ignored")
                return response.json({"ok": True})
            try:
                await runtime.accept(update)
            except Exception:
                logger.exception("Webhook update could not be taken")
            return response.json({"ok": True})

        @bp.route("/operator/send", methods=["POST"])
        async def operator_send(request: Request) -> HTTPResponse:
            return await channel._operator_send(request)

        @bp.route("/turn", methods=["POST"])
        async def turn(request: Request) -> HTTPResponse:
            return await channel._remote_turn(request, on_new_message)

        return bp

    def _refuse(self, request: Request) -> HTTPResponse | None:
        """401/403 unless the request carries ``Bearer $RASA_API_TOKEN`` (constant time)."""
        expected = self.settings.rasa_api_token
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return response.json({"ok": False, "error": "unauthorised"}, status=401)
        if not expected or not hmac.compare_digest(header[7:].encode(), expected.encode()):
            return response.json({"ok": False, "error": "forbidden"}, status=403)
        return None

    def _authorised_body(self, request: Request) -> tuple[dict[str, Any] | None, HTTPResponse | None]:
        """(JSON object body, None) for an authorised request; (None, the refusal) otherwise."""
        refused = self._refuse(request)
        if refused is not None:
            return None, refused
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return None, response.json({"ok": False, "error": "JSON object expected"}, status=400)
        return body, None

    async def _remote_turn(self, request: Request,
                           on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> HTTPResponse:
        """One Telegram turn run here for the ingress replica (``TelegramRuntime._run_turn``):
        the bot's messages are collected and returned, the ingress sends them."""
        body, refused = self._authorised_body(request)
        if body is None:
            return refused
        sender_id, text = body.get("sender_id"), body.get("text")
        message_id, metadata = body.get("message_id"), body.get("metadata") or {}
        if not (isinstance(sender_id, str) and is_telegram_sender(sender_id)):
            return response.json({"ok": False, "error": "telegram sender_id required"}, status=400)
        if not (isinstance(text, str) and text.strip() and len(text) <= 16384):
            return response.json({"ok": False, "error": "text required"}, status=400)
        if not (message_id is None or (isinstance(message_id, str) and message_id.isdigit()
                                       and len(message_id) <= 20)) or not isinstance(metadata, dict):
            return response.json({"ok": False, "error": "bad message_id or metadata"}, status=400)
        agent = getattr(request.app.ctx, "agent", None)
        if agent is None or not agent.is_ready():
            # 503: the ingress runs the turn itself (this replica has no model loaded).
            return response.json({"ok": False, "error": "not ready"}, status=503)
        if text.lstrip().startswith("/"):
            # Same rule as the ingress: only the bot's own payloads act as intents (no /restart,
            # no forged slots); any other slash text goes through NLU as text.
            allowed = AllowList(getattr(agent.domain, "intents", []) or []).check(text)
            text = allowed or neutralise_text(text)
            if not text:
                return response.json({"ok": False, "error": "text required"}, status=400)
        language_code = metadata.get("language_code")
        if not (isinstance(language_code, str) and len(language_code) <= 16):
            language_code = None
        collector = _TurnCollector()
        try:
            await on_new_message(UserMessage(
                text=text, output_channel=collector, sender_id=sender_id,
                input_channel=TelegramInput.name(), message_id=message_id,
                metadata={"language_code": language_code, "channel": "telegram"}))
        except Exception as exc:  # noqa: BLE001 - type only: messages may quote user text
            logger.error("Remote turn for %s failed (%s)", sender_id, type(exc).__name__)
            logger.debug("Traceback of the remote turn", exc_info=True)
            return response.json({"ok": False, "error": "turn failed"}, status=500)
        return response.json({"ok": True, "messages": collector.messages})

    async def _operator_send(self, request: Request) -> HTTPResponse:
        """A worker's message from the dashboard: recorded in the tracker, sent on Telegram."""
        body, refused = self._authorised_body(request)
        if body is None:
            return refused
        sender_id, text, worker = body.get("sender_id"), body.get("text"), body.get("worker")
        notice = body.get("notice")
        if not (isinstance(sender_id, str) and 0 < len(sender_id) <= 128):
            return response.json({"ok": False, "error": "sender_id required"}, status=400)
        if notice is not None:
            # A message from the bot itself (never presented as a person's), in the user's language.
            if notice not in BOT_NOTICES:
                return response.json({"ok": False, "error": "unknown notice"}, status=400)
        else:
            if not (isinstance(text, str) and text.strip() and len(text) <= 16384):
                return response.json({"ok": False, "error": "text required"}, status=400)
            if not (isinstance(worker, str) and 0 < len(worker) <= 128):
                return response.json({"ok": False, "error": "worker required"}, status=400)
        agent = getattr(request.app.ctx, "agent", None)
        if agent is None or agent.tracker_store is None:
            return response.json({"ok": False, "error": "not ready"}, status=503)

        from rasa.shared.core.events import BotUttered

        async with agent.lock_store.lock(sender_id):
            tracker = await agent.tracker_store.retrieve(sender_id)
            if tracker is None or not tracker.events:
                return response.json({"ok": False, "error": "unknown sender"}, status=404)
            if notice is not None:
                from actions import library

                language = tracker.get_slot("language")
                language = language if language in library.LANGUAGES else "en"
                text = library.message(BOT_NOTICES[notice], language)
                metadata = {"from": "bot", "kind": BOT_NOTICES[notice], "language": language}
            else:
                metadata = {"from": "worker", "worker": worker}
            tracker.update(BotUttered(text, metadata=metadata))
            await agent.tracker_store.save(tracker)
        delivered = "recorded"
        runtime = self.runtime
        if runtime is not None and is_telegram_sender(sender_id):
            chat_id = await runtime.chat_for(sender_id)
            if chat_id is not None:
                await TelegramOutput(runtime, chat_id).send_text_message(sender_id, text)
                delivered = "queued"
        logger.info("%s for %s %s", "Bot notice" if notice else "Worker message", sender_id, delivered)
        return response.json({"ok": True, "delivered": delivered})
