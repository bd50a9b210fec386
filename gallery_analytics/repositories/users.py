from __future__ import annotations

from sqlalchemy import select

from gallery_analytics.db.models import User
from gallery_analytics.repositories.base import Repository


class UserRepository(Repository[User]):
    model = User

    async def find_by_email(self, email: str) -> User | None:
        return await self.session.scalar(select(User).where(User.email == email))

    async def find_all(self, *, limit: int | None = None) -> list[User]:
        statement = select(User).order_by(User.email)
        if limit is not None:
            statement = statement.limit(limit)
        return list((await self.session.scalars(statement)).all())

    async def create(self, *, email: str, display_name: str) -> User:
        return await self._add(User(email=email, display_name=display_name))
