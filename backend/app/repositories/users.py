"""SQL for the users table."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models.user import User


def get_user_by_email(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(func.lower(User.email) == email.lower())).one_or_none()


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0
