"""Benchmark: simulated Telegram users through the connector vs the same load on Rasa's REST channel.

    make bench        # = .venv/bin/python -m bench.telegram_bench (webhook then polling, 5-30 msg/s)
    .venv/bin/python -m bench.telegram_bench --mode webhook --rates 5,10 --users 60 --duration 20
    .venv/bin/python -m bench.telegram_bench --quick            # a 1-minute smoke run (polling)
    .venv/bin/python -m bench.telegram_bench --profile --rates 5   # Rasa under cProfile
    .venv/bin/python -m bench.telegram_bench --replicas 2 --rates 30  # two Rasa processes (Redis locks)

One Rasa server and one action server (tests/stack.py, the trained model in models/, loopback only)
serve both channels. For each target rate R (messages/s) the same open-loop load runs twice:
N users, each sending one message every N/R seconds (below Telegram's ~1/s per chat), for D seconds:

- REST floor: POST /webhooks/rest/webhook, latency = request -> response (the full turn).
- Telegram: the fake Bot API server (tests/fake_telegram.py) queues updates; the connector polls
  (or receives webhooks with --mode webhook), runs the turn, and sends through its rate limiter
  (30/s overall, ~1/s per chat) -> fake sendMessage. Latency = update queued -> first sendMessage to
  that chat after it.

Losses and duplicates are counted against Rasa's own record: for each Telegram user, every update
id must appear exactly once as a user event in the tracker, and the sent messages must equal the
bot events (as multisets of paragraphs, so that the check does not depend on how the connector
merges a turn's bot events into one Telegram message). With --replicas N, the REST users are spread over the
N Rasa processes by user, as the connector spreads chats. Writes reports/bench_telegram.json. Bounded: at most --max-seconds.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from connectors.payloads import merge_turn_messages  # noqa: E402
from connectors.pseudonym import pseudonymise  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402
from tests.stack import RasaStack, free_port  # noqa: E402

TOKEN = "777000:BENCH-token"
KEY = "bench-pseudonym-key"
SECRET = "bench_secret"
TEXTS = [
    ("en", "hello"), ("en", "thanks"), ("en", "who runs this?"), ("en", "are you a bot?"),
    ("en", "nobody listens to people like me"), ("en", "the media lies about everything"),
    ("fr", "bonjour"), ("fr", "merci"), ("fr", "personne ne m'écoute jamais"),
    ("fr", "les médias mentent sur tout"),
]


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100.0 * (len(ordered) - 1))))
    return round(ordered[index], 4)


def summary(latencies: list[float], sent: int, elapsed: float) -> dict[str, Any]:
    return {
        "sent": sent,
        "answered": len(latencies),
        "elapsed_s": round(elapsed, 2),
        "throughput_msg_s": round(len(latencies) / elapsed, 2) if elapsed else None,
        "latency_s": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                      "p99": percentile(latencies, 99),
                      "mean": round(statistics.fmean(latencies), 4) if latencies else None,
                      "max": round(max(latencies), 4) if latencies else None},
    }


async def schedule(users: int, rate: float, duration: float):
    """Yield (user index, message index) at the open-loop schedule."""
    interval = users / rate
    start = time.monotonic()
    total = int(rate * duration)
    for k in range(total):
        user = k % users
        due = start + (k // users) * interval + (user * interval / users)
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        yield user, k // users


async def run_rest(stack: RasaStack, http: aiohttp.ClientSession, users: int, rate: float,
                   duration: float, tag: str) -> dict[str, Any]:
    latencies: list[float] = []
    errors = collections.Counter()
    empty = 0
    tasks = []

    async def one(user: int, n: int) -> None:
        nonlocal empty
        lang, text = TEXTS[(user + n) % len(TEXTS)]
        started = time.monotonic()
        try:
            # With replicas, each user stays on one (as a load balancer routing by sender would).
            url = stack.replica_urls[user % len(stack.replica_urls)]
            async with http.post(f"{url}/webhooks/rest/webhook",
                                 json={"sender": f"web-bench-{tag}-{user}", "message": text,
                                       "metadata": {"language_code": lang}}) as resp:
                body = await resp.json(content_type=None)
                if resp.status != 200:
                    errors[f"http_{resp.status}"] += 1
                    return
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            errors[type(exc).__name__] += 1
            return
        if not body:
            empty += 1
            return
        latencies.append(time.monotonic() - started)

    started = time.monotonic()
    async for user, n in schedule(users, rate, duration):
        tasks.append(asyncio.create_task(one(user, n)))
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    result = summary(latencies, len(tasks), elapsed)
    result.update({"errors": dict(errors), "empty_replies": empty})
    return result


async def run_telegram(stack: RasaStack, fake: FakeTelegram, http: aiohttp.ClientSession,
                       users: int, rate: float, duration: float, base_chat: int,
                       merge: bool = True) -> dict[str, Any]:
    pushed: dict[int, list[tuple[int, float]]] = collections.defaultdict(list)
    calls_before = len(fake.calls)
    started = time.monotonic()
    async for user, n in schedule(users, rate, duration):
        chat = base_chat + user
        lang, text = TEXTS[(user + n) % len(TEXTS)]
        update = fake.push_message(chat, text, language_code=lang)
        pushed[chat].append((update["update_id"], update["_pushed_at"]))
    total = sum(len(v) for v in pushed.values())

    # Drain: wait until every update is in a tracker and the sender is quiet (bounded).
    async def tracker(chat: int) -> list:
        async with http.get(f"{stack.rasa_url}/conversations/{pseudonymise(chat, KEY.encode())}"
                            "/tracker", headers=stack.auth_headers()) as resp:
            return (await resp.json()).get("events") or [] if resp.status == 200 else []

    deadline = time.monotonic() + max(60.0, duration * 3)
    last_count = -1
    while time.monotonic() < deadline:
        sends = len([c for c in fake.calls[calls_before:] if c.method == "sendMessage"])
        if sends == last_count and fake.pending_updates() == 0:
            break
        last_count = sends
        await asyncio.sleep(2.0)
    calls = [c for c in fake.calls[calls_before:] if c.method == "sendMessage"]
    ok_calls = [c for c in calls if c.status == 200]
    last_send = max((c.at for c in ok_calls), default=started)
    elapsed = max(duration, last_send - started)

    latencies: list[float] = []
    lost = duplicated = missing_turns = duplicate_turns = no_reply = 0
    by_chat: dict[int, list] = collections.defaultdict(list)
    for c in ok_calls:
        by_chat[c.params.get("chat_id")].append(c)
    for chat, updates in pushed.items():
        sends = by_chat.get(chat, [])
        events = await tracker(chat)
        # Telegram messages per update, from Rasa's record: the bot events after each user event,
        # merged as the connector merges them (one message per turn where it fits) unless off.
        turns: dict[str, list] = collections.defaultdict(list)
        current = None
        for e in events:
            if e.get("event") == "user":
                current = e.get("message_id")
            elif e.get("event") == "bot" and e.get("text") and current is not None:
                params = {"text": e["text"]}
                if (e.get("data") or {}).get("buttons"):
                    params["inline_keyboard"] = True
                turns[current].append(("sendMessage", params))
        replies: dict[str, int] = {}
        for update_id, turn_calls in turns.items():
            if merge:
                turn_calls = merge_turn_messages(turn_calls)
            replies[update_id] = len(turn_calls)
        ids = collections.Counter(e.get("message_id") for e in events if e.get("event") == "user")
        # Sends arrive in turn order per chat: the first replies[u1] belong to u1, and so on.
        position = 0
        for update_id, pushed_at in updates:
            count = ids.get(str(update_id), 0)
            missing_turns += count == 0
            duplicate_turns += max(0, count - 1)
            k = replies.get(str(update_id), 0)
            if k == 0:
                no_reply += count > 0
                continue
            if position < len(sends):
                latencies.append(sends[position].at - pushed_at)
            position += k
        # Counted in paragraphs, independently of the merge rule: every paragraph of every bot
        # event must arrive exactly once (a merged message is the paragraphs of several events).
        expected = collections.Counter(p for e in events if e.get("event") == "bot" and e.get("text")
                                       for p in e["text"].split("\n\n"))
        got = collections.Counter(p for c in sends for p in (c.params.get("text") or "").split("\n\n"))
        lost += sum((expected - got).values())
        duplicated += sum((got - expected).values())
    result = summary(latencies, total, elapsed)
    # The connector's own account of where an update's time went (cumulative since Rasa started).
    async with http.get(f"{stack.rasa_url}/webhooks/telegram/?timings=1") as resp:
        result["connector_timings_ms"] = (await resp.json()).get("timings_ms") if resp.status == 200 else None
    statuses = collections.Counter(c.status for c in calls)
    result.update({
        "lost_messages": lost, "duplicated_messages": duplicated, "turns_without_reply": no_reply,
        "updates_without_turn": missing_turns, "updates_handled_twice": duplicate_turns,
        "send_statuses": {str(k): v for k, v in statuses.items()},
        "chat_actions": len([c for c in fake.calls[calls_before:] if c.method == "sendChatAction"]),
        "bot_messages_per_update": round(len(ok_calls) / total, 2) if total else None,
    })
    return result


# Where a turn's time goes: (label, file suffix, function name); cumulative in-process time.
PROFILE_POINTS = [
    ("whole turn: MessageProcessor.handle_message", "rasa/core/processor.py", "handle_message"),
    ("NLU pipeline: parse_message", "rasa/core/processor.py", "parse_message"),
    ("policies: predict_next_with_tracker_if_should", "rasa/core/processor.py",
     "predict_next_with_tracker_if_should"),
    ("custom actions (HTTP to the action server): RemoteAction.run",
     "rasa/core/actions/action.py", "run"),
    ("tracker store: retrieve", "rasa/core/tracker_store.py", "retrieve"),
    ("tracker store: save (project subclass)", "stores/tracker.py", "save"),
    ("lock store: lock", "rasa/core/lock_store.py", "lock"),
    ("REST channel: receive", "rasa/core/channels/rest.py", "receive"),
    ("connector: accept (inbox insert + decide)", "connectors/telegram.py", "accept"),
    ("connector: commit (outbox + done)", "connectors/telegram.py", "commit"),
    ("connector: polling loop", "connectors/telegram.py", "_poll_loop"),
    ("connector: sendMessage via python-telegram-bot", "connectors/sender.py", "_call"),
    ("connector: store calls", "connectors/store.py", "_run"),
]


def summarise_profile(path: Path, top: int = 15) -> dict[str, Any]:
    """cProfile stats of the Rasa process -> cumulative time at the points of a turn, own time by
    package (idle time of the event loop excluded), and the top own-time functions."""
    import pstats

    if not path.exists():
        return {"error": "no profile written"}
    stats = pstats.Stats(str(path))
    points = []
    for label, suffix, func in PROFILE_POINTS:
        total = sum(v[3] for (f, _l, name), v in stats.stats.items()
                    if f.endswith(suffix) and name == func)
        calls = sum(v[1] for (f, _l, name), v in stats.stats.items()
                    if f.endswith(suffix) and name == func)
        points.append({"point": label, "cumulative_s": round(total, 3), "calls": calls})
    areas: collections.Counter = collections.Counter()
    rows = []
    idle = 0.0
    for (filename, line, func), (_cc, _nc, tt, ct, _callers) in stats.stats.items():
        if "select" in func and ("poll" in func or "epoll" in func) or func.endswith("(serve)") \
                or (filename.endswith("sanic/server/runners.py") and func == "serve"):
            idle += tt
            continue
        if "site-packages/" in filename:
            area = filename.split("site-packages/", 1)[1].split("/", 1)[0]
        elif str(ROOT) in filename:
            area = "project/" + filename.replace(str(ROOT) + "/", "").split("/", 1)[0]
        elif filename.startswith("~") or filename.startswith("<"):
            area = "builtins (C functions)"
        else:
            area = "stdlib"
        areas[area] += tt
        rows.append((tt, ct, f"{filename.split('site-packages/')[-1].replace(str(ROOT) + '/', '')}"
                             f":{line}({func})"))
    busy = sum(areas.values()) or 1.0
    rows.sort(reverse=True)
    return {
        "busy_s": round(busy, 2), "event_loop_idle_s": round(idle, 2),
        "turn_points": points,
        "own_time_by_area": [{"area": a, "share_of_busy": round(t / busy, 3)}
                             for a, t in areas.most_common(top)],
        "top_own_time": [{"function": f, "own_s": round(tt, 3), "cumulative_s": round(ct, 3)}
                         for tt, ct, f in rows[:top]],
        "note": "Rasa ran under cProfile (slower); compare shares, not absolute latencies",
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    rates = [float(r) for r in args.rates.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="bench-telegram-"))
    report: dict[str, Any] = {
        "command": "python -m bench.telegram_bench " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_at_start": os.getloadavg()},
        "config": {"users": args.users, "rates": rates, "duration_s": args.duration,
                   "mode": args.mode, "max_concurrent_turns": args.max_turns or "default",
                   "merge_replies": not args.no_merge, "rasa_replicas": args.replicas,
                   "telegram_limits": {"global_per_s": args.global_rate,
                                                          "per_chat_per_s": 1.0}},
        "runs": [],
    }
    async with FakeTelegram(token=TOKEN) as fake, aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=120),
            connector=aiohttp.TCPConnector(limit=200)) as http:
        env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake.base_url,
               "TELEGRAM_WEBHOOK_SECRET": SECRET, "PSEUDONYM_KEY": KEY,
               "TELEGRAM_POLL_TIMEOUT": "5", "TELEGRAM_GLOBAL_RATE": str(args.global_rate)}
        env["TELEGRAM_MERGE_REPLIES"] = "0" if args.no_merge else "1"
        if args.replicas > 1:  # replicas share the tracker store; locks must be shared too
            import socket

            try:
                socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
            except OSError:
                raise SystemExit("--replicas > 1 needs Redis on 127.0.0.1:6379 for the shared lock "
                                 "store; start Redis or run with --replicas 1") from None
            env["LOCK_STORE_TYPE"] = "redis"
            env["REDIS_DB"] = "3"
        if args.max_turns:
            env["TELEGRAM_MAX_CONCURRENT_TURNS"] = str(args.max_turns)
        rasa_port = free_port()
        if args.mode == "webhook":
            env["TELEGRAM_WEBHOOK_URL"] = f"http://127.0.0.1:{rasa_port}/webhooks/telegram/webhook"
        profile_path = workdir / "rasa.prof" if args.profile else None
        stack = RasaStack(env=env, workdir=workdir, rasa_port=rasa_port, profile_to=profile_path,
                          replicas=args.replicas)
        t0 = time.monotonic()
        await asyncio.to_thread(stack.start)
        report["rasa_start_s"] = round(time.monotonic() - t0, 1)
        report["model"] = stack.model.name
        try:
            if args.mode == "webhook":
                fake.webhook = {"url": env["TELEGRAM_WEBHOOK_URL"], "secret_token": SECRET}
            # Warm-up (first turns load lazy parts of the pipeline).
            await run_rest(stack, http, 4, 4, 2, "warm")
            for i, rate in enumerate(rates):
                if time.monotonic() - started > args.max_seconds:
                    report["stopped_early"] = "max-seconds reached"
                    break
                run: dict[str, Any] = {"target_rate_msg_s": rate}
                run["rest"] = await run_rest(stack, http, args.users, rate, args.duration, f"r{i}")
                await asyncio.sleep(2)
                run["telegram"] = await run_telegram(stack, fake, http, args.users, rate,
                                                     args.duration, base_chat=100000 * (i + 1),
                                                     merge=not args.no_merge)
                rest, tg = run["rest"], run["telegram"]
                if rest["latency_s"]["p50"] and tg["latency_s"]["p50"]:
                    run["connector_vs_rest"] = {
                        "p50_ratio": round(tg["latency_s"]["p50"] / rest["latency_s"]["p50"], 3),
                        "p95_ratio": round(tg["latency_s"]["p95"] / rest["latency_s"]["p95"], 3),
                        "throughput_ratio": round(tg["throughput_msg_s"] / rest["throughput_msg_s"], 3),
                    }
                report["runs"].append(run)
                print(json.dumps(run), flush=True)
                await asyncio.sleep(2)
        finally:
            await asyncio.to_thread(stack.stop)
        if profile_path is not None:
            report["profile_rasa_process"] = summarise_profile(profile_path)
    report["total_s"] = round(time.monotonic() - started, 1)
    report["machine"]["load_avg_at_end"] = os.getloadavg()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Telegram connector benchmark (see docstring)")
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--rates", default="5,10,20,30", help="target messages/s, comma separated")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--mode", choices=["both", "polling", "webhook"], default="both",
                        help="both = a webhook run, then a polling run (one Rasa start each)")
    parser.add_argument("--global-rate", type=float, default=30.0, help="outbound messages/s cap")
    parser.add_argument("--max-turns", type=int, default=0,
                        help="TELEGRAM_MAX_CONCURRENT_TURNS for the connector (default: its own)")
    parser.add_argument("--replicas", type=int, default=1,
                        help="Rasa processes: the first is the Telegram ingress and routes chats "
                             "to the others (TELEGRAM_TURN_REPLICAS); needs Redis for the locks")
    parser.add_argument("--no-merge", action="store_true",
                        help="TELEGRAM_MERGE_REPLIES=0: one Telegram message per bot message")
    parser.add_argument("--profile", action="store_true",
                        help="run Rasa under cProfile (writes reports/bench_telegram_profile.json)")
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--output", default=None)
    parser.add_argument("--append", action="store_true",
                        help="keep the other mode's results already in the output file")
    args = parser.parse_args(argv)
    if args.output is None:
        name = "bench_telegram_profile.json" if args.profile else "bench_telegram.json"
        args.output = str(ROOT / "reports" / name)
    if args.quick:
        args.users, args.rates, args.duration = 10, "5", 8.0
        if args.mode == "both":
            args.mode = "polling"
    modes = ["webhook", "polling"] if args.mode == "both" else [args.mode]
    results = {}
    for mode in modes:
        args.mode = mode
        results[mode] = asyncio.run(main_async(args))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"modes": {}}
    if args.append and out.exists():
        try:
            report = json.loads(out.read_text(encoding="utf-8"))
            report.setdefault("modes", {})
        except ValueError:
            report = {"modes": {}}
    report["modes"].update(results)
    report["what"] = ("Open-loop load, same schedule on Rasa's REST channel (floor) and through the "
                      "Telegram connector; see bench/telegram_bench.py and docs/telegram.md")
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
