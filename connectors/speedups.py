"""A hot-path fix for Rasa 3.6, applied when the Rasa server builds this project's channels.

Rasa validates every action server response with ``jsonschema.validate(result, spec)``, which
re-checks the (large) events schema against the JSON Schema meta-schema on every call. Measured here
with the bench (cProfile of the Rasa process, reports/bench_telegram_profile.json): jsonschema was
about half of the Rasa process's busy time; one call costs ~48 ms, the same validation with a
validator built once costs ~2.3 ms. ``apply()`` swaps in a cached validator with the same result and
the same error message. It is explicit (no patching at import) and idempotent.

Second round (bench/turn_profile.py, reports/turn_profile.json):

- The cached jsonschema validator still cost ~4 ms a turn (it walks the whole events schema in
  Python). A valid response is now checked by a validator compiled once with ``fastjsonschema``;
  only a response it rejects goes through jsonschema, which raises the same error as before (and if
  jsonschema accepts it after all, it is accepted: the result never differs from Rasa's own check).
- ``Event.resolve_by_type`` walked every subclass of ``Event`` (with ``inspect.isabstract`` on each)
  for every event read from the tracker store: ~4 ms a turn. It now looks the class up in a table,
  rebuilt from the same walk whenever a type name is not in it (so late-imported events still
  resolve), and falls back to Rasa's function for unknown names.
- Every action call opened a new aiohttp session and TCP connection to the action server (Rasa's
  ``EndpointConfig.request`` uses ``async with self.session()``), ~2-3 ms a turn for 2-3 calls.
  An endpoint configured with ``keep_alive: true`` (endpoints.yml, action_endpoint) now keeps one
  session per event loop and reuses its connections; other endpoints are unchanged.
"""
from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

_MARK = "_counterbot_cached_validator"


def apply() -> bool:
    """Install the speed-ups. Returns False if they were already there."""
    _cache_event_types()
    _keep_alive_sessions()
    return _install_validator()


class _KeptSession:
    """``async with`` on a shared session that must not close it."""

    def __init__(self, session: Any) -> None:
        self._session = session

    async def __aenter__(self) -> Any:
        return self._session

    async def __aexit__(self, *_exc: Any) -> bool:
        return False


KEEP_ALIVE_S = 2.0
_KEPT: Any = None  # the loop -> sessions table, once installed


async def close_kept_sessions() -> None:
    """Close the kept sessions of the running loop (at server stop)."""
    import asyncio

    sessions = _KEPT.pop(asyncio.get_running_loop(), {}) if _KEPT is not None else {}
    for session in sessions.values():
        await session.close()


def _keep_alive_sessions() -> None:
    import asyncio
    import weakref

    import aiohttp
    from rasa.utils.endpoints import EndpointConfig

    original = EndpointConfig.session
    if getattr(original, _MARK, False):
        return
    # loop -> {endpoint id: session}; a finished event loop drops its sessions with it
    global _KEPT
    per_loop: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()
    _KEPT = per_loop

    def session(self: Any) -> Any:
        if not self.kwargs.get("keep_alive"):
            return original(self)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return original(self)
        sessions = per_loop.setdefault(loop, {})
        kept = sessions.get(id(self))
        if kept is None or kept.closed:
            fresh = original(self)  # Rasa's headers, auth and timeout ...
            # ... with idle connections dropped well before the action server (Sanic: 5 s) would
            # close them, so a request never goes out on a connection the server is closing.
            kept = aiohttp.ClientSession(
                headers=fresh.headers, auth=fresh.auth, timeout=fresh.timeout,
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEP_ALIVE_S))
            asyncio.ensure_future(fresh.close())  # never used; nothing to flush
            sessions[id(self)] = kept
        return _KeptSession(kept)

    setattr(session, _MARK, True)
    session.__wrapped__ = original  # type: ignore[attr-defined]
    EndpointConfig.session = session  # type: ignore[assignment]


def _cache_event_types() -> None:
    from rasa.shared.core.events import Event
    from rasa.shared.utils.common import all_subclasses

    original = Event.__dict__["resolve_by_type"].__func__
    if getattr(original, _MARK, False):
        return
    table: dict = {}

    def _rebuild() -> None:
        table.clear()
        for cls in all_subclasses(Event):
            table.setdefault(cls.type_name, cls)  # first match wins, as in Rasa's loop

    def resolve_by_type(type_name: Any, default: Any = None) -> Any:
        cls = table.get(type_name)
        if cls is None:
            _rebuild()
            cls = table.get(type_name)
        if cls is not None:
            return cls
        return original(type_name, default)

    setattr(resolve_by_type, _MARK, True)
    resolve_by_type.__wrapped__ = original  # type: ignore[attr-defined]
    Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[assignment]


def _install_validator() -> bool:
    import jsonschema
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    if getattr(RemoteAction._validate_action_result, _MARK, False):
        return False
    spec = RemoteAction.action_response_format_spec()
    validator_cls = jsonschema.validators.validator_for(spec)
    validator_cls.check_schema(spec)  # once, instead of on every action call
    validator = validator_cls(spec)
    try:
        import fastjsonschema

        fast = fastjsonschema.compile(spec)
        fast_error: Any = fastjsonschema.JsonSchemaException
    except Exception:  # noqa: BLE001 - the slower exact path still works
        fast, fast_error = None, ()

    def _validate_action_result(self: Any, result: Any) -> bool:
        if fast is not None:
            try:
                fast(result)
                return True
            except fast_error:
                pass  # let jsonschema decide and word the error exactly as Rasa does
        error = jsonschema.exceptions.best_match(validator.iter_errors(result))
        if error is None:
            return True
        error.message += (
            f". Failed to validate Action server response from API, "
            f"make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions"
        )
        raise error

    setattr(_validate_action_result, _MARK, True)
    _validate_action_result.__wrapped__ = RemoteAction._validate_action_result  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[assignment]
    logger.debug("Rasa action response validation: cached validator installed")
    return True
