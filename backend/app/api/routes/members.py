"""A project's members and their roles."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from app.api.deps import SessionDep
from app.models.user import User
from app.schemas.access import MemberRead, MemberSet
from app.services import members as members_service

router = APIRouter(prefix="/api/projects/{project_id}/members", tags=["members"])


@router.get("", response_model=list[MemberRead], summary="The project's members")
def list_members(project_id: uuid.UUID, session: SessionDep) -> list[MemberRead]:
    return [
        MemberRead(user_id=u.id, email=u.email, role=m.role)
        for m, u in members_service.list_members(session, project_id)
    ]


@router.put("/{user_id}", response_model=MemberRead, summary="Add a member or change their role")
def set_member(project_id: uuid.UUID, user_id: uuid.UUID, body: MemberSet, session: SessionDep) -> MemberRead:
    member = members_service.set_member(session, project_id, user_id, body.role)
    user = session.get(User, user_id)
    assert user is not None  # set_member refuses unknown users
    return MemberRead(user_id=user_id, email=user.email, role=member.role)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a member")
def remove_member(project_id: uuid.UUID, user_id: uuid.UUID, session: SessionDep) -> None:
    members_service.remove_member(session, project_id, user_id)
