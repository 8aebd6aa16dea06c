"""The CDS Client JWTs already accepted, kept by the database so every process and host shares them.

``CdsJtiLedger.claim(issuer, jti, expires, now)`` records the pair (table ``cds_jti``, migration 0007) in one
write transaction and says whether it was new. The primary key (issuer, jti) decides between processes: of
two processes given the same JWT at once, one commits and the other's insert fails (on PostgreSQL it waits
for the first to commit, then meets the key). Rows whose ``exp`` has passed are deleted in the same
transaction (the index on ``expires_at`` keeps that cheap): a JWT is refused by its own ``exp`` by then.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from service.store.db import transaction
from service.store.models import CdsJtiRow

MAX_LIVE = 10_000  # live JWT ids kept at most (every trusted client together): beyond, a call is refused
_LATEST = 253_402_214_400.0  # 9999-12-31 UTC: an exp beyond it is kept until then

Claim = Literal["new", "replay", "full"]


def _naive_utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(max(0.0, min(epoch, _LATEST)), UTC).replace(tzinfo=None)


class CdsJtiLedger:
    """The ``cds_jti`` table: each (issuer, jti) accepted once until its expiry, on every process."""

    def __init__(self, sessions: sessionmaker[Session], max_live: int = MAX_LIVE) -> None:
        self.sessions = sessions
        self.max_live = max_live

    def claim(self, issuer: str, jti: str, expires: float, now: float) -> Claim:
        """``new`` (recorded now), ``replay`` (recorded before and not expired) or ``full`` (too many live)."""
        moment = _naive_utc(now)
        try:
            with transaction(self.sessions) as session:
                session.execute(delete(CdsJtiRow).where(CdsJtiRow.expires_at <= moment))
                if session.get(CdsJtiRow, (issuer, jti)) is not None:
                    return "replay"
                if (session.scalar(select(func.count()).select_from(CdsJtiRow)) or 0) >= self.max_live:
                    return "full"
                session.add(CdsJtiRow(issuer=issuer, jti=jti, expires_at=_naive_utc(expires)))
                session.flush()
        except IntegrityError:  # another process recorded it between our read and our insert
            return "replay"
        return "new"
