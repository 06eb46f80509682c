"""A fake Telegram Bot API server on loopback, speaking the real HTTP + JSON.

python-telegram-bot is the real client: point it here with ``base_url=server.base_url`` (ends with
``/bot``), e.g. ``TELEGRAM_API_BASE_URL``. Nothing leaves the machine.

Supported methods: getMe, getUpdates (offset, limit, timeout long polling; 409 while a webhook is
set), setWebhook / deleteWebhook / getWebhookInfo (with a webhook set, pushed updates are POSTed to
it with ``X-Telegram-Bot-Api-Secret-Token`` and re-sent on non-2xx, like Telegram), sendMessage
(validates text length and callback_data size), sendChatAction, answerCallbackQuery,
setMyCommands, editMessageReplyMarkup. Every call is recorded in ``server.calls``.

Scriptable trouble: ``fail(method, status, times=1, retry_after=None, description=None,
chat_id=None)`` for 429 / 500 / 403 / 400 answers, ``delay(method, seconds)``, ``block(chat_id)``
("bot was blocked by the user" on every send to that chat).

Use::

    async with FakeTelegram(token="123:abc") as tg:
        tg.push_message(chat_id=42, text="hello")
        msgs = await tg.wait_for_messages(42, 1)
"""
from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

_INT_PARAMS = {"chat_id", "offset", "limit", "timeout", "message_id", "max_connections",
               "cache_time", "reply_to_message_id", "message_thread_id"}
_JSON_PARAMS = {"reply_markup", "allowed_updates", "commands", "scope", "link_preview_options",
                "entities", "reply_parameters"}
_BOOL_PARAMS = {"drop_pending_updates", "show_alert", "disable_notification",
                "protect_content", "disable_web_page_preview"}


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float  # time.monotonic()
    status: int = 200


@dataclass
class _Failure:
    status: int
    times: int
    retry_after: int | None
    description: str | None
    chat_id: int | None


@dataclass
class FakeTelegram:
    """The fake Bot API server (see module docstring)."""

    token: str = "123456:TEST-token"
    host: str = "127.0.0.1"
    port: int = 0
    bot_username: str = "counter_test_bot"
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)
        self._new_update = asyncio.Event()
        self._new_call = asyncio.Event()
        self._failures: dict[str, list[_Failure]] = {}
        self._delays: dict[str, float] = {}
        self.blocked: set[int] = set()
        self.webhook: dict[str, Any] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._pushers: set[asyncio.Task] = set()
        self.webhook_attempts = 0

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/bot"

    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=2 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        if not self.port:
            self.port = free_port()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self

    async def stop(self) -> None:
        for task in list(self._pushers):
            task.cancel()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    # -- scripting -------------------------------------------------------------------------
    def fail(self, method: str, status: int, times: int = 1, retry_after: int | None = None,
             description: str | None = None, chat_id: int | None = None) -> None:
        """Answer the next ``times`` calls of ``method`` (optionally to one chat) with an error."""
        self._failures.setdefault(method, []).append(
            _Failure(status, times, retry_after, description, chat_id))

    def delay(self, method: str, seconds: float) -> None:
        self._delays[method] = seconds

    def block(self, chat_id: int) -> None:
        self.blocked.add(chat_id)

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue one raw update (``update_id`` assigned when missing); returns it."""
        update = dict(update)
        update.setdefault("update_id", self.next_update_id())
        update["_pushed_at"] = time.monotonic()
        self._updates.append(update)
        self._new_update.set()
        if self.webhook.get("url"):
            task = asyncio.get_running_loop().create_task(self._push_webhook(update))
            self._pushers.add(task)
            task.add_done_callback(self._pushers.discard)
        return update

    def push_message(self, chat_id: int, text: str | None = None, language_code: str = "en",
                     **content: Any) -> dict[str, Any]:
        """A private message from user ``chat_id`` (text or other content like ``sticker=...``)."""
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Test"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Test",
                     "language_code": language_code},
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                length = len(text.split()[0])
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        message.update(content)
        return self.push_update({"message": message})

    def push_callback(self, chat_id: int, data: str, language_code: str = "en") -> dict[str, Any]:
        query_id = f"cb{next(self._message_ids)}"
        return self.push_update({"callback_query": {
            "id": query_id,
            "from": {"id": chat_id, "is_bot": False, "first_name": "Test",
                     "language_code": language_code},
            "chat_instance": "ci",
            "data": data,
            "message": {"message_id": next(self._message_ids), "date": int(time.time()),
                        "chat": {"id": chat_id, "type": "private"},
                        "from": {"id": 1, "is_bot": True, "first_name": "Bot"}, "text": "..."},
        }})

    # -- inspection ------------------------------------------------------------------------
    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def messages_to(self, chat_id: int) -> list[dict[str, Any]]:
        """Accepted sendMessage calls to one chat, in order."""
        return [c.params for c in self.calls
                if c.method == "sendMessage" and c.status == 200 and c.params.get("chat_id") == chat_id]

    def pending_updates(self) -> int:
        return len(self._updates)

    async def wait_for(self, predicate: Any, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._new_call.clear()
            try:
                await asyncio.wait_for(self._new_call.wait(), min(remaining, 0.5))
            except asyncio.TimeoutError:
                pass

    async def wait_for_messages(self, chat_id: int, count: int,
                                timeout: float = 30.0) -> list[dict[str, Any]]:
        await self.wait_for(lambda: len(self.messages_to(chat_id)) >= count, timeout)
        return self.messages_to(chat_id)

    # -- HTTP ------------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        if request.content_type == "application/json":
            try:
                body = await request.json()
                raw = body if isinstance(body, dict) else {}
            except ValueError:
                raw = {}
            return raw
        if request.method == "POST" and request.body_exists:
            form = await request.post()
            raw = {k: v for k, v in form.items() if isinstance(v, str)}
        raw.update(request.query)
        params: dict[str, Any] = {}
        for key, value in raw.items():
            if key in _INT_PARAMS:
                try:
                    params[key] = int(value)
                except ValueError:
                    params[key] = value
            elif key in _JSON_PARAMS:
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    params[key] = value
            elif key in _BOOL_PARAMS:
                params[key] = str(value).lower() in ("true", "1")
            else:
                params[key] = value
        return params

    @staticmethod
    def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=status)

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    def _scripted_failure(self, method: str, params: dict[str, Any]) -> web.Response | None:
        for failure in self._failures.get(method, []):
            if failure.times <= 0:
                continue
            if failure.chat_id is not None and params.get("chat_id") != failure.chat_id:
                continue
            failure.times -= 1
            defaults = {429: "Too Many Requests: retry after %s" % failure.retry_after,
                        500: "Internal Server Error", 502: "Bad Gateway",
                        403: "Forbidden: bot was blocked by the user", 400: "Bad Request"}
            return self._error(failure.status, failure.description or defaults.get(
                failure.status, "Error"), failure.retry_after)
        return None

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params = await self._params(request)
        except ConnectionResetError:  # the client died mid-request (a crash test): nothing to do
            return web.Response(status=400)
        except (ValueError, UnicodeDecodeError):
            params = {}
        call = Call(method, params, time.monotonic())
        self.calls.append(call)
        try:
            if request.match_info["token"] != self.token:
                call.status = 401
                return self._error(401, "Unauthorized")
            if method in self._delays and method != "getUpdates":
                await asyncio.sleep(self._delays[method])
            failure = self._scripted_failure(method, params)
            if failure is not None:
                call.status = failure.status
                return failure
            handler = getattr(self, "_m_" + method, None)
            if handler is None:
                call.status = 404
                return self._error(404, "Not Found")
            result = await handler(params)
            if isinstance(result, web.Response):
                call.status = result.status
                return result
            return self._ok(result)
        finally:
            self._new_call.set()

    # -- methods ---------------------------------------------------------------------------
    async def _m_getMe(self, _params: dict[str, Any]) -> Any:
        return {"id": int(self.token.split(":")[0]), "is_bot": True, "first_name": "Counter",
                "username": self.bot_username, "can_join_groups": False,
                "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def _m_getUpdates(self, params: dict[str, Any]) -> Any:
        if self.webhook.get("url"):
            return self._error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = params.get("offset")
        if isinstance(offset, int):
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        while not self._updates and time.monotonic() < deadline:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), deadline - time.monotonic())
            except asyncio.TimeoutError:
                break
        if "getUpdates" in self._delays:
            await asyncio.sleep(self._delays["getUpdates"])
        limit = int(params.get("limit") or 100)
        return [{k: v for k, v in u.items() if not k.startswith("_")} for u in self._updates[:limit]]

    async def _m_setWebhook(self, params: dict[str, Any]) -> Any:
        url = params.get("url", "")
        secret = params.get("secret_token")
        if secret is not None and not (1 <= len(secret) <= 256):
            return self._error(400, "Bad Request: secret token is invalid")
        self.webhook = {"url": url, "secret_token": secret,
                        "allowed_updates": params.get("allowed_updates"),
                        "max_connections": params.get("max_connections", 40)} if url else {}
        if params.get("drop_pending_updates"):
            self._updates.clear()
        for update in list(self._updates) if url else []:
            task = asyncio.get_running_loop().create_task(self._push_webhook(update))
            self._pushers.add(task)
            task.add_done_callback(self._pushers.discard)
        return True

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = {}
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_getWebhookInfo(self, _params: dict[str, Any]) -> Any:
        info: dict[str, Any] = {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                                "pending_update_count": len(self._updates)}
        if self.webhook.get("allowed_updates"):
            info["allowed_updates"] = self.webhook["allowed_updates"]
        if self.webhook.get("max_connections"):
            info["max_connections"] = self.webhook["max_connections"]
        return info

    def _check_chat(self, params: dict[str, Any]) -> web.Response | None:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            return self._error(400, "Bad Request: chat not found")
        if chat_id in self.blocked:
            return self._error(403, "Forbidden: bot was blocked by the user")
        return None

    async def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        error = self._check_chat(params)
        if error is not None:
            return error
        text = params.get("text", "")
        if not isinstance(text, str) or not text.strip():
            return self._error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return self._error(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        if isinstance(markup, dict):
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    data = button.get("callback_data")
                    if data is not None and not (1 <= len(data.encode("utf-8")) <= 64):
                        return self._error(400, "Bad Request: BUTTON_DATA_INVALID")
        message: dict[str, Any] = {
            "message_id": next(self._message_ids), "date": int(time.time()),
            "chat": {"id": params["chat_id"], "type": "private"},
            "from": {"id": int(self.token.split(":")[0]), "is_bot": True,
                     "first_name": "Counter", "username": self.bot_username},
            "text": text,
        }
        if isinstance(markup, dict):
            message["reply_markup"] = markup
        return message

    async def _m_sendChatAction(self, params: dict[str, Any]) -> Any:
        error = self._check_chat(params)
        return error if error is not None else True

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        if not params.get("callback_query_id"):
            return self._error(400, "Bad Request: query is too old or query ID is invalid")
        return True

    async def _m_setMyCommands(self, params: dict[str, Any]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list) or not commands:
            return self._error(400, "Bad Request: commands must be non-empty")
        self.commands[params.get("language_code", "")] = commands
        return True

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        error = self._check_chat(params)
        if error is not None:
            return error
        return {"message_id": params.get("message_id", 0), "date": int(time.time()),
                "chat": {"id": params["chat_id"], "type": "private"}}

    # -- webhook delivery ------------------------------------------------------------------
    async def _push_webhook(self, update: dict[str, Any]) -> None:
        """POST the update to the webhook until it answers 2xx (Telegram re-sends on errors)."""
        body = {k: v for k, v in update.items() if not k.startswith("_")}
        headers = {}
        if self.webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
        delay = 0.2
        while self.webhook.get("url") and self._session is not None:
            self.webhook_attempts += 1
            try:
                async with self._session.post(self.webhook["url"], json=body,
                                              headers=headers) as resp:
                    if 200 <= resp.status < 300:
                        self._updates = [u for u in self._updates
                                         if u["update_id"] != update["update_id"]]
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def main() -> None:  # pragma: no cover - manual use: python -m tests.fake_telegram
    import argparse

    parser = argparse.ArgumentParser(description="Run the fake Telegram Bot API server")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123456:TEST-token")
    args = parser.parse_args()

    async def _run() -> None:
        async with FakeTelegram(token=args.token, port=args.port) as server:
            print(f"Fake Bot API at {server.base_url} (token {args.token})", flush=True)
            await asyncio.Event().wait()

    asyncio.run(_run())


if __name__ == "__main__":  # pragma: no cover
    main()
