"""Accounts: validation, case-insensitive uniqueness, and the first admin."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import AdminSettings
from app.core.errors import ConflictError, InvalidInputError
from app.core.security import verify_password
from app.models import User
from app.services.users import create_user, ensure_first_admin


def test_first_admin_is_created_once_with_a_generated_password(db_session: Session) -> None:
    created = ensure_first_admin(db_session, AdminSettings(email="boss@mine.example"))
    assert created is not None
    assert created.password_was_generated
    assert len(created.password) >= 20
    user = db_session.scalars(select(User)).one()
    assert user.is_admin and user.email == "boss@mine.example"
    assert verify_password(user.password_hash, created.password)
    assert not verify_password(user.password_hash, "wrong password")
    assert ensure_first_admin(db_session, AdminSettings(email="other@mine.example")) is None
    assert db_session.scalars(select(User)).all() == [user]


def test_first_admin_takes_the_password_from_settings(db_session: Session) -> None:
    created = ensure_first_admin(
        db_session, AdminSettings(email="a@b.example", password=SecretStr("correct horse battery"))
    )
    assert created is not None and not created.password_was_generated
    user = db_session.scalars(select(User)).one()
    assert verify_password(user.password_hash, "correct horse battery")


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", "long enough pw", "is not an email address"),
        ("x@y.example", "short", "at least 10 characters"),
    ],
)
def test_bad_accounts_are_refused_and_nothing_is_stored(
    db_session: Session, email: str, password: str, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        create_user(db_session, email=email, password=password)
    assert db_session.scalars(select(User)).all() == []


def test_emails_are_unique_whatever_their_case(db_session: Session) -> None:
    create_user(db_session, email="Ann@Mine.example", password="long enough pw")
    with pytest.raises(ConflictError, match="exists already"):
        create_user(db_session, email="ann@mine.EXAMPLE", password="long enough pw")
    assert len(db_session.scalars(select(User)).all()) == 1
