"""The connector's own tables: update inbox (idempotency), chat map, outbox, button tokens.

SQLAlchemy 1.4 Core (the version Rasa pins), SQLite by default and PostgreSQL past one machine.
PostgreSQL calls (network round trips) run on a small thread pool. SQLite calls run inline on the
event loop: a local WAL commit takes well under a millisecond, while a hop to a thread costs far more
when Rasa keeps the GIL busy (measured: the thread pool capped the connector at a few updates/s under
load; see docs/telegram.md). The SQLite file belongs to this one process (busy timeout 5 s).
Nothing is created at import time.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB_URL = "sqlite:///state/connector.db"

T = TypeVar("T")

metadata = sa.MetaData()

updates = sa.Table(
    "tg_updates", metadata,
    sa.Column("update_id", sa.BigInteger, primary_key=True, autoincrement=False),
    # Set only while pending (needed to erase a pending payload); cleared once handled.
    sa.Column("sender_id", sa.String(64), nullable=True, index=True),
    sa.Column("payload", sa.Text, nullable=True),  # dropped once handled
    sa.Column("status", sa.String(8), nullable=False),  # pending | done
    sa.Column("received_at", sa.Float, nullable=False, index=True),
)

chats = sa.Table(
    "tg_chats", metadata,
    sa.Column("sender_id", sa.String(64), primary_key=True),
    sa.Column("chat_id", sa.BigInteger, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("updated_at", sa.Float, nullable=False),
)

outbox = sa.Table(
    "tg_outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sender_id", sa.String(64), nullable=False, index=True),
    sa.Column("chat_id", sa.BigInteger, nullable=False),
    sa.Column("method", sa.String(32), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

callbacks = sa.Table(
    "tg_callbacks", metadata,
    sa.Column("token", sa.String(40), primary_key=True),
    sa.Column("sender_id", sa.String(64), nullable=False, index=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
)


def resolve_db_url(url: str | None) -> str:
    """Make ``sqlite:///relative/path`` relative to the repository and create its directory."""
    url = url or DEFAULT_DB_URL
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rel = url[len("sqlite:///"):]
        if rel and rel != ":memory:":
            path = (REPO_ROOT / rel).resolve()
            path.parent.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{path}"
    elif url.startswith("sqlite:////"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    return url


class ConnectorStore:
    """Async facade over the connector tables."""

    def __init__(self, url: str | None = None) -> None:
        self.url = resolve_db_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self._engine: sa.engine.Engine | None = None
        self._pool: ThreadPoolExecutor | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        if not self.is_sqlite:
            self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tg-store")
        self._opened = True
        await self._run(self._open_sync)

    def _open_sync(self) -> None:
        if self.is_sqlite:
            # One connection, reused: SQLAlchemy 1.4 defaults to NullPool for SQLite files, which
            # opens, sets the PRAGMAs and closes a connection on every call (~5 ms each, measured).
            engine = sa.create_engine(self.url, poolclass=sa.pool.StaticPool,
                                      connect_args={"timeout": 5, "check_same_thread": False})

            @sa.event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=5000")
                cur.close()
        else:
            engine = sa.create_engine(self.url, pool_pre_ping=True, pool_size=4,
                                      connect_args={"connect_timeout": 10})
        metadata.create_all(engine)
        self._engine = engine

    async def close(self) -> None:
        if self._engine is not None:
            await self._run(self._engine.dispose)
            self._engine = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._opened = False

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if not self._opened:
            raise RuntimeError("ConnectorStore is not open")
        if self._pool is None:  # SQLite: inline (see module docstring)
            return fn(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn, *args)

    # -- inbox -----------------------------------------------------------------------------
    async def claim_update(self, update_id: int, sender_id: str | None, payload: dict[str, Any]) -> bool:
        """Store a new update as pending. False when this update id was seen before."""
        return await self._run(self._claim_update, update_id, sender_id, json.dumps(payload))

    def _claim_update(self, update_id: int, sender_id: str | None, payload: str) -> bool:
        try:
            with self._engine.begin() as conn:
                conn.execute(updates.insert().values(
                    update_id=update_id, sender_id=sender_id, payload=payload,
                    status="pending", received_at=time.time()))
            return True
        except IntegrityError:
            return False

    async def finish_update(self, update_id: int) -> None:
        """Handled: keep the id (idempotency), drop the payload and the sender."""
        await self._run(self._exec, updates.update().where(updates.c.update_id == update_id)
                        .values(status="done", payload=None, sender_id=None))

    async def pending_updates(self) -> list[tuple[int, dict[str, Any]]]:
        rows = await self._run(self._fetch, sa.select(updates.c.update_id, updates.c.payload)
                               .where(updates.c.status == "pending")
                               .order_by(updates.c.update_id))
        result = []
        for update_id, payload in rows:
            try:
                result.append((update_id, json.loads(payload) if payload else {}))
            except ValueError:
                result.append((update_id, {}))
        return result

    async def update_status(self, update_id: int) -> str | None:
        rows = await self._run(self._fetch, sa.select(updates.c.status)
                               .where(updates.c.update_id == update_id))
        return rows[0][0] if rows else None

    async def purge(self, update_retention_s: float, callback_retention_s: float) -> None:
        now = time.time()
        await self._run(self._exec, updates.delete().where(
            (updates.c.status == "done") & (updates.c.received_at < now - update_retention_s)))
        await self._run(self._exec, callbacks.delete().where(
            callbacks.c.created_at < now - callback_retention_s))

    # -- chats -----------------------------------------------------------------------------
    async def remember_chat(self, sender_id: str, chat_id: int, active: bool = True) -> None:
        await self._run(self._remember_chat, sender_id, chat_id, active)

    def _remember_chat(self, sender_id: str, chat_id: int, active: bool) -> None:
        with self._engine.begin() as conn:
            res = conn.execute(chats.update().where(chats.c.sender_id == sender_id)
                               .values(chat_id=chat_id, active=active, updated_at=time.time()))
            if res.rowcount == 0:
                try:
                    conn.execute(chats.insert().values(sender_id=sender_id, chat_id=chat_id,
                                                       active=active, updated_at=time.time()))
                except IntegrityError:  # pragma: no cover - concurrent insert of the same chat
                    pass

    async def get_chat(self, sender_id: str) -> tuple[int, bool] | None:
        rows = await self._run(self._fetch, sa.select(chats.c.chat_id, chats.c.active)
                               .where(chats.c.sender_id == sender_id))
        return (int(rows[0][0]), bool(rows[0][1])) if rows else None

    async def set_active(self, sender_id: str, active: bool) -> None:
        await self._run(self._exec, chats.update().where(chats.c.sender_id == sender_id)
                        .values(active=active, updated_at=time.time()))

    # -- outbox ----------------------------------------------------------------------------
    async def outbox_add(self, sender_id: str, chat_id: int, method: str, params: dict[str, Any]) -> int:
        return await self._run(self._outbox_add, sender_id, chat_id, method, json.dumps(params))

    def _outbox_add(self, sender_id: str, chat_id: int, method: str, params: str) -> int:
        with self._engine.begin() as conn:
            res = conn.execute(outbox.insert().values(sender_id=sender_id, chat_id=chat_id,
                                                      method=method, params=params,
                                                      created_at=time.time()))
            return int(res.inserted_primary_key[0])

    async def commit_turn(self, update_id: int | None, sender_id: str, chat_id: int,
                          calls: list[tuple[str, dict[str, Any]]]) -> list[int]:
        """In one transaction: store a turn's replies in the outbox and mark its update done."""
        return await self._run(self._commit_turn, update_id, sender_id, chat_id,
                               [(m, json.dumps(p)) for m, p in calls])

    def _commit_turn(self, update_id: int | None, sender_id: str, chat_id: int,
                     calls: list[tuple[str, str]]) -> list[int]:
        ids: list[int] = []
        now = time.time()
        with self._engine.begin() as conn:
            for method, params in calls:
                res = conn.execute(outbox.insert().values(sender_id=sender_id, chat_id=chat_id,
                                                          method=method, params=params,
                                                          created_at=now))
                ids.append(int(res.inserted_primary_key[0]))
            if update_id is not None:
                conn.execute(updates.update().where(updates.c.update_id == update_id)
                             .values(status="done", payload=None, sender_id=None))
        return ids

    async def outbox_done(self, row_id: int) -> None:
        await self._run(self._exec, outbox.delete().where(outbox.c.id == row_id))

    async def outbox_drop_sender(self, sender_id: str) -> None:
        await self._run(self._exec, outbox.delete().where(outbox.c.sender_id == sender_id))

    async def outbox_pending(self) -> list[tuple[int, str, int, str, dict[str, Any]]]:
        rows = await self._run(self._fetch, sa.select(
            outbox.c.id, outbox.c.sender_id, outbox.c.chat_id, outbox.c.method, outbox.c.params)
            .order_by(outbox.c.id))
        return [(r[0], r[1], int(r[2]), r[3], json.loads(r[4])) for r in rows]

    # -- button tokens ---------------------------------------------------------------------
    async def callback_put(self, token: str, sender_id: str, payload: str) -> None:
        await self._run(self._exec, callbacks.insert().values(
            token=token, sender_id=sender_id, payload=payload, created_at=time.time()))

    async def callback_get(self, token: str, sender_id: str) -> str | None:
        rows = await self._run(self._fetch, sa.select(callbacks.c.payload).where(
            (callbacks.c.token == token) & (callbacks.c.sender_id == sender_id)))
        return rows[0][0] if rows else None

    # -- erasure ---------------------------------------------------------------------------
    async def erase_sender(self, sender_id: str) -> None:
        """Delete everything the connector holds for one conversation."""
        await self._run(self._erase_sender, sender_id)

    def _erase_sender(self, sender_id: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(chats.delete().where(chats.c.sender_id == sender_id))
            conn.execute(outbox.delete().where(outbox.c.sender_id == sender_id))
            conn.execute(callbacks.delete().where(callbacks.c.sender_id == sender_id))
            # Handled updates keep only their id; pending ones are newer messages still to answer.
            conn.execute(updates.delete().where(
                (updates.c.sender_id == sender_id) & (updates.c.status == "done")))

    async def counts(self, sender_id: str) -> dict[str, int]:
        """Rows held for one sender (tests and the erasure check)."""
        def _count() -> dict[str, int]:
            with self._engine.connect() as conn:
                return {
                    name: int(conn.execute(sa.select(sa.func.count()).select_from(table)
                                           .where(table.c.sender_id == sender_id)).scalar())
                    for name, table in (("chats", chats), ("outbox", outbox),
                                        ("callbacks", callbacks), ("updates", updates))
                }
        return await self._run(_count)

    # -- helpers ---------------------------------------------------------------------------
    def _exec(self, statement: Any) -> None:
        with self._engine.begin() as conn:
            conn.execute(statement)

    def _fetch(self, statement: Any) -> list[Any]:
        with self._engine.connect() as conn:
            return list(conn.execute(statement).fetchall())
