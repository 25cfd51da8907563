"""Signing in and out (browser sessions with CSRF protection), the caller's account, API tokens."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status
from sqlalchemy.orm import Session

from app.api.access import CSRF_COOKIE, SESSION_COOKIE, AccessDep
from app.api.deps import SessionDep, SettingsDep, SignInLimiterDep
from app.core.config import Settings
from app.models.access import ProjectRole
from app.models.user import User
from app.schemas.access import (
    MembershipRead,
    MeRead,
    SignedInRead,
    SignInRequest,
    SignUpRequest,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserRead,
)
from app.services import auth as auth_service
from app.services import members as members_service
from app.services import users as users_service

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _me(session: Session, user: User, csrf_token: str | None) -> MeRead:
    roles = members_service.roles_of(session, user.id)
    return MeRead(
        user=UserRead.model_validate(user),
        memberships=[MembershipRead(project_id=p, role=ProjectRole(r)) for p, r in roles.items()],
        csrf_token=csrf_token,
    )


def _set_cookies(response: Response, settings: Settings, signed_in: auth_service.SignedIn) -> None:
    max_age = int(settings.security.session_hours * 3600)
    secure = settings.security.cookie_secure
    # Lax: sent on top-level navigation to MineLabel, never on other sites' requests (with the CSRF header
    # check, that stops cross-site changes).
    response.set_cookie(
        SESSION_COOKIE, signed_in.session_token, max_age=max_age, secure=secure, httponly=True, samesite="lax"
    )
    response.set_cookie(
        CSRF_COOKIE, signed_in.csrf_token, max_age=max_age, secure=secure, httponly=False, samesite="lax"
    )


@router.post(
    "/sign-in",
    response_model=SignedInRead,
    summary="Sign in with email and password (sets the session cookie)",
    responses={401: {"description": "Wrong email or password."}, 429: {"description": "Too many failures."}},
)
def sign_in(
    body: SignInRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    limiter: SignInLimiterDep,
) -> SignedInRead:
    client_ip = request.client.host if request.client else "unknown"
    signed_in = auth_service.sign_in(
        session, limiter, settings.security, email=body.email, password=body.password, client_ip=client_ip
    )
    _set_cookies(response, settings, signed_in)
    me = _me(session, signed_in.user, signed_in.csrf_token)
    return SignedInRead(**me.model_dump(), expires_at=signed_in.expires_at)


@router.post(
    "/sign-up",
    response_model=SignedInRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create an account (only when the server allows sign-up; off by default)",
)
def sign_up(
    body: SignUpRequest, response: Response, session: SessionDep, settings: SettingsDep
) -> SignedInRead:
    auth_service.check_signup_allowed(settings.security)
    user = users_service.create_user(session, email=body.email, password=body.password)
    signed_in = auth_service.open_session(session, user, settings.security)
    _set_cookies(response, settings, signed_in)
    me = _me(session, user, signed_in.csrf_token)
    return SignedInRead(**me.model_dump(), expires_at=signed_in.expires_at)


@router.post(
    "/sign-out", status_code=status.HTTP_204_NO_CONTENT, summary="Sign out (ends this browser session)"
)
def sign_out(request: Request, response: Response, session: SessionDep, access: AccessDep) -> None:
    if (token := request.cookies.get(SESSION_COOKIE)) is not None:
        auth_service.sign_out(session, token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


@router.get("/me", response_model=MeRead, summary="Who you are, and your projects and roles")
def read_me(session: SessionDep, access: AccessDep) -> MeRead:
    assert access.user is not None
    csrf = access.auth_session.csrf_token if access.auth_session else None
    return _me(session, access.user, csrf)


@router.get("/tokens", response_model=list[TokenRead], summary="Your API tokens")
def list_tokens(session: SessionDep, access: AccessDep) -> list[TokenRead]:
    assert access.user is not None
    return [TokenRead.model_validate(t) for t in auth_service.list_api_tokens(session, access.user)]


@router.post(
    "/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED, summary="Create an API token"
)
def create_token(body: TokenCreate, session: SessionDep, access: AccessDep) -> TokenCreated:
    """The key is in this answer only; store it now."""
    assert access.user is not None
    token, key = auth_service.create_api_token(session, access.user, body.name)
    return TokenCreated(**TokenRead.model_validate(token).model_dump(), key=key)


@router.delete("/tokens/{token_id}", response_model=TokenRead, summary="Revoke an API token")
def revoke_token(token_id: uuid.UUID, session: SessionDep, access: AccessDep) -> TokenRead:
    assert access.user is not None
    return TokenRead.model_validate(auth_service.revoke_api_token(session, access.user, token_id))
