"""Who is calling, and may they: authentication (session cookie or API token) and the permission check.

``get_access`` runs for every API route (an app-wide dependency) and applies the route's rule from
app.api.permissions; handlers that need the caller declare ``access: AccessDep`` and get the same,
already checked, object (FastAPI caches a dependency per request).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from app.api.permissions import RULES, Caller, Cond, Rule
from app.core.errors import ForbiddenError, InvalidInputError, NotAuthenticatedError, NotFoundError
from app.core.input_rules import excerpt
from app.models.access import AuthSession, ProjectRole
from app.models.user import User
from app.services import auth as auth_service

SESSION_COOKIE = "minelabel_session"
CSRF_COOKIE = "minelabel_csrf"  # readable by the page's script, which echoes it in CSRF_HEADER
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfError(ForbiddenError):
    code = "csrf_failed"


@dataclass(frozen=True)
class Target:
    """What the route's path points at, and the facts the rules ask about it."""

    kind: str
    id: uuid.UUID
    project_id: uuid.UUID | None
    observation_id: uuid.UUID | None
    owner_id: uuid.UUID | None  # who made it (annotation, comment, job, token)


@dataclass(frozen=True)
class Access:
    user: User | None
    auth_session: AuthSession | None
    target: Target | None
    role: ProjectRole | None  # the caller's role in the target's project (ADMIN for site admins)
    annotators_see_others: bool = False  # the target project's setting, read with the role

    @property
    def user_id(self) -> uuid.UUID:
        if self.user is None:  # routes that use this are never ANYONE routes
            raise NotAuthenticatedError(_SIGN_IN)
        return self.user.id

    @property
    def is_annotator(self) -> bool:
        return self.role == ProjectRole.ANNOTATOR


_SIGN_IN = (
    "Sign in first: the browser signs in at POST /api/auth/sign-in; scripts send "
    "'Authorization: Token <key>' (create a key at POST /api/auth/tokens)."
)

# Path parameter -> (kind, SQL giving project_id, observation_id, owner_id). The most specific wins.
_TARGETS: list[tuple[str, str, str]] = [
    ("region_id", "region", "SELECT r.project_id, r.observation_id, a.created_by FROM regions r "
                            "LEFT JOIN annotations a ON a.id = r.annotation_id WHERE r.id = :id"),
    ("annotation_id", "annotation",
     "SELECT project_id, observation_id, created_by FROM annotations WHERE id = :id"),
    ("prediction_id", "prediction",
     "SELECT project_id, observation_id, NULL FROM predictions WHERE id = :id"),
    ("comment_id", "comment",
     "SELECT project_id, observation_id, author_id FROM review_comments WHERE id = :id"),
    ("observation_id", "observation", "SELECT project_id, id, NULL FROM observations WHERE id = :id"),
    ("project_id", "project", "SELECT id, NULL, NULL FROM projects WHERE id = :id"),
    ("job_id", "job", "SELECT project_id, NULL, created_by FROM jobs WHERE id = :id"),
    ("model_version_id", "model version",
     "SELECT project_id, NULL, created_by FROM model_versions WHERE id = :id"),
    ("dataset_id", "dataset", "SELECT project_id, NULL, created_by FROM datasets WHERE id = :id"),
    ("token_id", "API token", "SELECT NULL, NULL, user_id FROM api_tokens WHERE id = :id"),
]  # fmt: skip
TARGET_PARAMS = frozenset(param for param, _, _ in _TARGETS)


def _not_found(kind: str, value: object) -> NotFoundError:
    """The same answer as the handler's for a missing resource, so that a denial reveals nothing."""
    error = NotFoundError(f"No {kind} with id {value}.")
    error.code = kind.lower().replace(" ", "_") + "_not_found"
    return error


def resolve_target(session: Session, path_params: dict[str, Any]) -> Target | None:
    for param, kind, sql in _TARGETS:
        if param not in path_params:
            continue
        # A str, or already a UUID where the route's path has the :uuid converter (/api/jobs/{job_id:uuid}).
        given = str(path_params[param])
        try:
            target_id = uuid.UUID(given)
        except ValueError as exc:
            raise InvalidInputError(f"{param} must be a UUID, not {excerpt(given)!r}.") from exc
        row = session.execute(text(sql), {"id": target_id}).one_or_none()
        if row is None:
            raise _not_found(kind, target_id)
        return Target(kind, target_id, row[0], row[1], row[2])
    return None


def authenticate(request: Request, session: Session) -> tuple[User | None, AuthSession | None]:
    header = request.headers.get("authorization")
    if header:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "token" or not key.strip():
            raise NotAuthenticatedError("Send API keys as 'Authorization: Token <key>'.")
        user = auth_service.token_user(session, key.strip())
        if user is None:
            raise NotAuthenticatedError("This API token is unknown or revoked; create a new one.")
        return user, None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = auth_service.session_user(session, cookie)
        if found is not None:
            return found
    return None, None


def _condition_holds(session: Session, cond: Cond, user: User, target: Target, shared: bool) -> bool:
    if cond == Cond.ANY:
        return True
    if cond == Cond.OWN:
        return target.owner_id == user.id
    if cond == Cond.SHARED:
        return shared or target.owner_id in (None, user.id)
    if target.observation_id is None:
        return False
    facts = session.execute(
        text(
            """SELECT o.task_state::text, s.state::text FROM observations o
               LEFT JOIN assignments s ON s.observation_id = o.id AND s.user_id = :user WHERE o.id = :task"""
        ),
        {"user": user.id, "task": target.observation_id},
    ).one()
    task_state, assignment_state = facts
    if cond == Cond.ASSIGNED:
        return assignment_state is not None
    if cond == Cond.DRAFTING:
        return assignment_state == "in_progress" and target.owner_id in (None, user.id)
    if cond == Cond.REVIEWING:
        return bool(task_state == "submitted")
    raise AssertionError(cond)


_WHY_NOT = {
    Cond.OWN: "it belongs to someone else",
    Cond.SHARED: "this work belongs to another annotator, and the project keeps annotators' work private",
    Cond.ASSIGNED: "the task is not assigned to you",
    Cond.DRAFTING: "annotators edit only their own annotation, while the task is assigned to them and in "
    "progress (submitted work waits for review)",
    Cond.REVIEWING: "reviewers edit regions only while the task waits for review (submitted)",
}


def authorize(
    session: Session, rule: Rule, route: APIRoute, user: User | None, target: Target | None
) -> Access:
    what = (route.summary or route.name).rstrip(".")
    if rule.caller == Caller.ANYONE:
        return Access(user, None, target, None)
    if user is None:
        raise NotAuthenticatedError(_SIGN_IN)
    if rule.caller == Caller.SIGNED_IN:
        return Access(user, None, target, None)
    if rule.caller == Caller.SIGNED_IN_OWNER:
        if target is not None and target.owner_id != user.id and not user.is_admin:
            raise _not_found(target.kind, target.id)  # other people's tokens and jobs are not shown
        return Access(user, None, target, None)
    if rule.caller == Caller.SITE_ADMIN:
        if not user.is_admin:
            raise ForbiddenError(f"Only site admins may do this: {what}.")
        return Access(user, None, target, ProjectRole.ADMIN)
    if target is None or target.project_id is None:
        if rule.without_project is not None:
            return authorize(session, rule.without_project, route, user, target)
        raise AssertionError(f"route {route.name} has a member rule but no project in its path")
    if user.is_admin:
        return Access(user, None, target, ProjectRole.ADMIN)
    row = session.execute(
        text(
            """SELECT m.role::text, p.annotators_see_others FROM projects p
               LEFT JOIN project_members m ON m.project_id = p.id AND m.user_id = :user
               WHERE p.id = :project"""
        ),
        {"user": user.id, "project": target.project_id},
    ).one()
    if row[0] is None:
        raise _not_found(target.kind, target.id)  # outsiders do not learn that it exists
    role = ProjectRole(row[0])
    cond = rule.condition_for(role)
    if cond is None:
        raise ForbiddenError(f"Your role in this project ({role.value}) does not allow this: {what}.")
    if not _condition_holds(session, cond, user, target, shared=bool(row[1])):
        raise ForbiddenError(f"Not allowed: {what}; {_WHY_NOT[cond]}.")
    return Access(user, None, target, role, annotators_see_others=bool(row[1]))


def sees_only_own(access: Access) -> bool:
    """Whether lists should hold only the caller's own annotations (annotators, unless the project shares)."""
    return access.is_annotator and not access.annotators_see_others


# Image reads a map makes by the dozen; their decisions are remembered for a short while (AccessCache).
CACHED_ROUTES = frozenset({"tile", "thumbnail"})


class AccessCache:
    """Recent successful decisions for image reads (tiles, thumbnails), so that a map's many tile requests
    do not each pay the database: a decision is reused for ``ttl_s`` seconds, which is therefore how long a
    revoked token or membership can still read tiles it could read before. Failures are never cached."""

    def __init__(self, ttl_s: float, size: int = 10_000) -> None:
        self.ttl_s, self.size = ttl_s, size
        self._entries: dict[tuple[str, str, str], tuple[float, Access]] = {}

    def key(self, request: Request, route: APIRoute) -> tuple[str, str, str] | None:
        if self.ttl_s <= 0 or route.name not in CACHED_ROUTES or request.method not in SAFE_METHODS:
            return None
        credential = request.headers.get("authorization") or request.cookies.get(SESSION_COOKIE) or ""
        if not credential:
            return None
        digest = hashlib.sha256(credential.encode()).hexdigest()
        return digest, route.name, str(request.path_params.get("observation_id"))

    def get(self, key: tuple[str, str, str]) -> Access | None:
        found = self._entries.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, key: tuple[str, str, str], access: Access) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()  # simple and bounded; a full cache only costs a few database reads
        self._entries[key] = (time.monotonic() + self.ttl_s, access)


async def get_access(request: Request) -> Access:
    """Authenticate and authorize (see the module docstring). Async, so that a remembered decision for a
    tile is answered on the event loop; everything else runs in the thread pool with a session of its own."""
    route = request.scope.get("route")
    assert isinstance(route, APIRoute), "get_access runs only for API routes"
    cache: AccessCache = request.app.state.access_cache
    key = cache.key(request, route)
    if key is not None and (remembered := cache.get(key)) is not None:
        return remembered
    access = await run_in_threadpool(_check_access, request, route)
    if key is not None:
        cache.put(key, access)
    return access


def _check_access(request: Request, route: APIRoute) -> Access:
    rule = RULES[route.name]
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session:
        user, auth_session = authenticate(request, session)
        if (
            auth_session is not None
            and request.method not in SAFE_METHODS
            and rule.caller != Caller.ANYONE
            and not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), auth_session.csrf_token)
        ):
            raise CsrfError(
                f"Missing or wrong {CSRF_HEADER} header: send the value of the {CSRF_COOKIE} cookie with "
                "every change (sign in again if the page is old)."
            )
        target = resolve_target(session, request.path_params)
        access = authorize(session, rule, route, user, target)
        return dataclasses.replace(access, auth_session=auth_session)


AccessDep = Annotated[Access, Depends(get_access)]
