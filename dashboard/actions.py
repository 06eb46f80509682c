"""State changes owned by the dashboard: claims, closing, notes, tags, erasure (synchronous)."""
from __future__ import annotations

import re
import time

import sqlalchemy as sa

from . import db as t
from .projection import erase_sender

TAG_RE = re.compile(r"^[\w-]{1,40}$")
MAX_NOTE = 4000


def conversation_exists(engine, sender_id: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.select(t.conversations.c.sender_id).where(
            t.conversations.c.sender_id == sender_id)).first() is not None


def claim(engine, sender_id: str, worker_id: int) -> bool:
    """Claim for this worker. False when someone else holds it."""
    a = t.assignments
    with engine.begin() as conn:
        row = conn.execute(sa.select(a.c.worker_id).where(a.c.sender_id == sender_id)).first()
        if row is not None:
            return row.worker_id == worker_id
        conn.execute(a.insert().values(sender_id=sender_id, worker_id=worker_id, claimed_at=time.time()))
    return True


def release(engine, sender_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(t.assignments.delete().where(t.assignments.c.sender_id == sender_id))


def close(engine, sender_id: str) -> None:
    c = t.conversations
    with engine.begin() as conn:
        conn.execute(c.update().where(c.c.sender_id == sender_id).values(closed_at=time.time()))
        conn.execute(t.assignments.delete().where(t.assignments.c.sender_id == sender_id))


def reopen(engine, sender_id: str) -> None:
    c = t.conversations
    with engine.begin() as conn:
        conn.execute(c.update().where(c.c.sender_id == sender_id).values(closed_at=None))


def add_note(engine, sender_id: str, worker_id: int, text: str) -> None:
    text = (text or "").strip()
    if not text:
        raise ValueError("A note cannot be empty.")
    if len(text) > MAX_NOTE:
        raise ValueError(f"A note has at most {MAX_NOTE} characters.")
    with engine.begin() as conn:
        conn.execute(t.notes.insert().values(sender_id=sender_id, worker_id=worker_id, text=text,
                                             created_at=time.time()))


def add_tag(engine, sender_id: str, worker_id: int, tag: str) -> None:
    tag = (tag or "").strip().lower()
    if not TAG_RE.match(tag):
        raise ValueError("A tag has 1-40 letters, digits, dashes or underscores.")
    with engine.begin() as conn:
        exists = conn.execute(sa.select(t.tags.c.tag).where(
            t.tags.c.sender_id == sender_id, t.tags.c.tag == tag)).first()
        if not exists:
            conn.execute(t.tags.insert().values(sender_id=sender_id, tag=tag, worker_id=worker_id,
                                                created_at=time.time()))


def remove_tag(engine, sender_id: str, tag: str) -> None:
    with engine.begin() as conn:
        conn.execute(t.tags.delete().where(t.tags.c.sender_id == sender_id, t.tags.c.tag == tag))


def erase(engine, sender_id: str, source: str) -> dict[str, int]:
    """Erase a conversation's dashboard data. Earlier audit rows are unlinked from the pseudonym
    and one content-free audit record says that an erasure happened."""
    with engine.begin() as conn:
        counts = erase_sender(conn, sender_id)
        conn.execute(t.audit.update().where(t.audit.c.sender_id == sender_id).values(sender_id=None))
        conn.execute(t.audit.insert().values(
            ts=time.time(), worker_id=None, username=None, action="erasure", sender_id=None,
            detail=f"source={source}; " + ", ".join(f"{k}={v}" for k, v in counts.items())))
    return counts
