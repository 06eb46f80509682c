"""`make run` with RASA_REPLICAS: which Rasa processes start, on which ports, with which settings."""
from __future__ import annotations

import pytest

from scripts.run import replica_plan


def base_env(**extra: str) -> dict:
    env = {"RASA_PORT": "5005", "LOCK_STORE_TYPE": "redis", "TELEGRAM_BOT_TOKEN": "123:abc",
           "TELEGRAM_WEBHOOK_URL": "https://example.org/hook", "RASA_API_TOKEN": "t"}
    env.update(extra)
    return env


def test_one_replica_is_the_default_and_changes_nothing():
    env = base_env(LOCK_STORE_TYPE="in_memory")
    assert replica_plan(env) == {}
    assert "TELEGRAM_TURN_REPLICAS" not in env


def test_replicas_get_the_next_ports_no_telegram_and_the_ingress_gets_their_urls():
    env = base_env(RASA_REPLICAS="3")
    plan = replica_plan(env)
    assert sorted(plan) == ["rasa1", "rasa2"]
    assert [plan[n]["RASA_PORT"] for n in ("rasa1", "rasa2")] == ["5006", "5007"]
    for replica_env in plan.values():
        # Only the ingress talks to Telegram: a replica with the token would poll it too.
        assert not any(k.startswith("TELEGRAM_") for k in replica_env)
        assert replica_env["RASA_API_TOKEN"] == "t"  # the ingress authenticates with it
        assert replica_env["RASA_HOST"] == "127.0.0.1"  # never exposed beyond this machine
    assert env["TELEGRAM_TURN_REPLICAS"] == "http://127.0.0.1:5006,http://127.0.0.1:5007"
    assert env["RASA_PORT"] == "5005"


@pytest.mark.parametrize("extra,message", [
    ({"RASA_REPLICAS": "2", "LOCK_STORE_TYPE": "in_memory"}, "LOCK_STORE_TYPE=redis"),
    ({"RASA_REPLICAS": "two"}, "whole number"),
])
def test_unsafe_or_malformed_replica_settings_are_refused_clearly(extra, message):
    with pytest.raises(SystemExit) as exc:
        replica_plan(base_env(**extra))
    assert message in str(exc.value)


def test_from_three_processes_the_ingress_runs_no_turns_unless_told_to():
    two, three = base_env(RASA_REPLICAS="2"), base_env(RASA_REPLICAS="3")
    replica_plan(two)
    replica_plan(three)
    assert two["TELEGRAM_INGRESS_TURNS"] == "1"
    assert three["TELEGRAM_INGRESS_TURNS"] == "0"
    kept = base_env(RASA_REPLICAS="3", TELEGRAM_INGRESS_TURNS="1")
    replica_plan(kept)
    assert kept["TELEGRAM_INGRESS_TURNS"] == "1"
