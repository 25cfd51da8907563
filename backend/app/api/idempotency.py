"""Idempotency-Key: a retried request with the same key and body gets the first answer again."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.core.errors import InvalidInputError
from app.models.annotation import IdempotencyRecord


class IdempotencyKeyReusedError(InvalidInputError):
    code = "idempotency_key_reused"


def fingerprint(method: str, path: str, body: BaseModel) -> str:
    return hashlib.sha256(f"{method} {path} {body.model_dump_json()}".encode()).hexdigest()


def replay(session: Session, key: str | None, print_: str) -> JSONResponse | None:
    """The stored answer for ``key``, or None when the key is new (or not given)."""
    if key is None:
        return None
    record = session.get(IdempotencyRecord, key)
    if record is None:
        return None
    if record.fingerprint != print_:
        raise IdempotencyKeyReusedError(
            f"Idempotency-Key {key!r} was used for a different request; use a new key for each change."
        )
    return JSONResponse(
        status_code=record.status_code, content=record.body, headers={"Idempotent-Replay": "true"}
    )


def remember(session: Session, key: str | None, print_: str, status_code: int, body: Any) -> None:
    if key is None:
        return
    session.execute(
        insert(IdempotencyRecord)
        .values(key=key, fingerprint=print_, status_code=status_code, body=jsonable_encoder(body))
        .on_conflict_do_nothing()
    )
    session.commit()
