"""Signing in and out, browser sessions and personal API tokens.

Session cookies and API keys are random tokens; the database keeps only their SHA-256, so a leaked
database dump signs nobody in.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.core.config import SecuritySettings
from app.core.errors import ForbiddenError, InvalidInputError, NotAuthenticatedError, NotFoundError
from app.core.security import verify_password
from app.models.access import ApiToken, AuthSession
from app.models.user import User
from app.repositories import users as users_repo
from app.services.rate_limit import SignInLimiter

TOKEN_PREFIX = "ml_"  # noqa: S105 (a marker that makes leaked keys easy to find, not a secret)
# A last_used_at older than this is refreshed; newer ones are left alone, sparing a write per request.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SignedIn:
    user: User
    session_token: str  # goes into the HttpOnly cookie, never into a response body
    csrf_token: str
    expires_at: datetime


def sign_in(
    session: Session,
    limiter: SignInLimiter,
    security: SecuritySettings,
    *,
    email: str,
    password: str,
    client_ip: str,
) -> SignedIn:
    """Check the password (rate-limited per email and client address) and open a browser session."""
    limiter.check(email, client_ip)
    user = users_repo.get_user_by_email(session, email.strip())
    if user is None or not user.is_active or not verify_password(user.password_hash, password):
        limiter.record_failure(email, client_ip)
        # One message for every case, so that the answer does not tell which emails have accounts.
        raise NotAuthenticatedError("Wrong email or password (or the account is deactivated).")
    limiter.clear(email, client_ip)
    return open_session(session, user, security)


def open_session(session: Session, user: User, security: SecuritySettings) -> SignedIn:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires_at = _now() + timedelta(hours=security.session_hours)
    session.add(
        AuthSession(token_hash=token_hash(token), csrf_token=csrf, user_id=user.id, expires_at=expires_at)
    )
    # Expired sessions of this user are dropped here, so the table does not grow without bound.
    session.execute(
        delete(AuthSession).where(AuthSession.user_id == user.id, AuthSession.expires_at < _now())
    )
    session.commit()
    return SignedIn(user=user, session_token=token, csrf_token=csrf, expires_at=expires_at)


def session_user(session: Session, token: str) -> tuple[User, AuthSession] | None:
    """The active user of a live session, or None."""
    row = session.execute(
        select(User, AuthSession)
        .join(AuthSession, AuthSession.user_id == User.id)
        .where(AuthSession.token_hash == token_hash(token), AuthSession.expires_at > _now(), User.is_active)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def sign_out(session: Session, token: str) -> None:
    session.execute(delete(AuthSession).where(AuthSession.token_hash == token_hash(token)))
    session.commit()


def token_user(session: Session, key: str) -> User | None:
    """The active user of an unrevoked API token, or None."""
    row = session.execute(
        select(User, ApiToken)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == token_hash(key), ApiToken.revoked_at.is_(None), User.is_active)
    ).one_or_none()
    if row is None:
        return None
    user, token = row[0], row[1]
    if token.last_used_at is None or token.last_used_at < _now() - _LAST_USED_RESOLUTION:
        session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=_now()))
        session.commit()
    return user


def create_api_token(session: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token and its key; the key is shown once and cannot be read back later."""
    name = name.strip()
    if not name:
        raise InvalidInputError("Give the token a name that says what it is for (e.g. 'training script').")
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, prefix=key[:10], token_hash=token_hash(key))
    session.add(token)
    session.commit()
    return token, key


def list_api_tokens(session: Session, user: User) -> list[ApiToken]:
    return list(
        session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at))
    )


def revoke_api_token(session: Session, user: User, token_id: uuid.UUID) -> ApiToken:
    """Revoke one of the user's tokens (site admins may revoke anyone's, e.g. a leaked one)."""
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != user.id and not user.is_admin):
        raise NotFoundError(f"No API token with id {token_id}.")
    if token.revoked_at is None:
        token.revoked_at = _now()
        session.commit()
    return token


def check_signup_allowed(security: SecuritySettings) -> None:
    if not security.allow_signup:
        raise ForbiddenError(
            "Sign-up is turned off on this server: ask an admin to create your account "
            "(or set SECURITY__ALLOW_SIGNUP=true to let people sign up)."
        )
