"""Where a Rasa turn spends its time, without HTTP in front: one Rasa Agent in this process.

    .venv/bin/python -m bench.turn_profile                 # 300 turns, 30 users, cProfile
    .venv/bin/python -m bench.turn_profile --turns 600 --no-profile

Starts the action server (tests/stack.py), loads the trained model into an in-process Agent with the
project's tracker store (SQLite in a temporary directory) and action endpoint, and sends the
benchmark's messages one turn at a time, round-robin over the users. Reports the wall time per turn
(p50/p95) and, with cProfile, the cumulative time of the main parts of a turn, to
reports/turn_profile.json. The Rasa process's CPU per turn bounds its throughput: 1000 / (ms per
turn) turns per second on one core.
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.telegram_bench import TEXTS  # noqa: E402
from tests.stack import RasaStack, latest_model  # noqa: E402

PARTS = {
    "turn (MessageProcessor.handle_message)": "processor.py:*(handle_message)",
    "NLU parse": "processor.py:*(parse_message)",
    "tracker retrieve": "tracker_store.py:*(retrieve)",
    "tracker save": "tracker_store.py:*(save)",
    "policy prediction": "processor.py:*(predict_next_with_tracker_if_should)",
    "remote action calls": "action.py:*(run)",
    "action result validation": "action.py:*(_validate_action_result)",
}


def _part_times(stats: pstats.Stats, turns: int) -> dict:
    out = {}
    for label, pattern in PARTS.items():
        file_part, func = pattern.split(":*(")
        func = func.rstrip(")")
        total = 0.0
        for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            if name == func and filename.endswith(file_part):
                total = max(total, ct)
        out[label] = round(1000 * total / turns, 2)
    return out


async def _run(args: argparse.Namespace) -> dict:
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    import logging

    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.INFO)  # as `rasa run` does: debug events are dropped cheaply
    logging.getLogger().setLevel(logging.INFO)
    work = Path(tempfile.mkdtemp(prefix="turnprof-"))
    stack = RasaStack(workdir=work)
    os.environ.update({k: v for k, v in stack.env.items() if k.isupper()})
    stack.start_action_server()
    from rasa.core.agent import load_agent
    from rasa.core.channels.channel import UserMessage
    from rasa.core.utils import AvailableEndpoints

    from connectors import speedups

    speedups.apply()
    endpoints = AvailableEndpoints.read_endpoints(str(ROOT / "endpoints.yml"))
    agent = await load_agent(model_path=str(latest_model()), endpoints=endpoints)
    for _ in range(60):  # the action server needs a few seconds to come up
        try:
            await agent.handle_message(UserMessage("hello", sender_id="warmup"))
            break
        except Exception:  # noqa: BLE001
            await asyncio.sleep(1)
    turns: list[float] = []
    profiler = cProfile.Profile() if args.profile else None
    cpu0 = time.process_time()
    if profiler:
        profiler.enable()
    for i in range(args.turns):
        user = i % args.users
        text = TEXTS[(i // args.users + user) % len(TEXTS)][1]
        t0 = time.perf_counter()
        await agent.handle_message(UserMessage(text, sender_id=f"user-{user}"))
        turns.append(time.perf_counter() - t0)
    if profiler:
        profiler.disable()
    cpu = time.process_time() - cpu0
    await speedups.close_kept_sessions()
    stack.stop()
    report = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "turns": args.turns, "users": args.users, "profiled": bool(profiler),
        "wall_ms_per_turn": {"p50": round(1000 * statistics.median(turns), 2),
                             "p95": round(1000 * sorted(turns)[int(0.95 * len(turns)) - 1], 2),
                             "mean": round(1000 * statistics.mean(turns), 2)},
        "rasa_cpu_ms_per_turn": round(1000 * cpu / args.turns, 2),
    }
    if profiler:
        stats = pstats.Stats(profiler)
        if args.pstats:
            stats.dump_stats(args.pstats)
        report["cumulative_ms_per_turn"] = _part_times(stats, args.turns)
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(args.top)
        report["top_tottime"] = [line for line in buf.getvalue().splitlines() if line.strip()][-args.top:]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--pstats", default=None, help="also write the raw cProfile stats here")
    parser.add_argument("--output", default=str(ROOT / "reports" / "turn_profile.json"))
    args = parser.parse_args(argv)
    report = asyncio.run(_run(args))
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "top_tottime"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
