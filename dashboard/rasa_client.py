"""Calls to Rasa's HTTP API and to the connector's operator endpoint (async, with timeouts)."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import jwt

logger = logging.getLogger(__name__)


class RasaError(Exception):
    """Rasa or the connector could not be reached or refused; the message is safe to show."""


def api_jwt(secret: str, lifetime: int = 300) -> str:
    payload = {"user": {"username": "dashboard", "role": "admin"}, "exp": int(time.time()) + lifetime}
    return jwt.encode(payload, secret, algorithm="HS256")


class RasaClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str,
                 timeout: float = 10.0) -> None:
        self.session, self.base_url, self.token = session, base_url.rstrip("/"), token
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def _post(self, path: str, payload: dict[str, Any], auth: str) -> Any:
        if not self.token:
            raise RasaError("RASA_API_TOKEN is not set, so the dashboard cannot talk to Rasa.")
        try:
            async with self.session.post(self.base_url + path, json=payload, timeout=self.timeout,
                                         headers={"Authorization": f"Bearer {auth}"}) as resp:
                if resp.status >= 400:
                    logger.warning("rasa %s answered %s", path.split("/")[1], resp.status)
                    raise RasaError(f"The bot server refused the request (HTTP {resp.status}).")
                if resp.content_type == "application/json":
                    return await resp.json()
                return await resp.text()
        except aiohttp.ClientError as exc:
            logger.warning("rasa unreachable: %s", type(exc).__name__)
            raise RasaError("The bot server is not reachable right now.") from exc
        except asyncio.TimeoutError as exc:  # noqa: UP041 (not the builtin on 3.10)
            raise RasaError("The bot server did not answer in time.") from exc

    async def tracker_event(self, sender_id: str, event: str) -> None:
        await self._post(f"/conversations/{sender_id}/tracker/events", {"event": event},
                         api_jwt(self.token))

    async def pause(self, sender_id: str) -> None:
        await self.tracker_event(sender_id, "pause")

    async def resume(self, sender_id: str) -> None:
        await self.tracker_event(sender_id, "resume")

    async def operator_send(self, sender_id: str, text: str, worker: str) -> None:
        await self._post("/webhooks/telegram/operator/send",
                         {"sender_id": sender_id, "text": text, "worker": worker}, self.token)

    async def bot_notice(self, sender_id: str, notice: str) -> None:
        """A message from the bot itself (e.g. "nobody was free, the assistant is back")."""
        await self._post("/webhooks/telegram/operator/send",
                         {"sender_id": sender_id, "notice": notice}, self.token)

    async def rest_message(self, sender: str, message: str) -> list[dict[str, Any]]:
        try:
            async with self.session.post(self.base_url + "/webhooks/rest/webhook",
                                         json={"sender": sender, "message": message},
                                         timeout=self.timeout) as resp:
                if resp.status >= 400:
                    raise RasaError(f"The bot answered with an error (HTTP {resp.status}).")
                data = await resp.json(content_type=None)
        except aiohttp.ClientError as exc:
            raise RasaError("The bot server is not reachable right now.") from exc
        except asyncio.TimeoutError as exc:  # noqa: UP041 (not the builtin on 3.10)
            raise RasaError("The bot did not answer in time.") from exc
        return data if isinstance(data, list) else []
