"""Escalation watch: an escalation nobody claims does not wait forever.

Every ``escalation_check_interval`` seconds the watch looks for unclaimed escalations (the person
asked for a human, a crisis, or the bot is paused) that have waited ``escalation_timeout`` seconds
or more (``DASHBOARD_ESCALATION_TIMEOUT_S``). Each one is flagged overdue once per wait: an audit
row and a live alert to every open page (the queue shows it pinned near the top, with its wait, for
as long as it stays unclaimed). If the bot is paused for it, the conversation is handed back to
the bot the way a worker's hand-back does it (``{"event": "resume"}`` through Rasa's API), so the
person gets answers again; that is audited too. The escalation stays open and flagged until a
worker claims it: an unclaimed crisis never leaves the top of the queue.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from . import actions, auth, queries
from .config import Settings
from .db import Database
from .projection import Broadcaster, Projector
from .rasa_client import RasaClient, RasaError

logger = logging.getLogger(__name__)

SYSTEM_NAME = "(automatic)"  # the audit's "who" for the watch; not a valid username
RETRY_AFTER_S = 60.0  # a hand-back that Rasa refused is tried again after this long
MAX_ALERTS = 20


class EscalationWatch:
    def __init__(self, database: Database, projector: Projector, broadcaster: Broadcaster,
                 rasa: Callable[[], RasaClient], settings: Settings) -> None:
        self.db, self.projector, self.broadcaster = database, projector, broadcaster
        self.rasa, self.settings = rasa, settings
        self._retry_after: dict[str, float] = {}
        self._lock = asyncio.Lock()  # one sweep at a time (the loop, or a test calling sweep())

    async def sweep(self) -> dict[str, list[Any]]:
        """One pass. Returns what it did: newly overdue escalations, conversations handed back,
        and hand-backs that Rasa did not accept (tried again later)."""
        async with self._lock:
            return await self._sweep()

    async def _sweep(self) -> dict[str, list[Any]]:
        done: dict[str, list[Any]] = {"overdue": [], "handed_back": [], "failed": []}
        timeout = self.settings.escalation_timeout
        if timeout <= 0:
            return done
        engine = self.db.engine
        now = self.settings.clock()
        rows = await self.db.run(queries.overdue_escalations, engine, now, timeout)
        current = {r["sender_id"] for r in rows}
        self._retry_after = {k: v for k, v in self._retry_after.items() if k in current}
        for r in rows:
            sender, waited = r["sender_id"], int(now - r["wait_from"])
            if r["overdue_at"] is None or r["overdue_at"] < r["wait_from"]:  # once per wait
                await self.db.run(actions.mark_overdue, engine, sender, now)
                detail = f"waited_s={waited}; risk={r['risk_level']}"
                if r["crisis_category"]:
                    detail += f"; crisis={r['crisis_category']}"
                await self.db.run(auth.audit, engine, "escalation_overdue", None, sender, detail, SYSTEM_NAME)
                done["overdue"].append({"sender_id": sender, "waited_s": waited,
                                        "category": r["crisis_category"]})
            if r["paused"] and self.settings.escalation_hand_back \
                    and self._retry_after.get(sender, 0.0) <= now:
                outcome = await self._hand_back(sender, now, waited, timeout)
                if outcome is not None:
                    done["handed_back" if outcome else "failed"].append(sender)
        if done["overdue"]:
            logger.warning("%d escalation(s) unclaimed for over %d s", len(done["overdue"]), int(timeout))
        if done["overdue"] or done["handed_back"]:
            self.broadcaster.publish({"type": "update", "changed": len(done["overdue"]) + len(done["handed_back"]),
                                      "crises": [], "overdue": done["overdue"][:MAX_ALERTS]})
        return done

    async def _hand_back(self, sender: str, now: float, waited: int, timeout: float) -> bool | None:
        """True: handed back. False: Rasa did not accept it. None: a worker got there first."""
        engine = self.db.engine
        try:
            if not await self.db.run(actions.lock_for_hand_back, engine, sender, now, timeout):
                return None
        except Exception:  # e.g. a worker's claim inserted at the same moment
            logger.warning("automatic hand-back skipped: could not hold the conversation", exc_info=True)
            return None
        try:
            await self.rasa().resume(sender)
        except RasaError:
            self._retry_after[sender] = now + RETRY_AFTER_S
            logger.warning("automatic hand-back not accepted by the bot server; retrying in %d s",
                           int(RETRY_AFTER_S))
            return False
        finally:
            await self.db.run(actions.unlock, engine, sender)
        self._retry_after.pop(sender, None)
        await self.db.run(auth.audit, engine, "auto_hand_back", None, sender,
                          f"unclaimed_s={waited}; timeout_s={int(timeout)}", SYSTEM_NAME)
        try:  # tell the person the assistant is back (best effort: the hand-back stands anyway)
            await self.rasa().bot_notice(sender, "handback")
        except RasaError:
            logger.warning("automatic hand-back: the notice to the user could not be sent")
        await self.projector.step(self.broadcaster)  # the resume is in the tracker: show it
        return True

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:  # a locked DB or a Rasa hiccup must not stop the watch
                logger.exception("escalation check failed")
