"""API shapes for accounts, sign-in, tokens and project members."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.models.access import ProjectRole
from app.schemas.base import RequestModel


class SignInRequest(RequestModel):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1000)


class SignUpRequest(SignInRequest):
    pass


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    is_admin: bool
    is_active: bool
    created_at: datetime


class MembershipRead(BaseModel):
    project_id: uuid.UUID
    role: ProjectRole


class MeRead(BaseModel):
    user: UserRead
    memberships: list[MembershipRead]
    csrf_token: str | None = Field(
        default=None, description="For browser sessions: send it in X-CSRF-Token with every change."
    )


class SignedInRead(MeRead):
    expires_at: datetime


class UserCreate(RequestModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1000)
    is_admin: bool = False


class UserUpdate(RequestModel):
    is_active: bool | None = None
    is_admin: bool | None = None
    password: str | None = Field(default=None, min_length=1, max_length=1000)


class TokenCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200, description="What the token is for.")


class TokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenRead):
    key: str = Field(description="Shown once: send it as 'Authorization: Token <key>'.")


class MemberSet(RequestModel):
    role: ProjectRole


class MemberRead(BaseModel):
    user_id: uuid.UUID
    email: str
    role: ProjectRole
