"""State changes owned by the dashboard: claims, closing, notes, tags, erasure (synchronous)."""
from __future__ import annotations

import re
import time

import sqlalchemy as sa

from . import db as t
from .projection import erase_sender
from .queries import needs_person, wait_from

TAG_RE = re.compile(r"^[\w-]{1,40}$")
MAX_NOTE = 4000
# Holds an assignment for the few milliseconds of an automatic hand-back, so that no worker's
# claim or take-over interleaves with it. Never a real worker id (those start at 1).
SYSTEM_WORKER_ID = 0


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


def _resolved(c):
    """Values that end the current escalation episode: everything projected so far is handled
    (events not projected yet count as later, so a crisis that is still in flight re-opens it)."""
    return {"esc_resolved_id": c.c.last_event_id, "claim_ended_at": None, "overdue_at": None}


def release(engine, sender_id: str, now: float | None = None, resolve: bool = False) -> None:
    """End the claim. ``resolve`` (a worker's hand-back): the escalation is dealt with. Otherwise
    it goes back to the pool and, if it still needs a person, its wait starts again now."""
    c = t.conversations
    with engine.begin() as conn:
        gone = conn.execute(t.assignments.delete().where(t.assignments.c.sender_id == sender_id)).rowcount
        if resolve:
            conn.execute(c.update().where(c.c.sender_id == sender_id).values(_resolved(c)))
        elif gone:
            conn.execute(c.update().where(c.c.sender_id == sender_id).values(
                claim_ended_at=time.time() if now is None else now))


def release_all_of(engine, worker_id: int, now: float | None = None) -> list[str]:
    """A disabled worker's claims go back to the pool (nobody would ever answer them)."""
    a, c = t.assignments, t.conversations
    with engine.begin() as conn:
        senders = [r[0] for r in conn.execute(sa.select(a.c.sender_id).where(a.c.worker_id == worker_id))]
        if senders:
            conn.execute(a.delete().where(a.c.worker_id == worker_id))
            conn.execute(c.update().where(c.c.sender_id.in_(senders)).values(
                claim_ended_at=time.time() if now is None else now))
    return senders


def close(engine, sender_id: str, now: float | None = None) -> None:
    c = t.conversations
    with engine.begin() as conn:
        conn.execute(c.update().where(c.c.sender_id == sender_id).values(
            _resolved(c) | {"closed_at": time.time() if now is None else now}))
        conn.execute(t.assignments.delete().where(t.assignments.c.sender_id == sender_id))


def lock_for_hand_back(engine, sender_id: str, now: float, timeout: float) -> bool:
    """Hold the conversation for an automatic hand-back if, checked again now, it is still paused,
    unclaimed and overdue. False when a worker got there first."""
    c, a = t.conversations, t.assignments
    with engine.begin() as conn:
        if conn.execute(sa.select(a.c.sender_id).where(a.c.sender_id == sender_id)).first() is not None:
            return False
        row = conn.execute(sa.select(c).where(c.c.sender_id == sender_id)).first()
        if row is None:
            return False
        row = dict(row._mapping) | {"claimed_by_id": None}
        since = wait_from(row)
        if not (row["paused"] and needs_person(row) and since is not None and now - since >= timeout):
            return False
        conn.execute(a.insert().values(sender_id=sender_id, worker_id=SYSTEM_WORKER_ID, claimed_at=now))
    return True


def unlock(engine, sender_id: str | None = None) -> None:
    """Drop the automatic hand-back's hold (all of them at start, after a crash)."""
    a = t.assignments
    cond = [a.c.worker_id == SYSTEM_WORKER_ID]
    if sender_id is not None:
        cond.append(a.c.sender_id == sender_id)
    with engine.begin() as conn:
        conn.execute(a.delete().where(*cond))


def mark_overdue(engine, sender_id: str, now: float) -> None:
    c = t.conversations
    with engine.begin() as conn:
        conn.execute(c.update().where(c.c.sender_id == sender_id).values(overdue_at=now))


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
