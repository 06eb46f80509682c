"""Client address behind reverse proxies (DASHBOARD_TRUSTED_PROXIES): X-Forwarded-For is read only
when the direct peer is a trusted proxy, and then only up to the right-most untrusted address.
Login throttling and the audit log use that address."""
from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from dashboard import auth
from dashboard.app import create_app
from dashboard.config import parse_networks
from dashboard.keys import DB, SETTINGS
from dashboard.testing import make_settings, make_tracker
from tests.test_dashboard_app import LOGIN_CSRF_RE, PASSWORD, audit_actions


def address(peer: str, *xff: str, trusted: str = "10.0.0.0/8, 192.0.2.1, 2001:db8::/32") -> str:
    app = web.Application()
    app[SETTINGS] = make_settings(Path("/nonexistent"), trusted_proxies=parse_networks(trusted))
    headers = [("X-Forwarded-For", value) for value in xff]
    request = make_mocked_request("POST", "/login", headers=CIMultiDict(headers), app=app).clone(remote=peer)
    return auth.client_address(request)


@pytest.mark.parametrize("peer,xff,expected", [
    # the peer is not a trusted proxy: the header is the client's own words
    ("203.0.113.9", ("198.51.100.1",), "203.0.113.9"),
    ("203.0.113.9", ("10.0.0.1",), "203.0.113.9"),
    # trusted proxy: the right-most address that is not a trusted proxy
    ("10.0.0.5", ("198.51.100.1",), "198.51.100.1"),
    ("10.0.0.5", ("6.6.6.6, 198.51.100.1, 10.1.2.3",), "198.51.100.1"),
    ("192.0.2.1", ("6.6.6.6, 198.51.100.1, 10.1.2.3",), "198.51.100.1"),
    # several header lines are one list, in order
    ("10.0.0.5", ("6.6.6.6", "198.51.100.1, 10.9.9.9"), "198.51.100.1"),
    # no header, or every hop a trusted proxy: the left-most trusted address
    ("10.0.0.5", (), "10.0.0.5"),
    ("10.0.0.5", ("10.2.2.2, 10.3.3.3",), "10.2.2.2"),
    # a hop that is not an address stops the walk at the last trusted one (never beyond)
    ("10.0.0.5", ("198.51.100.1, unknown",), "10.0.0.5"),
    ("10.0.0.5", ("198.51.100.1, _hidden, 10.4.4.4",), "10.4.4.4"),
    ("10.0.0.5", ("198.51.100.1, , 10.4.4.4",), "198.51.100.1"),
    # ports, IPv6, brackets, IPv4-mapped peers
    ("10.0.0.5", ("198.51.100.1:4711",), "198.51.100.1"),
    ("10.0.0.5", ("[2001:db9::5]:443",), "2001:db9::5"),
    ("2001:db8::1", ("2001:db9::5",), "2001:db9::5"),
    ("::ffff:10.0.0.5", ("198.51.100.1",), "198.51.100.1"),
    ("2001:db9::1", ("198.51.100.1",), "2001:db9::1"),
])
def test_client_address(peer, xff, expected):
    assert address(peer, *xff) == expected


def test_nobody_is_trusted_by_default():
    assert address("10.0.0.5", "198.51.100.1", trusted="") == "10.0.0.5"
    assert address("127.0.0.1", "198.51.100.1", trusted="") == "127.0.0.1"


async def start(aiohttp_client, tmp_path, **overrides):
    make_tracker(f"sqlite:///{tmp_path}/rasa.db")
    app = create_app(make_settings(tmp_path, throttle_per_ip=3, throttle_per_user=100, **overrides))
    client = await aiohttp_client(app)  # connects from 127.0.0.1
    await app[DB].run(auth.create_worker, app[DB].engine, "wendy", PASSWORD, "worker")
    return client


async def login_from(client, xff, username="wendy", password="not the password at all"):
    token = LOGIN_CSRF_RE.search(await (await client.get("/login")).text()).group(1)
    headers = {"X-Forwarded-For": xff} if xff else {}
    resp = await client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                             headers=headers, allow_redirects=False)
    return resp.status


async def test_forwarded_for_is_ignored_unless_the_peer_is_trusted(aiohttp_client, tmp_path):
    client = await start(aiohttp_client, tmp_path)
    for i in range(3):  # an attacker cannot spread failures over made-up addresses
        assert await login_from(client, f"198.51.100.{i}", username=f"user{i}") == 401
    assert await login_from(client, "198.51.100.77", username="wendy", password=PASSWORD) == 429
    details = {a[3] for a in audit_actions(client) if a[0].startswith("login")}
    assert details == {"client=127.0.0.1"}


async def test_behind_a_trusted_proxy_each_client_is_throttled_on_its_own(aiohttp_client, tmp_path):
    client = await start(aiohttp_client, tmp_path, trusted_proxies=parse_networks("127.0.0.1, 10.0.0.0/8"))
    for i in range(3):  # what the client writes on the left changes nothing
        assert await login_from(client, f"6.6.6.{i}, 203.0.113.5, 10.0.0.7", username=f"user{i}") == 401
    assert await login_from(client, "9.9.9.9, 203.0.113.5, 10.0.0.7", username="other") == 429
    # another person behind the same proxy is not locked out ...
    assert await login_from(client, "203.0.113.6", username="wendy", password=PASSWORD) == 302
    # ... and a request without the header counts as the proxy itself
    assert await login_from(client, None, username="user9") == 401
    rows = [(a[0], a[1], a[3]) for a in audit_actions(client) if a[0].startswith("login")]
    assert rows[:4] == [("login_failed", "user0", "client=203.0.113.5"), ("login_failed", "user1", "client=203.0.113.5"),
                        ("login_failed", "user2", "client=203.0.113.5"), ("login_throttled", "other", "client=203.0.113.5")]
    assert ("login", "wendy", "client=203.0.113.6") in rows
    assert rows[-1] == ("login_failed", "user9", "client=127.0.0.1")
