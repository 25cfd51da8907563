"""Accounts: creation with validation, and the first admin made at start-up."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.core.config import AdminSettings
from app.core.errors import ConflictError, InvalidInputError
from app.core.security import generate_password, hash_password
from app.models.user import User
from app.repositories import users as users_repo

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
MIN_PASSWORD_LENGTH = 10


def create_user(session: Session, *, email: str, password: str, is_admin: bool = False) -> User:
    """Create and commit a user; raises InvalidInputError or ConflictError with a message to show."""
    email = email.strip()
    if not _EMAIL.match(email):
        raise InvalidInputError(f"'{email}' is not an email address (expected name@domain).")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    if users_repo.get_user_by_email(session, email) is not None:
        raise ConflictError(f"A user with email {email} exists already.")
    user = User(email=email, password_hash=hash_password(password), is_admin=is_admin)
    session.add(user)
    session.commit()
    return user


@dataclass(frozen=True)
class CreatedAdmin:
    email: str
    password: str
    password_was_generated: bool


def ensure_first_admin(session: Session, admin: AdminSettings) -> CreatedAdmin | None:
    """Create the admin from settings when no user exists yet; returns what to tell the operator once."""
    if users_repo.count_users(session) > 0:
        return None
    password = admin.password.get_secret_value()
    generated = not password
    if generated:
        password = generate_password()
    create_user(session, email=admin.email, password=password, is_admin=True)
    return CreatedAdmin(email=admin.email, password=password, password_was_generated=generated)
