"""End to end in a real browser (issue 5): fake Telegram Bot API -> connector -> real Rasa and
action servers -> tracker store -> dashboard (real app) -> headless Chromium.

A worker logs in; a crisis message sent through the fake Bot API appears at the top of the queue
live; the worker takes over, sends a reply that the fake Bot API receives, sees a message that
arrived while paused highlighted, hands back, and the bot answers again. Screenshots are kept in
test-artifacts/. Needs a trained model in models/ (skipped otherwise; this test never trains).
"""
from __future__ import annotations

import time

import pytest

from connectors.pseudonym import pseudonymise
from dashboard import auth
from dashboard.app import create_app
from dashboard.config import Settings
from dashboard.keys import DB
from dashboard.testing import LiveServer
from tests.conftest import skip_or_fail
from tests.fake_telegram import FakeTelegram, free_port
from tests.stack import RasaStack, StackError, latest_model
from tests.test_dashboard_browser import PASSWORD, launch_browser, log_in, shot

TOKEN = "515151:E2E-dashboard-token"
KEY = "e2e-dashboard-pseudonym-key"
CHAT = 7001
OTHER_CHAT = 7002


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    try:
        latest_model()
    except StackError as exc:
        skip_or_fail(str(exc))
    pw, browser = launch_browser()
    loop = LiveServer()
    fake = FakeTelegram(token=TOKEN)
    loop.call(fake.start())
    dash_port = free_port()
    workdir = tmp_path_factory.mktemp("e2e-dashboard")
    stack = RasaStack(env={"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake.base_url,
                           "TELEGRAM_POLL_TIMEOUT": "2", "PSEUDONYM_KEY": KEY,
                           "DASHBOARD_URL": f"http://127.0.0.1:{dash_port}"}, workdir=workdir)
    env = dict(stack.env)
    env.update({"RASA_URL": stack.rasa_url, "DASHBOARD_PORT": str(dash_port),
                "STATE_DIR": str(workdir / "dashboard-state")})
    settings = Settings.from_env(env)
    settings.poll_interval = 0.5
    url = loop.start(lambda: create_app(settings), port=dash_port)
    app = loop.last_app
    loop.call(app[DB].run(auth.create_worker, app[DB].engine, "wendy", PASSWORD, "worker"))
    try:
        stack.start()  # the fake Bot API answers the connector from the background loop meanwhile
    except BaseException:
        loop.call(fake.stop())
        loop.stop()
        browser.close()
        pw.stop()
        raise
    yield {"stack": stack, "fake": fake, "loop": loop, "url": url, "browser": browser}
    stack.stop()
    loop.call(fake.stop())
    loop.stop()
    browser.close()
    pw.stop()


def push(world, text: str, chat: int = CHAT) -> None:
    async def _push():
        world["fake"].push_message(chat, text, language_code="en")
    world["loop"].call(_push())


def messages(world) -> list:
    async def _get():
        return list(world["fake"].messages_to(CHAT))
    return world["loop"].call(_get())


def wait_messages(world, count: int, timeout: float = 60.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = messages(world)
        if len(got) >= count:
            return got
        time.sleep(0.2)
    raise AssertionError(f"{len(messages(world))} of {count} bot messages after {timeout}s:\n"
                         + world["stack"].tail_log("rasa"))


def settle(world, at_least: int, quiet: float = 2.0) -> list:
    wait_messages(world, at_least)
    while True:
        n = len(messages(world))
        time.sleep(quiet)
        if len(messages(world)) == n:
            return messages(world)


def test_crisis_take_over_reply_hand_back(world):
    from playwright.sync_api import expect

    sender = pseudonymise(CHAT, KEY.encode())
    page = world["browser"].new_page()
    log_in(page, world["url"])
    expect(page.locator("#live-status")).to_have_text("Live updates: on")

    before = len(settle(world, 0, quiet=0.5))
    push(world, "hello")
    greeted = settle(world, before + 1)
    expect(page.locator(f"table.queue tr[data-sender='{sender}']")).to_be_visible(timeout=10_000)
    # another person writes later, so that conversation is the most recent one
    other = pseudonymise(OTHER_CHAT, KEY.encode())
    push(world, "hi there", chat=OTHER_CHAT)
    expect(page.locator("table.queue tbody tr").first).to_have_attribute("data-sender", other,
                                                                         timeout=20_000)

    # A crisis message arrives: it is answered at once and is on top of the queue, live.
    started = time.monotonic()
    push(world, "I want to kill myself tonight")
    expect(page.locator("table.queue tbody tr").first.locator(".badge.crisis")).to_be_visible(timeout=20_000)
    reached = time.monotonic() - started
    expect(page.locator("table.queue tbody tr").first).to_have_attribute("data-sender", sender)
    expect(page.locator("#crisis-alert")).to_contain_text(sender)
    crisis_replies = settle(world, len(greeted) + 1)[len(greeted):]
    assert crisis_replies, "the bot gave no crisis reply"
    shot(page, "e2e-1-crisis-on-top")
    print(f"crisis message to top of the queue, through Telegram polling and Rasa: {reached:.1f}s")

    page.click(f"table.queue a[href='/c/{sender}']")
    expect(page.locator(".msg.user.crisis").first).to_contain_text("I want to kill myself tonight")
    page.click("#take-over")
    expect(page.locator(".notice")).to_have_text("You have the conversation: the bot is paused.")
    expect(page.locator("#conv-status")).to_have_text("human")

    count = len(messages(world))
    page.fill("#reply-text", "Hi, I am Wendy from the outreach team, a real person. Are you safe right now?")
    page.click("#send")
    expect(page.locator(".notice")).to_have_text("Message sent.")
    got = wait_messages(world, count + 1, timeout=20)
    assert got[count]["text"] == "Hi, I am Wendy from the outreach team, a real person. Are you safe right now?"
    expect(page.locator(".msg.worker .text").last).to_contain_text("Are you safe right now?")

    # While paused the bot stays silent; the worker sees the message highlighted, live.
    count = len(messages(world))
    push(world, "yes I am at home")
    expect(page.locator(".msg.user.while-paused .text").last).to_have_text("yes I am at home",
                                                                          timeout=20_000)
    time.sleep(3)
    assert len(messages(world)) == count, "the bot answered while a person had the conversation"
    shot(page, "e2e-2-taken-over")

    page.click("#hand-back")
    expect(page.locator(".notice")).to_have_text("Handed back to the bot.")
    expect(page.locator("#conv-status")).to_have_text("bot")
    push(world, "hello again")
    answered = settle(world, count + 1)
    assert len(answered) > count, "the bot did not answer after the hand-back"
    expect(page.locator(".msg.bot").last).to_be_visible()
    page.reload()
    shot(page, "e2e-3-handed-back")
    page.close()
