"""Personal API tokens: list, create, revoke (the same service the Settings page uses)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from finapp.api.deps import CurrentUser, DbSession
from finapp.models import ApiToken
from finapp.services import api_tokens

router = APIRouter(prefix="/api/tokens", tags=["tokens"])


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    status: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, record: ApiToken) -> TokenOut:
        return cls(
            id=record.id or 0,
            name=record.name,
            prefix=record.prefix,
            status=api_tokens.token_status(record),
            created_at=record.created_at,
            expires_at=record.expires_at,
            last_used_at=record.last_used_at,
        )


class TokenCreate(BaseModel):
    # The service trims and checks the real limit (400 with a reason); this only caps the body.
    name: str = Field(max_length=1000)
    expires_in_days: int | None = None


class TokenCreated(TokenOut):
    token: str


@router.get("", response_model=list[TokenOut])
def list_tokens(user: CurrentUser, session: DbSession) -> list[TokenOut]:
    return [TokenOut.of(t) for t in api_tokens.list_tokens(session=session, user_id=user.id)]


@router.post("", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, user: CurrentUser, session: DbSession) -> TokenCreated:
    issued = api_tokens.create_token(
        session=session, user_id=user.id, name=body.name, expires_in_days=body.expires_in_days
    )
    return TokenCreated(**TokenOut.of(issued.record).model_dump(), token=issued.token)


@router.delete("/{token_id}", response_model=TokenOut)
def revoke_token(token_id: int, user: CurrentUser, session: DbSession) -> TokenOut:
    return TokenOut.of(api_tokens.revoke_token(session=session, user_id=user.id, token_id=token_id))
