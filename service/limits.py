"""Input limits and the one parser of numbers, dates and ids that come from outside (pure functions).

Every value a request (query, path, header, body) or an EHR brings passes through here before it
reaches the store, so SQLite and PostgreSQL refuse exactly the same inputs. The ranges are those of
the database columns (``service/store/models.py``): ``Integer`` is 32-bit on PostgreSQL, FHIR ids
are ``String(64)``, business ids and identifiers ``String(255)``; PostgreSQL refuses NUL in text and
no JSON encoder accepts a lone surrogate. A failure is a ``LimitError`` naming the parameter or the
path of the value; ``service.fhir.errors`` answers it as a 4xx OperationOutcome.
"""

from __future__ import annotations

import calendar
import functools
import json
import math
import re
from datetime import datetime, timedelta
from typing import Any

INT32_MAX = 2**31 - 1  # Integer columns (PostgreSQL int4): versions, outbox ids
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # any integer in a JSON body
FHIR_ID_MAX = 64  # fhir_resource.resource_id, patient.id (the FHIR id rule: 1-64 characters)
IDENTIFIER_MAX = 255  # patient.identifier_system/value, domain_record.business_id, search_token.code
QUERY_VALUE_MAX = 2048  # one query parameter value (a FHIR search value or an /api/v1 filter)
QUERY_PARAMS_MAX = 100  # parameters in one query string
PATH_MAX = 2048  # the URL path
JSON_DEPTH_MAX = 64  # nesting of objects and arrays in a JSON body (FHIR resources stay far below)
JSON_LIST_MAX = 10_000  # items of one JSON array (a Bundle or Questionnaire is below it)
JSON_STRING_MAX = 1_000_000  # characters of one JSON string (a base64 attachment)
#: Items per list of the episode payload. ETMI is 2-4 sessions with an intake, session logs and an outcome
#: questionnaire; every write maps and validates the whole episode again (200 scores: about 0.6 s).
EPISODE_LISTS: dict[str, int] = {"sessions": 30, "responses": 40, "goals": 20, "scores": 200}
ANSWERS_MAX = 200  # linkIds answered in one questionnaire response
ANSWER_VALUES_MAX = 50  # values of one (repeating) answer
TEXT_MAX = 2000  # a free-text string of the payload (goal description, an open-choice answer)

_INT = re.compile(r"^[+-]?[0-9]{1,19}$")
_DATE = re.compile(
    r"^(?P<y>[0-9]{4})(-(?P<m>[0-9]{2})(-(?P<d>[0-9]{2})(T(?P<H>[0-9]{2}):(?P<M>[0-9]{2})"
    r"(:(?P<S>[0-9]{2})(?P<f>\.[0-9]{1,9})?)?(?P<z>Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?$"
)
EARLIEST = datetime(1, 1, 1)
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999999)


class LimitError(ValueError):
    """A value outside its limits: ``path`` names the parameter or element, ``status`` the answer."""

    def __init__(self, message: str, path: str, status: int = 400, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.status = status
        self.code = code  # the OperationOutcome issue type: invalid, too-long, value


class DateError(LimitError):
    def __init__(self, message: str, path: str = "", status: int = 400) -> None:
        super().__init__(message, path, status, "value")


def integer(text: str, name: str, low: int = 0, high: int = INT32_MAX) -> int:
    """ASCII digits only (``²`` and ``٣`` pass ``isdigit()``, not this), within ``[low, high]``."""
    value = text.strip()
    if not _INT.match(value) or not low <= int(value) <= high:
        raise LimitError(f"{name} must be a whole number from {low} to {high}", name, code="value")
    return int(value)


def clean_text(value: str, path: str, max_length: int) -> str:
    """A string without NUL or lone surrogates, at most ``max_length`` characters."""
    if len(value) > max_length:
        raise LimitError(f"{path or 'value'} is longer than {max_length} characters", path, code="too-long")
    if "\x00" in value:
        raise LimitError(f"{path or 'value'} contains a NUL character", path)
    if not _unicode(value):
        raise LimitError(f"{path or 'value'} contains a lone surrogate (not Unicode text)", path)
    return value


def _unicode(value: str) -> bool:
    """No code point U+D800-U+DFFF: exactly the strings strict UTF-8 can encode (checked in C)."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


def identifier(value: str, path: str, max_length: int = IDENTIFIER_MAX) -> str:
    """An id or identifier value: non-empty, no NUL, no surrogate, no longer than its column."""
    if not value:
        raise LimitError(f"{path} must not be empty", path)
    return clean_text(value, path, max_length)


class _BigInt(str):
    """A JSON integer beyond 64 bits, kept as its text so ``check_json`` can name its path."""


def _json_int(text: str) -> int | _BigInt:
    digits = text.lstrip("-")
    if len(digits) > 19 or not INT64_MIN <= int(text) <= INT64_MAX:
        return _BigInt(text[:40])
    return int(text)


def _json_constant(name: str) -> None:
    raise LimitError(f"{name} is not a JSON number", "body")


def load_json(data: bytes | str) -> Any:
    """Parse a JSON body and check it (``check_json``): ``LimitError`` for anything else."""
    try:
        value = json.loads(data, parse_int=_json_int, parse_constant=_json_constant)
    except RecursionError as err:
        raise LimitError(f"the JSON is nested deeper than {JSON_DEPTH_MAX} levels", "body", code="too-long") from err
    except LimitError:
        raise
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        raise LimitError(f"the body is not JSON: {err}", "body") from err
    check_json(value)
    return value


def check_json(value: Any, path: str = "", depth: int = 0) -> None:
    """Depth, array length, string length and number range of a parsed JSON body, everywhere.

    A first pass without paths (``_fine``) clears a body within the limits; only a body it doubts is
    walked again with paths (``_walk``), which raises the error naming the first value outside them."""
    if not _fine(value, depth):
        _walk(value, path, depth)


def _fine(value: Any, depth: int) -> bool:
    """Every limit ``_walk`` checks, without paths (False may be a false alarm: ``_walk`` decides)."""
    if depth > JSON_DEPTH_MAX:
        return False
    kind = type(value)
    if kind is str:
        return len(value) <= JSON_STRING_MAX and "\x00" not in value and _unicode(value)
    if kind is dict:
        return all(type(key) is str and len(key) <= 1000 and "\x00" not in key and _unicode(key)
                   and _fine(item, depth + 1) for key, item in value.items())
    if kind is list:
        return len(value) <= JSON_LIST_MAX and all(_fine(item, depth + 1) for item in value)
    if kind is int:
        return bool(INT64_MIN <= value <= INT64_MAX)
    if kind is float:
        return math.isfinite(value)
    return value is None or kind is bool


def _walk(value: Any, path: str, depth: int) -> None:
    """``check_json`` with paths: raises the ``LimitError`` of the first value outside the limits."""
    if depth > JSON_DEPTH_MAX:
        raise LimitError(f"the JSON is nested deeper than {JSON_DEPTH_MAX} levels", path, code="too-long")
    if isinstance(value, _BigInt):
        raise LimitError(f"{path or 'value'} is an integer beyond 64 bits", path)
    if isinstance(value, str):
        clean_text(value, path, JSON_STRING_MAX)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise LimitError(f"{path or 'value'} is an integer beyond 64 bits", path)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise LimitError(f"{path or 'value'} is not a finite number", path)
    elif isinstance(value, list):
        if len(value) > JSON_LIST_MAX:
            raise LimitError(f"{path or 'the body'} has more than {JSON_LIST_MAX} items", path, code="too-long")
        for i, item in enumerate(value):
            _walk(item, f"{path}[{i}]", depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            clean_text(str(key), f"{path}.{key}" if path else str(key), 1000)
            _walk(item, f"{path}.{key}" if path else str(key), depth + 1)


def check_episode(payload: dict[str, Any]) -> None:
    """The episode payload's own limits (whole writes and every item added to a stored episode)."""
    for key, most in EPISODE_LISTS.items():
        items = payload.get(key)
        if isinstance(items, list) and len(items) > most:
            raise LimitError(f"an episode holds at most {most} {key} (got {len(items)})", key, 422, "too-long")
    patient = payload.get("patient")
    if isinstance(patient, dict):
        for part in ("system", "value"):
            if isinstance(patient.get(part), str):
                _payload_text(patient[part], f"patient.{part}", IDENTIFIER_MAX)
    for i, goal in enumerate(_list(payload.get("goals"))):
        if isinstance(goal, dict) and isinstance(goal.get("description"), str):
            _payload_text(goal["description"], f"goals[{i}].description", TEXT_MAX)
    for i, response in enumerate(_list(payload.get("responses"))):
        answers = response.get("answers") if isinstance(response, dict) else None
        if isinstance(answers, dict):
            _check_answers(answers, f"responses[{i}].answers")


def _list(value: Any) -> list[Any]:
    """The items of a payload list; anything else is the schema's to refuse (none here)."""
    return value if isinstance(value, list) else []


def _payload_text(value: str, path: str, most: int) -> None:
    try:
        clean_text(value, path, most)
    except LimitError as err:
        raise LimitError(err.message, path, 422, err.code) from err


def _check_answers(answers: dict[str, Any], path: str) -> None:
    if len(answers) > ANSWERS_MAX:
        raise LimitError(f"at most {ANSWERS_MAX} answers per response", path, 422, "too-long")
    for link_id, value in answers.items():
        values = value if isinstance(value, list) else [value]
        if len(values) > ANSWER_VALUES_MAX:
            raise LimitError(f"at most {ANSWER_VALUES_MAX} values per answer", f"{path}.{link_id}", 422, "too-long")
        for one in values:
            if isinstance(one, str):
                _payload_text(one, f"{path}.{link_id}", TEXT_MAX)


def date_range(value: str, name: str = "") -> tuple[str, str]:
    """The UTC range ``[low, high]`` a FHIR date, dateTime or instant covers (``_date_range``), remembered
    for the last ``DATES_KEPT`` strings: an episode's 35 resources carry about 8 distinct dates."""
    if type(value) is str:
        return _remembered(value, name)
    return _date_range(value, name)


def _date_range(value: str, name: str = "") -> tuple[str, str]:
    """The UTC range ``[low, high]`` a FHIR date, dateTime or instant covers, as fixed-width strings.

    A value without a zone is UTC. Seconds ``60`` (a leap second) count as the last instant of the
    minute. Ranges reaching past 0001-01-01 or 9999-12-31 (UTC) are clamped to them.
    """
    match = _DATE.match(value.strip())
    if not match:
        raise DateError(f"{name or 'value'} is not a FHIR date or dateTime: {value!r}", name)
    p = match.groupdict()
    try:
        year, month, day = int(p["y"]), int(p["m"] or 1), int(p["d"] or 1)
        start = datetime(year, month, day)
        if p["H"] is None:
            last = calendar.monthrange(year, month)[1] if p["d"] is None else day
            end = datetime(year, 12 if p["m"] is None else month, 31 if p["m"] is None else last, 23, 59, 59, 999999)
            return _text(start), _text(end)
        return _time_range(start, p, name)
    except ValueError as err:
        if isinstance(err, DateError):
            raise
        raise DateError(f"{name or 'value'} is not a valid date: {value!r}", name) from err


DATES_KEPT = 4096  # about 1 MB of strings and ranges per process
_remembered = functools.lru_cache(maxsize=DATES_KEPT)(_date_range)  # a DateError is raised again each time


def _time_range(day: datetime, p: dict[str, str | None], name: str) -> tuple[str, str]:
    fraction = (p["f"] or "")[1:]
    second = int(p["S"] or 0)
    moment = day.replace(hour=int(p["H"] or 0), minute=int(p["M"] or 0), second=min(second, 59),
                         microsecond=int((fraction + "000000")[:6]) if fraction else 0)
    if second == 60:
        moment = moment.replace(microsecond=999999)
    elif second > 60:
        raise DateError(f"{name or 'value'}: seconds must be 00-60", name)
    offset = _offset(p["z"], name)
    step = timedelta(microseconds=1) if fraction or second == 60 else timedelta(seconds=1 if p["S"] else 60)
    low = _shift(moment, -offset)
    high = _shift(_shift(moment, step - timedelta(microseconds=1)), -offset)
    return _text(low), _text(high)


def _text(moment: datetime) -> str:
    """Fixed width (``strftime('%Y')`` drops the zeros of years before 1000 on Linux)."""
    return moment.isoformat(timespec="microseconds")


def _offset(zone: str | None, name: str) -> timedelta:
    if not zone or zone == "Z":
        return timedelta(0)
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if minutes > 59 or hours > 14 or (hours == 14 and minutes):
        raise DateError(f"{name or 'value'}: a zone offset is between -14:00 and +14:00", name)
    sign = 1 if zone[0] == "+" else -1
    return sign * timedelta(hours=hours, minutes=minutes)


def _shift(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, clamped to the calendar the store can write."""
    try:
        return max(EARLIEST, min(LATEST, moment + delta))
    except OverflowError:
        return LATEST if delta > timedelta(0) else EARLIEST
