"""A hot-path fix for Rasa 3.6, applied when the Rasa server builds this project's channels.

Rasa validates every action server response with ``jsonschema.validate(result, spec)``, which
re-checks the (large) events schema against the JSON Schema meta-schema on every call. Measured here
with the bench (cProfile of the Rasa process, reports/bench_telegram_profile.json): jsonschema was
about half of the Rasa process's busy time; one call costs ~48 ms, the same validation with a
validator built once costs ~2.3 ms. ``apply()`` swaps in a cached validator with the same result and
the same error message. It is explicit (no patching at import) and idempotent.
"""
from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

_MARK = "_counterbot_cached_validator"


def apply() -> bool:
    """Install the cached validator on ``RemoteAction``. Returns False if it was already there."""
    import jsonschema
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    if getattr(RemoteAction._validate_action_result, _MARK, False):
        return False
    spec = RemoteAction.action_response_format_spec()
    validator_cls = jsonschema.validators.validator_for(spec)
    validator_cls.check_schema(spec)  # once, instead of on every action call
    validator = validator_cls(spec)

    def _validate_action_result(self: Any, result: Any) -> bool:
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
