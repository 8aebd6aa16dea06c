"""Classify a FHIR server's answer into the ``FhirError`` kinds the sync engine acts on.

429/503 → ``RetryableError`` carrying ``Retry-After``; other 5xx → ``RetryableError``; 409/412 →
``ConflictError``; 404/410 → ``NotFoundError``; 401/403 → ``AuthError``; a refusal for size (413, or a
400 whose OperationOutcome says the transaction has too many entries) → ``TooLargeError``, which the
sync engine answers by sending smaller transactions (``chunking.py``), never by a dead letter; any other
4xx → ``RejectedError`` (dead letter) with the server's OperationOutcome. Used for whole responses by the
HTTP adapter and for the entries of a batch response by the sync engine.

Size refusals recognised (the servers' own texts): HTTP 413 (HAPI's ``HAPI-0528: Transaction Bundle Too
large`` when ``maximumTransactionBundleSize`` is set, and any proxy's body-size limit); Medplum's 400
``Transaction requires strict isolation but has too many entries`` (more than 8 entries when one is
conditional) and ``Transaction contains more update operations than allowed`` (more than 50 PUTs).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from service.sync.ports import (
    AuthError,
    ConflictError,
    FhirError,
    Json,
    NotFoundError,
    RejectedError,
    RetryableError,
)

#: What a 400 says when the transaction was refused for its size (Medplum's fhir-router texts).
SIZE_REFUSALS = re.compile(
    r"has too many entries|more update operations than allowed|transaction bundle too large", re.IGNORECASE)


class TooLargeError(RejectedError):
    """The server refused the request for its size. A transaction wrote nothing: send it in smaller chunks.
    A single resource refused for size cannot be made smaller: it stays a ``RejectedError`` (dead letter)."""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def diagnostics(outcome: Json | None) -> str:
    """The issues' diagnostics of an OperationOutcome, shortened, for an error line."""
    if not outcome or outcome.get("resourceType") != "OperationOutcome":
        return ""
    texts = [str(i.get("diagnostics") or i.get("details", {}).get("text") or "") for i in outcome.get("issue", [])]
    return "; ".join(t for t in texts if t)[:300]


def classify(status: int, headers: Mapping[str, str], outcome: Json | None, what: str) -> FhirError:
    """The error for a non-2xx answer."""
    detail = diagnostics(outcome)
    message = f"{what}: HTTP {status}" + (f" ({detail})" if detail else "")
    if status in (429, 503):
        return RetryableError(message, status, outcome, parse_retry_after(headers.get("Retry-After")))
    if status >= 500:
        return RetryableError(message, status, outcome)
    if status in (409, 412):
        return ConflictError(message, status, outcome)
    if status in (404, 410):
        return NotFoundError(message, status, outcome)
    if status in (401, 403):
        return AuthError(message, status, outcome)
    if status == 413 or (status == 400 and SIZE_REFUSALS.search(detail)):
        return TooLargeError(message, status, outcome)
    return RejectedError(message, status, outcome)
