"""python-telegram-bot networking on aiohttp instead of httpx (PTB's documented ``BaseRequest``).

python-telegram-bot stays the Telegram client: it builds every API call, checks every answer and
raises its own errors (``RetryAfter``, ``Forbidden``, ``BadRequest``...). Only the HTTP transport
changes. Measured in the Rasa process (bench/telegram_bench.py --profile): httpx + httpcore + anyio
cost ~10 ms of CPU per sendMessage under cProfile, on the same event loop as Rasa's turns; aiohttp's
client (already used by Rasa, C HTTP parser) does the same request for a fraction of that.

Same contract as PTB's ``HTTPXRequest``: form-encoded parameters (PTB JSON-encodes each value),
multipart when a call carries files, per-call timeouts with instance defaults, ``TimedOut`` on a
timeout and ``NetworkError`` on any other transport failure.
"""
from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


def _value(value: Any, default: float | None) -> float | None:
    return default if isinstance(value, type(BaseRequest.DEFAULT_NONE)) else value


class AiohttpRequest(BaseRequest):
    """A ``BaseRequest`` on one ``aiohttp.ClientSession`` with a bounded connection pool."""

    def __init__(self, connection_pool_size: int = 64, read_timeout: float | None = 10.0,
                 write_timeout: float | None = 10.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 10.0) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, keepalive_timeout=30.0),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            await self.initialize()  # like HTTPXRequest, usable before Bot.initialize()
        assert self._session is not None
        read = _value(read_timeout, self._read_timeout)
        write = _value(write_timeout, self._write_timeout)
        connect = _value(connect_timeout, self._connect_timeout)
        pool = _value(pool_timeout, self._pool_timeout)
        # aiohttp has no separate write timeout: the whole call may take connect + write + read.
        parts = [t for t in (connect, write, read) if t is not None]
        timeout = aiohttp.ClientTimeout(
            total=sum(parts) if len(parts) == 3 else None,
            connect=pool,  # waiting for a free connection from the pool
            sock_connect=connect,
            sock_read=read,
        )
        data: Any = None
        if request_data is not None:
            if request_data.contains_files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, (filename, content, mimetype) in request_data.multipart_data.items():
                    form.add_field(name, content, filename=filename, content_type=mimetype)
                data = form
            else:
                data = request_data.json_parameters
        try:
            async with self._session.request(method, url, data=data, timeout=timeout) as response:
                return response.status, await response.read()
        except asyncio.TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from exc
