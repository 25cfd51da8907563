"""Sign-in abuse: a forged X-Forwarded-For does not get past the per-address limit unless the proxy that
sent it is trusted (SECURITY__TRUSTED_PROXIES), and knowing an email does not lock its owner out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import SecuritySettings, Settings
from app.main import create_app
from tests.world import PASSWORD, make_user


@pytest.fixture(autouse=True)
def fresh_sign_in_counts(settings: Settings) -> Iterator[None]:
    client = redis.Redis.from_url(settings.redis.url)

    def clear() -> None:
        keys = list(client.scan_iter(match="minelabel:sign-in-failures:*"))
        if keys:
            client.delete(*keys)

    clear()
    yield
    clear()
    client.close()


def _app(settings: Settings, session_factory: sessionmaker[Session], trusted: list[str]) -> FastAPI:
    security = settings.security.model_copy(update={"trusted_proxies": trusted})
    return create_app(settings.model_copy(update={"security": security}), session_factory=session_factory)


def _fail(client: TestClient, email: str, forged: str | None = None) -> int:
    headers = {"X-Forwarded-For": forged} if forged else {}
    body = {"email": email, "password": "wrong guess"}
    return client.post("/api/auth/sign-in", json=body, headers=headers).status_code


def test_forged_forwarded_addresses_do_not_bypass_the_address_limit(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    with TestClient(_app(settings, session_factory, [])) as client:
        answers = [_fail(client, f"nobody{i}@test.local", forged=f"203.0.113.{i}") for i in range(25)]
    limit = SecuritySettings().sign_in_max_failures * 4
    assert answers[:limit] == [401] * limit
    assert set(answers[limit:]) == {429}


def test_a_trusted_proxy_s_forwarded_address_is_the_client(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    # The test client's own address is "testclient": trusted, its header names the real client.
    with TestClient(_app(settings, session_factory, ["testclient"])) as client:
        answers = [_fail(client, f"nobody{i}@test.local", forged=f"203.0.113.{i}") for i in range(25)]
    assert set(answers) == {401}


def test_failures_from_one_address_do_not_lock_the_owner_out(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session
) -> None:
    user = make_user(db_session, "victim")
    app = _app(settings, session_factory, ["testclient"])
    with TestClient(app) as client:
        for _ in range(SecuritySettings().sign_in_max_failures):
            assert _fail(client, user.email, forged="198.51.100.7") == 401
        # The attacker's address is blocked for this email ...
        assert _fail(client, user.email, forged="198.51.100.7") == 429
        # ... the owner, at an address that has not failed, signs in with the right password.
        owner = client.post(
            "/api/auth/sign-in",
            json={"email": user.email, "password": PASSWORD},
            headers={"X-Forwarded-For": "192.0.2.10"},
        )
        assert owner.status_code == 200, owner.text


def test_the_global_email_limit_stops_an_address_that_keeps_failing(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session
) -> None:
    user = make_user(db_session, "sprayed")
    app = _app(settings, session_factory, ["testclient"])
    per_pair = SecuritySettings().sign_in_max_failures
    with TestClient(app) as client:
        # Many addresses, each under its own limit, exhaust the slower per-email count ...
        for i in range(per_pair * 10):
            assert _fail(client, user.email, forged=f"198.51.100.{i % 50}") in (401, 429)
        # ... which then stops an address that has failed on this email, even under its own limit.
        assert _fail(client, user.email, forged="198.51.100.1") == 429
