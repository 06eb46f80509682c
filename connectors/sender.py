"""Outbound delivery: per-chat order, chats concurrent, Telegram's limits, retries, no loss.

Every message is written to the outbox before it is queued and deleted once Telegram accepted it,
so a restart resends what was not delivered. Each chat has its own FIFO worker; a global token bucket
keeps the bot under ~30 messages/s and a per-chat bucket under ~1/s (with a short burst).
429 waits ``retry_after`` and retries; 5xx, network errors and timeouts back off and retry; 403
("bot was blocked by the user") marks the chat inactive and drops its queue; 400 drops the message.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from connectors.store import ConnectorStore

logger = logging.getLogger(__name__)


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    async def acquire(self) -> None:
        while True:
            self._refill()
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return
            await asyncio.sleep((1.0 - self.tokens) / self.rate)


class StageTimings:
    """Running sums of seconds per stage of an update's way through the connector (no ids, no
    text): what the benchmark and an operator read to see where the time goes."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def add(self, stage: str, seconds: float) -> None:
        self._sums[stage] = self._sums.get(stage, 0.0) + max(0.0, seconds)
        self._counts[stage] = self._counts.get(stage, 0) + 1

    def summary(self) -> dict[str, dict[str, float]]:
        return {stage: {"mean_ms": round(1000 * total / self._counts[stage], 2),
                        "count": self._counts[stage]}
                for stage, total in sorted(self._sums.items())}


@dataclass
class _Item:
    row_id: int | None  # outbox row; None for markers
    method: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    marker: Callable[[], Awaitable[None]] | None = None
    done: asyncio.Future | None = None
    queued_at: float = field(default_factory=time.monotonic)


@dataclass
class _ChatQueue:
    chat_id: int
    items: deque[_Item] = field(default_factory=deque)
    bucket: TokenBucket | None = None
    task: asyncio.Task | None = None


def retry_after_seconds(exc: RetryAfter) -> float:
    value = getattr(exc, "_retry_after", None)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 1.0


def build_markup(rows: Any) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(**button) for button in row] for row in rows])


class Sender:
    """Rate-limited, persistent, per-chat ordered sender on a python-telegram-bot ``Bot``."""

    def __init__(
        self,
        bot: Any,
        store: ConnectorStore,
        global_rate: float = 30.0,
        chat_rate: float = 1.0,
        chat_burst: float = 3.0,
        max_backoff: float = 30.0,
    ) -> None:
        self.bot = bot
        self.store = store
        self.global_bucket = TokenBucket(global_rate, max(1.0, global_rate))
        self.chat_rate = chat_rate
        self.chat_burst = chat_burst
        self.max_backoff = max_backoff
        self._queues: dict[str, _ChatQueue] = {}
        self._closing = False
        self._blocked: set[str] = set()  # chats that answered 403 since they last wrote to us
        self.on_blocked: Callable[[str], Awaitable[None]] | None = None
        self.stats = {"sent": 0, "retried": 0, "blocked": 0, "dropped": 0}
        self.timings = StageTimings()

    # -- public ----------------------------------------------------------------------------
    async def resume_outbox(self) -> int:
        """Queue what a previous run stored but did not deliver."""
        rows = await self.store.outbox_pending()
        for row_id, sender_id, chat_id, method, params in rows:
            self._push(sender_id, chat_id, _Item(row_id, method, params))
        if rows:
            logger.info("Resending %d undelivered Telegram message(s) from the outbox", len(rows))
        return len(rows)

    async def send(self, sender_id: str, chat_id: int, method: str, params: dict[str, Any]) -> None:
        """Persist then queue one API call (``sendMessage``); returns once it is stored."""
        if sender_id in self._blocked:
            logger.info("Not sending to %s: the user blocked the bot", sender_id)
            return
        row_id = await self.store.outbox_add(sender_id, chat_id, method, params)
        self._push(sender_id, chat_id, _Item(row_id, method, params))

    def enqueue_stored(self, sender_id: str, chat_id: int, row_id: int, method: str,
                       params: dict[str, Any]) -> None:
        """Queue a call whose outbox row is already stored (see ``ConnectorStore.commit_turn``)."""
        self._push(sender_id, chat_id, _Item(row_id, method, params))

    async def after_pending(self, sender_id: str, chat_id: int,
                            marker: Callable[[], Awaitable[None]]) -> asyncio.Future:
        """Run ``marker`` once everything queued before it for this chat is delivered."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._push(sender_id, chat_id, _Item(None, marker=marker, done=future))
        return future

    def block(self, sender_id: str) -> None:
        """The user blocked the bot (403 or a my_chat_member update): stop sending."""
        self._blocked.add(sender_id)

    def unblock(self, sender_id: str) -> None:
        """The user wrote again or restarted the bot: sending is allowed again."""
        self._blocked.discard(sender_id)

    def pending(self) -> int:
        return sum(len(q.items) + (1 if q.task and not q.task.done() else 0)
                   for q in self._queues.values())

    async def drain(self, timeout: float) -> bool:
        """Wait until every queue is empty (used on shutdown and by tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(q.items or (q.task and not q.task.done()) for q in self._queues.values()):
                return True
            await asyncio.sleep(0.02)
        return False

    async def close(self, timeout: float = 5.0) -> None:
        """Give queues a moment, then stop; undelivered rows stay in the outbox."""
        await self.drain(timeout)
        self._closing = True
        tasks = [q.task for q in self._queues.values() if q.task and not q.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception) as exc:  # noqa: BLE001 - shutting down
                logger.debug("Task ended with %s at shutdown", type(exc).__name__)

    # -- internals -------------------------------------------------------------------------
    def _push(self, sender_id: str, chat_id: int, item: _Item) -> None:
        queue = self._queues.get(sender_id)
        if queue is None:
            queue = _ChatQueue(chat_id, bucket=TokenBucket(self.chat_rate, self.chat_burst))
            self._queues[sender_id] = queue
        queue.chat_id = chat_id
        queue.items.append(item)
        if queue.task is None or queue.task.done():
            queue.task = asyncio.get_running_loop().create_task(self._worker(sender_id, queue))

    async def _worker(self, sender_id: str, queue: _ChatQueue) -> None:
        while queue.items and not self._closing:
            item = queue.items[0]
            try:
                if item.marker is not None:
                    try:
                        await item.marker()
                    except Exception:
                        logger.exception("Telegram queue marker failed for %s", sender_id)
                    if item.done is not None and not item.done.done():
                        item.done.set_result(True)
                else:
                    await self._deliver(sender_id, queue, item)
            finally:
                if queue.items and queue.items[0] is item:
                    queue.items.popleft()
        if not queue.items and self._queues.get(sender_id) is queue:
            del self._queues[sender_id]

    async def _deliver(self, sender_id: str, queue: _ChatQueue, item: _Item) -> None:
        attempt = 0
        if sender_id in self._blocked:
            if item.row_id is not None:
                await self.store.outbox_done(item.row_id)
            return
        while not self._closing:
            waited = time.monotonic()
            await queue.bucket.acquire()
            limited = time.monotonic()
            await self.global_bucket.acquire()
            called = time.monotonic()
            self.timings.add("send_chat_limit", limited - waited)
            self.timings.add("send_global_limit", called - limited)
            try:
                await self._call(queue.chat_id, item)
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                self.stats["retried"] += 1
                logger.warning("Telegram 429 for %s: waiting %.1fs", sender_id, wait)
                await asyncio.sleep(wait + 0.05)
                continue
            except Forbidden:
                self.stats["blocked"] += 1
                self._blocked.add(sender_id)
                logger.info("Telegram chat %s blocked the bot: marked inactive", sender_id)
                queue.items = deque(i for i in queue.items if i.marker is not None or i is item)
                await self.store.outbox_drop_sender(sender_id)
                if self.on_blocked is not None:
                    await self.on_blocked(sender_id)
                return
            except BadRequest as exc:
                self.stats["dropped"] += 1
                logger.error("Telegram refused a %s for %s (%s): dropped", item.method, sender_id,
                             type(exc).__name__)
            except (TimeoutError, TelegramError, OSError) as exc:
                attempt += 1
                self.stats["retried"] += 1
                wait = min(self.max_backoff, 0.25 * (2 ** min(attempt, 10)))
                logger.warning("Telegram %s failed for %s (%s), retry %d in %.1fs", item.method,
                               sender_id, type(exc).__name__, attempt, wait)
                await asyncio.sleep(wait)
                continue
            else:
                self.stats["sent"] += 1
                now = time.monotonic()
                self.timings.add("send_call", now - called)
                self.timings.add("queued_to_sent", now - item.queued_at)
            if item.row_id is not None:
                await self.store.outbox_done(item.row_id)
            return

    async def _call(self, chat_id: int, item: _Item) -> None:
        params = dict(item.params)
        if item.method == "sendMessage":
            markup = build_markup(params.pop("inline_keyboard", None))
            await self.bot.send_message(chat_id=chat_id, text=params["text"], reply_markup=markup)
        else:  # pragma: no cover - only sendMessage is queued today
            raise BadRequest(f"unsupported queued method {item.method}")
