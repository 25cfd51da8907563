"""Editing a task keeps it reserved: the annotation-writing routes renew the caller's lease first."""

from __future__ import annotations

from datetime import timedelta

from app.api.access import AccessDep
from app.api.deps import SessionDep, SettingsDep
from app.services import workflow


def renew_lease_on_edit(access: AccessDep, session: SessionDep, settings: SettingsDep) -> None:
    if access.user is None or access.target is None or access.target.observation_id is None:
        return
    workflow.touch_lease(
        session,
        access.target.observation_id,
        access.user.id,
        timedelta(minutes=settings.review.lease_minutes),
    )
