"""Accounts, managed by site admins (sign-up is off by default)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from sqlalchemy import select

from app.api.access import AccessDep
from app.api.deps import SessionDep
from app.core.errors import ConflictError, InvalidInputError, NotFoundError
from app.core.security import hash_password
from app.models.user import User
from app.schemas.access import UserCreate, UserRead, UserUpdate
from app.services import users as users_service

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("", response_model=list[UserRead], summary="All accounts")
def list_users(session: SessionDep) -> list[UserRead]:
    return [UserRead.model_validate(u) for u in session.scalars(select(User).order_by(User.email))]


@router.post("", response_model=UserRead, status_code=status.HTTP_201_CREATED, summary="Create an account")
def create_user(body: UserCreate, session: SessionDep) -> UserRead:
    user = users_service.create_user(
        session, email=body.email, password=body.password, is_admin=body.is_admin
    )
    return UserRead.model_validate(user)


@router.patch(
    "/{user_id}", response_model=UserRead, summary="Deactivate, reactivate, promote or reset a password"
)
def update_user(user_id: uuid.UUID, body: UserUpdate, session: SessionDep, access: AccessDep) -> UserRead:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"No user with id {user_id}.")
    if user.id == access.user_id and (body.is_active is False or body.is_admin is False):
        raise ConflictError("You cannot deactivate or demote yourself; ask another site admin.")
    if body.password is not None:
        if len(body.password) < users_service.MIN_PASSWORD_LENGTH:
            raise InvalidInputError(
                f"The password must have at least {users_service.MIN_PASSWORD_LENGTH} characters."
            )
        user.password_hash = hash_password(body.password)
    if body.is_active is not None:
        user.is_active = body.is_active
    if body.is_admin is not None:
        user.is_admin = body.is_admin
    session.commit()
    return UserRead.model_validate(user)
