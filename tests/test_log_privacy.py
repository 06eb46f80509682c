"""Rasa's own structlog events never carry the user's text once the channel is built."""
from __future__ import annotations

import io
import logging

import structlog

from connectors import log_privacy


def test_rasa_rest_failure_log_keeps_the_event_but_not_the_text():
    from rasa.utils.log_utils import configure_structlog

    stream = io.StringIO()
    configure_structlog(logging.INFO)  # what `rasa run` does before building channels
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    try:
        rest_logger = structlog.get_logger("rasa.core.channels.rest")
        rest_logger.error("rest.message.received.before", text="no redaction yet")
        assert log_privacy.apply() is True
        assert log_privacy.apply() is False  # idempotent
        rest_logger.error("rest.message.received.timeout", text="I want to hurt someone at school")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            rest_logger.exception("rest.message.received.failure", text="mon adresse est 3 rue X")
        structlog.get_logger("rasa.core.processor").info(
            "processor.message.parse", parse_data_text="je veux partir en Syrie", parse_data_intent="x")
    finally:
        logging.getLogger().removeHandler(handler)
    out = stream.getvalue()
    assert "no redaction yet" in out  # the capture works: before apply() text was logged
    for secret in ("hurt someone", "3 rue X", "partir en Syrie"):
        assert secret not in out
    assert "rest.message.received.timeout" in out and "rest.message.received.failure" in out
    assert "RuntimeError" in out and "redacted" in out
