"""Signing in and out, CSRF, API tokens, sign-up and accounts, over the real app, PostGIS and Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx2 as httpx
import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.api.access import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from app.core.config import Settings
from app.main import create_app
from app.models import ProjectRole, User
from tests.world import PASSWORD, add_member, make_project, make_user

ClientFor = Callable[[User | None], TestClient]
WRONG = "Wrong email or password (or the account is deactivated)."


@pytest.fixture(autouse=True)
def fresh_sign_in_counts(settings: Settings) -> Iterator[None]:
    """The limiter's counts live in Redis, outside the rolled-back transaction; the per-address count of
    the test client ("testclient") is shared by every test, so each test starts from zero."""
    client = redis.Redis.from_url(settings.redis.url)

    def clear() -> None:
        keys = list(client.scan_iter(match="minelabel:sign-in-failures:*"))
        if keys:
            client.delete(*keys)

    clear()
    yield
    clear()
    client.close()


@dataclass(frozen=True)
class Cookie:
    value: str
    attributes: frozenset[str]  # lower-cased, e.g. "httponly", "samesite=lax", "path=/"


def set_cookies(response: httpx.Response) -> dict[str, Cookie]:
    """The cookies of the raw Set-Cookie headers, by name."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        name_value, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = name_value.partition("=")
        found[name] = Cookie(value, frozenset(a.lower() for a in attributes if a))
    return found


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/api/auth/sign-in", json={"email": email, "password": password})


def signed_in(client_for: ClientFor, user: User) -> tuple[TestClient, str]:
    """A browser-like client with a session cookie, and its CSRF token."""
    browser = client_for(None)
    response = sign_in(browser, user.email)
    assert response.status_code == 200, response.text
    return browser, response.json()["csrf_token"]


def test_sign_in_sets_an_http_only_session_cookie_and_a_readable_csrf_cookie(
    client_for: ClientFor, db_session: Session
) -> None:
    user = make_user(db_session, "signin")
    project = make_project(db_session, "mine")
    add_member(db_session, project, user, ProjectRole.REVIEWER)
    browser = client_for(None)

    response = sign_in(browser, user.email)

    assert response.status_code == 200, response.text
    cookies = set_cookies(response)
    session, csrf = cookies[SESSION_COOKIE], cookies[CSRF_COOKIE]
    assert {"httponly", "samesite=lax", "path=/"} <= session.attributes
    assert "httponly" not in csrf.attributes and {"samesite=lax", "path=/"} <= csrf.attributes
    assert len(session.value) >= 32 and session.value != csrf.value
    body = response.json()
    assert body["csrf_token"] == csrf.value
    assert session.value not in response.text  # the session token travels in the cookie only
    assert body["user"]["id"] == str(user.id) and body["user"]["email"] == user.email
    assert body["memberships"] == [{"project_id": str(project.id), "role": "reviewer"}]
    assert body["expires_at"]

    me = browser.get("/api/auth/me")  # the cookie alone signs the browser in
    assert me.status_code == 200, me.text
    assert me.json()["user"]["id"] == str(user.id)
    assert me.json()["csrf_token"] == csrf.value
    assert client_for(None).get("/api/auth/me").status_code == 401  # and without it, nobody


def test_wrong_password_and_unknown_email_get_the_same_401(
    client_for: ClientFor, db_session: Session
) -> None:
    user = make_user(db_session, "wrongpw")
    browser = client_for(None)

    wrong_password = sign_in(browser, user.email, "not the password")
    unknown_email = sign_in(browser, f"nobody-{uuid.uuid4().hex[:6]}@test.local")

    for response in (wrong_password, unknown_email):
        assert response.status_code == 401, response.text
        assert response.json() == {"detail": WRONG, "code": "not_authenticated"}
        assert SESSION_COOKIE not in set_cookies(response)
    assert browser.get("/api/auth/me").status_code == 401


def test_a_deactivated_user_cannot_sign_in_and_their_token_and_session_stop_working(
    client: TestClient, client_for: ClientFor, db_session: Session
) -> None:
    user = make_user(db_session, "leaver")
    with_token = client_for(user)
    browser, _ = signed_in(client_for, user)
    assert with_token.get("/api/auth/me").status_code == 200
    assert browser.get("/api/auth/me").status_code == 200

    patched = client.patch(f"/api/users/{user.id}", json={"is_active": False})

    assert patched.status_code == 200, patched.text
    assert patched.json()["is_active"] is False
    refused = sign_in(client_for(None), user.email)
    assert refused.status_code == 401 and refused.json()["detail"] == WRONG
    assert with_token.get("/api/auth/me").status_code == 401
    assert browser.get("/api/auth/me").status_code == 401

    assert client.patch(f"/api/users/{user.id}", json={"is_active": True}).status_code == 200
    assert with_token.get("/api/auth/me").status_code == 200  # reactivated: the same token works again


def test_sign_in_is_rate_limited_per_email(client_for: ClientFor, db_session: Session) -> None:
    user, other = make_user(db_session, "guessed"), make_user(db_session, "bystander")
    browser = client_for(None)
    for attempt in range(5):
        failed = sign_in(browser, user.email, f"guess {attempt}")
        assert failed.status_code == 401, f"attempt {attempt}: {failed.text}"

    blocked = sign_in(browser, user.email)  # the right password, too late

    assert blocked.status_code == 429, blocked.text
    body = blocked.json()
    assert body["code"] == "too_many_requests"
    assert isinstance(body["retry_after_s"], int) and 1 <= body["retry_after_s"] <= 15 * 60
    assert f"try again in {body['retry_after_s']} seconds" in body["detail"]
    assert "ask an admin" in body["detail"]
    assert SESSION_COOKIE not in set_cookies(blocked)
    # The same email in other capitals is the same account, and is blocked too.
    assert sign_in(browser, user.email.upper()).status_code == 429
    # Another email from the same address is not affected.
    assert sign_in(browser, other.email).status_code == 200


def test_a_successful_sign_in_clears_the_email_count(client_for: ClientFor, db_session: Session) -> None:
    user = make_user(db_session, "typo")
    browser = client_for(None)
    for _ in range(4):
        assert sign_in(browser, user.email, "typo").status_code == 401
    assert sign_in(browser, user.email).status_code == 200
    for _ in range(4):  # four more failures: the count started again from zero
        assert sign_in(browser, user.email, "typo").status_code == 401
    assert sign_in(browser, user.email).status_code == 200


def test_changes_with_a_session_cookie_need_the_csrf_header(
    client_for: ClientFor, db_session: Session
) -> None:
    user = make_user(db_session, "csrf")
    browser, csrf = signed_in(client_for, user)

    missing = browser.post("/api/auth/tokens", json={"name": "x"})
    wrong = browser.post("/api/auth/tokens", json={"name": "x"}, headers={CSRF_HEADER: "not-the-token"})
    right = browser.post("/api/auth/tokens", json={"name": "x"}, headers={CSRF_HEADER: csrf})

    for refused in (missing, wrong):
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "csrf_failed"
        assert CSRF_HEADER in refused.json()["detail"]
    assert right.status_code == 201, right.text
    listed = browser.get("/api/auth/tokens")  # reading needs no header
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json()] == ["x"]  # only the accepted request made a token


def test_token_authenticated_changes_need_no_csrf_header(client_for: ClientFor, db_session: Session) -> None:
    user = make_user(db_session, "script")
    created = client_for(user).post("/api/auth/tokens", json={"name": "training script"})
    assert created.status_code == 201, created.text


def test_sign_out_ends_the_session(client_for: ClientFor, db_session: Session) -> None:
    user = make_user(db_session, "leaving")
    browser, csrf = signed_in(client_for, user)
    old_cookie = browser.cookies[SESSION_COOKIE]
    replay = client_for(None)
    replay.cookies.set(SESSION_COOKIE, old_cookie)
    assert replay.get("/api/auth/me").status_code == 200  # the cookie value alone signs in, before

    assert browser.post("/api/auth/sign-out").status_code == 403  # signing out is a change: CSRF applies
    signed_out = browser.post("/api/auth/sign-out", headers={CSRF_HEADER: csrf})

    assert signed_out.status_code == 204, signed_out.text
    assert browser.get("/api/auth/me").status_code == 401
    assert replay.get("/api/auth/me").status_code == 401  # the old value is dead on the server, too


def test_api_tokens_are_shown_once_listed_without_key_and_revocable(
    client_for: ClientFor, db_session: Session
) -> None:
    user = make_user(db_session, "tokens")
    owner = client_for(user)

    created = owner.post("/api/auth/tokens", json={"name": "  nightly export  "})

    assert created.status_code == 201, created.text
    token = created.json()
    key = token["key"]
    assert key.startswith("ml_") and len(key) > 30
    assert token["prefix"] == key[:10] and token["name"] == "nightly export"
    assert token["revoked_at"] is None
    listed = {t["id"]: t for t in owner.get("/api/auth/tokens").json()}
    assert listed[token["id"]]["prefix"] == key[:10]
    assert "key" not in listed[token["id"]]
    assert key not in owner.get("/api/auth/tokens").text

    script = client_for(None)
    script.headers["Authorization"] = f"Token {key}"
    me = script.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["user"]["id"] == str(user.id)
    assert me.json()["csrf_token"] is None

    revoked = owner.delete(f"/api/auth/tokens/{token['id']}")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    after = script.get("/api/auth/me")
    assert after.status_code == 401 and after.json()["code"] == "not_authenticated"
    assert "revoked" in after.json()["detail"]


def test_a_malformed_authorization_header_is_401_naming_the_token_scheme(client_for: ClientFor) -> None:
    for header in ("Bearer x", "Token", "Token   "):
        anonymous = client_for(None)
        anonymous.headers["Authorization"] = header
        response = anonymous.get("/api/auth/me")
        assert response.status_code == 401, header
        assert "'Authorization: Token <key>'" in response.json()["detail"], header


def test_another_users_token_cannot_be_revoked(client_for: ClientFor, db_session: Session) -> None:
    alice, mallory = make_user(db_session, "alice"), make_user(db_session, "mallory")
    token = client_for(alice).post("/api/auth/tokens", json={"name": "alice's"}).json()

    response = client_for(mallory).delete(f"/api/auth/tokens/{token['id']}")

    assert response.status_code == 404, response.text
    assert response.json()["code"] == "api_token_not_found"
    alice_script = client_for(None)
    alice_script.headers["Authorization"] = f"Token {token['key']}"
    assert alice_script.get("/api/auth/me").status_code == 200  # still alive


def test_sign_up_is_off_by_default(client_for: ClientFor) -> None:
    email = f"newcomer-{uuid.uuid4().hex[:6]}@test.local"

    response = client_for(None).post("/api/auth/sign-up", json={"email": email, "password": PASSWORD})

    assert response.status_code == 403, response.text
    assert response.json()["code"] == "forbidden"
    assert "ask an admin" in response.json()["detail"]
    assert sign_in(client_for(None), email).status_code == 401  # no account was made


def test_sign_up_when_allowed_makes_a_signed_in_account(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    changed = settings.model_copy(
        update={"security": settings.security.model_copy(update={"allow_signup": True})}
    )
    signup_app: FastAPI = create_app(changed, session_factory=session_factory)
    email = f"newcomer-{uuid.uuid4().hex[:6]}@test.local"
    with TestClient(signup_app) as browser:
        response = browser.post("/api/auth/sign-up", json={"email": email, "password": PASSWORD})

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["user"]["email"] == email
        assert body["user"]["is_admin"] is False and body["memberships"] == []
        assert {"httponly", "samesite=lax"} <= set_cookies(response)[SESSION_COOKIE].attributes
        me = browser.get("/api/auth/me")
        assert me.status_code == 200 and me.json()["user"]["email"] == email
        again = browser.post("/api/auth/sign-up", json={"email": email, "password": PASSWORD})
        assert again.status_code == 409
        short = browser.post("/api/auth/sign-up", json={"email": f"x{email}", "password": "short"})
        assert short.status_code == 422


def test_site_admins_create_users(client: TestClient, client_for: ClientFor, db_session: Session) -> None:
    email = f"hired-{uuid.uuid4().hex[:6]}@test.local"

    created = client.post("/api/users", json={"email": email, "password": PASSWORD})

    assert created.status_code == 201, created.text
    assert created.json()["email"] == email
    assert created.json()["is_admin"] is False and created.json()["is_active"] is True
    assert sign_in(client_for(None), email).status_code == 200
    duplicate = client.post("/api/users", json={"email": email, "password": PASSWORD})
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "conflict"
    short = client.post("/api/users", json={"email": f"other-{email}", "password": "short"})
    assert short.status_code == 422
    assert "at least 10 characters" in short.json()["detail"]


def test_non_admins_cannot_create_users(client_for: ClientFor, db_session: Session) -> None:
    user = make_user(db_session, "member")
    email = f"sneaky-{uuid.uuid4().hex[:6]}@test.local"

    response = client_for(user).post("/api/users", json={"email": email, "password": PASSWORD})

    assert response.status_code == 403, response.text
    assert response.json()["code"] == "forbidden"
    assert sign_in(client_for(None), email).status_code == 401


def test_projects_list_only_the_users_own(
    client: TestClient, client_for: ClientFor, db_session: Session
) -> None:
    user = make_user(db_session, "member")
    mine, theirs = make_project(db_session, "mine"), make_project(db_session, "theirs")
    add_member(db_session, mine, user, ProjectRole.ANNOTATOR)

    listed = client_for(user).get("/api/projects")

    assert listed.status_code == 200, listed.text
    assert [(p["id"], p["my_role"]) for p in listed.json()] == [(str(mine.id), "annotator")]
    everything = {p["id"] for p in client.get("/api/projects").json()}  # site admins see every project
    assert {str(mine.id), str(theirs.id)} <= everything
