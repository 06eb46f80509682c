"""Real-browser tests of the dashboard: headless Chromium (Debian's package, installed by
scripts/ensure_browser.sh) driven by Playwright. The dashboard is the real app; Rasa is the fake
HTTP API from dashboard.testing (the full stack with Telegram is in test_dashboard_e2e.py).
Screenshots go to test-artifacts/."""
from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from dashboard import auth
from dashboard.app import create_app
from dashboard.keys import DB
from dashboard.testing import (
    FakeClock,
    FakeRasa,
    LiveServer,
    add_events,
    make_settings,
    make_tracker,
    simple_event,
    slot_event,
    user_event,
)
from tests.conftest import skip_or_fail  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "correct horse battery staple"
auth.use_fast_hashing_for_tests()


def launch_browser():
    """(playwright, browser) or pytest.skip with what to do."""
    res = subprocess.run(["bash", str(ROOT / "scripts" / "ensure_browser.sh")], capture_output=True,
                         text=True, timeout=1200)
    if res.returncode != 0:
        skip_or_fail("Chromium is not available: " + (res.stderr.strip()[-600:] or "ensure_browser.sh failed"))
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    except Exception:
        pw.stop()
        raise
    return pw, browser


@pytest.fixture(scope="module")
def browser():
    pw, browser = launch_browser()
    yield browser
    browser.close()
    pw.stop()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def live(tmp_path, clock):
    tracker = make_tracker(f"sqlite:///{tmp_path}/rasa.db")
    settings = make_settings(tmp_path, poll_interval=0.5, clock=clock, escalation_check_interval=0.2)
    server = LiveServer()
    fake = FakeRasa(tracker, settings.rasa_api_token)
    settings.rasa_url = server.start(lambda: fake.app)
    url = server.start(lambda: create_app(settings))
    app = server.last_app
    server.call(app[DB].run(auth.create_worker, app[DB].engine, "wendy", PASSWORD, "worker"))
    server.url, server.tracker, server.fake = url, tracker, fake
    yield server
    server.stop()
    tracker.dispose()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def log_in(page, url: str) -> None:
    page.goto(url + "/login")
    page.fill("input[name=username]", "wendy")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_url(url + "/")


def test_crisis_live_take_over_send_hand_back(browser, live):
    from playwright.sync_api import expect

    add_events(live.tracker, "tg-calm", user_event("hello", "greet"), slot_event("risk_level", "low"))
    page = browser.new_page()
    console_errors: list = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    log_in(page, live.url)
    expect(page.locator("#live-status")).to_have_text("Live updates: on")
    expect(page.locator("table.queue tbody tr").first).to_have_attribute("data-sender", "tg-calm")

    started = time.monotonic()
    add_events(live.tracker, "tg-crisis",
               user_event("<script>alert(1)</script> I want to end it all", crisis="self_harm"))
    expect(page.locator("table.queue tbody tr").first).to_have_attribute("data-sender", "tg-crisis",
                                                                         timeout=2000)
    assert time.monotonic() - started < 2.0
    expect(page.locator("#crisis-alert")).to_be_visible()
    expect(page.locator("#crisis-alert")).to_contain_text("tg-crisis (self_harm)")
    shot(page, "1-queue-crisis")

    page.click("table.queue a[href='/c/tg-crisis']")
    expect(page.locator(".msg.user .text").first).to_have_text("<script>alert(1)</script> I want to end it all")
    page.click("#take-over")
    expect(page.locator(".notice")).to_have_text("You have the conversation: the bot is paused.")
    assert ("tracker_events", {"event": "pause"}) in live.fake.requests
    page.fill("#reply-text", "Hi, I am Wendy, a person from the outreach team. Are you safe right now?")
    page.click("#send")
    expect(page.locator(".notice")).to_have_text("Message sent.")
    sent = [body for kind, body in live.fake.requests if kind == "operator_send"]
    assert sent and sent[-1]["sender_id"] == "tg-crisis" and sent[-1]["text"].startswith("Hi, I am Wendy")
    expect(page.locator(".msg.worker .text")).to_contain_text("Are you safe right now?", timeout=3000)
    shot(page, "2-conversation-taken-over")
    page.click("#hand-back")
    expect(page.locator(".notice")).to_have_text("Handed back to the bot.")
    assert live.fake.requests[-1] == ("tracker_events", {"event": "resume"})
    shot(page, "3-handed-back")
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors
    page.close()


def test_suggestion_fills_the_box_and_sends_nothing(browser, live, tmp_path):
    from playwright.sync_api import expect

    cn = tmp_path / "content" / "counter_narratives"
    cn.mkdir(parents=True)
    (cn / "takfir.yml").write_text(
        "theme: takfir\nentries:\n  - id: takfir-en-empathy-01\n    language: en\n    kind: empathy\n"
        "    text: It sounds like you feel judged.\n    question: What happened?\n"
        "    review: {status: approved, by: t, date: 2026-11-28}\n")
    add_events(live.tracker, "tg-theme", user_event("they are all kafir", "narrative_takfir"),
               slot_event("language", "en"))
    page = browser.new_page()
    log_in(page, live.url)
    page.goto(live.url + "/c/tg-theme")
    page.click("#take-over")
    page.click(".use-suggestion")
    expect(page.locator("#reply-text")).to_have_value("It sounds like you feel judged. What happened?")
    assert not [r for r in live.fake.requests if r[0] == "operator_send"]
    page.fill("#reply-text", "It sounds like you feel judged by people around you. What happened?")
    page.click("#send")
    expect(page.locator(".notice")).to_have_text("Message sent.")
    sent = [body for kind, body in live.fake.requests if kind == "operator_send"]
    assert sent[-1]["text"] == "It sounds like you feel judged by people around you. What happened?"
    page.close()


def test_try_the_bot_page(browser, live):
    from playwright.sync_api import expect

    page = browser.new_page()
    log_in(page, live.url)
    page.goto(live.url + "/try")
    page.fill("#try-input", "hello <b>bot</b>")
    page.press("#try-input", "Enter")
    expect(page.locator("#try-log .msg.bot .text").first).to_have_text("Hello! I am a bot.")
    expect(page.locator("#try-log .msg.user .text").first).to_have_text("hello <b>bot</b>")
    page.click("#try-log .msg.bot button:text('Help')")
    expect(page.locator("#try-log .msg.bot")).to_have_count(2)
    rest = [body for kind, body in live.fake.requests if kind == "rest"]
    assert [b["message"] for b in rest] == ["hello <b>bot</b>", "/help"]
    shot(page, "4-try-the-bot")
    page.close()


def test_overdue_escalation_is_announced_and_handed_back(browser, live, clock):
    from playwright.sync_api import expect

    now = clock.now
    add_events(live.tracker, "tg-calm", user_event("hello", "greet", ts=now), slot_event("risk_level", "high", ts=now))
    add_events(live.tracker, "tg-waiting", user_event("can I talk to a person?", "request_human", ts=now),
               slot_event("human_requested", True, ts=now), simple_event("pause", ts=now))
    page = browser.new_page()
    console_errors: list = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    log_in(page, live.url)
    expect(page.locator("#live-status")).to_have_text("Live updates: on")
    row = page.locator("tr[data-sender='tg-waiting']")
    expect(row).to_contain_text("needs a person")
    expect(page.locator("#overdue-alert")).to_be_hidden()

    clock.advance(16 * 60)  # nobody claimed it for 16 minutes
    expect(page.locator("#overdue-alert")).to_be_visible(timeout=3000)
    expect(page.locator("#overdue-alert")).to_contain_text("tg-waiting (16 min)")
    expect(row).to_have_class(re.compile(r"\bunclaimed overdue\b"), timeout=3000)
    expect(row).to_contain_text("bot")  # handed back: the person gets answers again
    assert ("tracker_events", {"event": "resume"}) in live.fake.requests
    expect(page.locator("table.queue tbody tr").first).to_have_attribute("data-sender", "tg-waiting")
    shot(page, "5-overdue-handed-back")
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors
    page.close()
