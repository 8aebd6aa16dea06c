"""An in-process FHIR server for the unit tests of tests/sync (the integration tests use real servers).

``FakeEhr`` keeps what a FHIR server keeps, with the semantics the sync engine relies on, as HAPI and
Medplum implement them (tests/servers/README.md, "Behaviour differences"):

- conditional create (``ifNoneExist``): 0 matches → 201 created, 1 → 200 with the existing resource's
  location, several → 412;
- conditional update (``PUT Type?identifier=…``): 0 matches → 201 created, 1 → that resource updated,
  several → 412;
- ``PUT Type/id`` with ``If-Match``: a stale version → ``conflict_status`` (412 like Medplum, 409 like
  HAPI); without ``If-Match`` an update, or a create with the client's id;
- transactions are atomic (any failing entry: nothing is kept, the whole request fails with that
  entry's status) and resolve ``urn:uuid`` references; batches answer per entry;
- versions count up per resource ("1", "2", …); reads answer 404 for unknown and 410 for deleted ids.

``max_transaction_entries``: a transaction with more entries, one of them conditional, is refused as
Medplum refuses it (400, "Transaction requires strict isolation but has too many entries", nothing
written; counted in ``too_large``); ``too_large_status = 413`` answers like HAPI's
``maximumTransactionBundleSize`` instead (HAPI-0528).
``style`` (``fake_answers.AnswerStyle``) words answers; ``client_ids = False``: ``PUT Type/id`` of an unknown id →
404 (HAPI ``NOT_ALLOWED``, HAPI-0959); a ``request.method`` outside the case-sensitive http-verb codes → 400.

Errors are raised as ``service.sync.errors.classify`` raises them for a real HTTP answer. Test hooks:
``down`` (every request → 503), ``lose`` (numbers of the requests whose answers are lost after the
commit), ``edit`` (a clinician's change in the EHR: a new version) and ``after_read`` (called after
each read, e.g. to edit again).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from service.sync.errors import classify
from service.sync.ports import FhirResponse, Json, RetryableError
from tests.sync.fake_answers import AnswerStyle

Key = tuple[str, str]
HTTP_VERBS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"})  # http-verb, case-sensitive codes


class EntryFailed(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.outcome = status, {"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "conflict" if status in (409, 412) else "processing",
             "diagnostics": message}]}


def _identifiers(resource: Json) -> list[tuple[str, str]]:
    idents = resource.get("identifier")
    if isinstance(idents, dict):
        idents = [idents]
    return [(i.get("system", ""), i.get("value", "")) for i in idents or [] if isinstance(i, dict)]


def _rewrite(value: Any, urls: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: (urls.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite(v, urls))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, urls) for v in value]
    return value


@dataclass
class FakeEhr:
    name: str
    base_url: str = ""
    down: bool = False
    conflict_status: int = 412
    lose: set[int] = field(default_factory=set)
    received: list[Json] = field(default_factory=list)
    refused: int = 0
    requests: int = 0
    store: dict[Key, list[Json | None]] = field(default_factory=dict)
    after_read: Callable[[str, str], None] | None = None
    minimal: bool = False  # single requests: no body, only Location/ETag (HAPI's 200 to a conditional create)
    headers: bool = True  # single requests: Location/ETag sent (False: only the body says id and version)
    max_transaction_entries: int | None = None  # Medplum: 8 when an entry is conditional
    too_large_status: int = 400
    too_large: int = 0
    style: AnswerStyle = field(default_factory=AnswerStyle)
    client_ids: bool = True
    _ids: int = 0

    def __post_init__(self) -> None:
        self.base_url = self.base_url or f"http://{self.name}.invalid/fhir"

    # -- what tests look at ------------------------------------------------------------------------
    def sent(self, resource_type: str) -> list[Json]:
        """Every resource of that type the EHR was sent, in order (refused requests included)."""
        return [r for r in self.received if r["resourceType"] == resource_type]

    def current(self, resource_type: str) -> list[Json]:
        """The resources of that type the EHR holds now (latest versions, deleted ones left out)."""
        return [copy.deepcopy(v[-1]) for (t, _i), v in self.store.items() if t == resource_type and v[-1]]

    def history(self, resource_type: str, rid: str) -> list[Json]:
        return [copy.deepcopy(v) for v in self.store.get((resource_type, rid), []) if v]

    def edit(self, resource_type: str, rid: str, **changes: Any) -> Json:
        """Someone changes the resource in the EHR: a new version."""
        body = {**copy.deepcopy(self._latest(resource_type, rid)), **changes}
        return self._put_version(self.store, resource_type, rid, body)

    # -- FhirServerPort ----------------------------------------------------------------------------
    def transaction(self, bundle: Json) -> FhirResponse:
        self._arrive()
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") not in ("transaction", "batch"):
            raise classify(400, {}, None, "POST [base]: not a transaction or batch Bundle")
        atomic = bundle.get("type") == "transaction"
        if atomic:
            self._check_size(bundle.get("entry", []))
        work = copy.deepcopy(self.store) if atomic else self.store
        urls: dict[str, str] = {}
        answers = []
        for entry in bundle.get("entry", []):
            if "resource" in entry:
                self.received.append(entry["resource"])
            try:
                status, rtype, rid, version = self._entry(work, entry, urls)
            except EntryFailed as err:
                if atomic:
                    raise classify(err.status, {}, err.outcome, "transaction") from None
                answers.append({"response": {"status": self.style.status(err.status), "outcome": err.outcome}})
                continue
            if entry.get("fullUrl") and rid:
                urls[entry["fullUrl"]] = f"{rtype}/{rid}"
            answers.append(self.style.entry(status, rtype, rid, version, (work.get((rtype, rid)) or [None])[-1]))
        if atomic:
            for versions in work.values():
                if versions and versions[-1] is not None:
                    versions[-1] = _rewrite(versions[-1], urls)
            for answer in answers:
                if "resource" in answer:
                    answer["resource"] = _rewrite(answer["resource"], urls)
            self.store = work
        return self._answer(FhirResponse(200, {"resourceType": "Bundle", "type": f"{bundle.get('type')}-response",
                                               "entry": answers}))

    def read(self, resource_type: str, resource_id: str) -> FhirResponse:
        self._arrive()
        versions = self.store.get((resource_type, resource_id))
        if not versions:
            raise classify(404, {}, None, f"GET {resource_type}/{resource_id}")
        if versions[-1] is None:
            raise classify(410, {}, None, f"GET {resource_type}/{resource_id}")
        body = copy.deepcopy(versions[-1])
        if self.after_read is not None:
            self.after_read(resource_type, resource_id)
        return FhirResponse(200, body, {"ETag": f'W/"{body["meta"]["versionId"]}"'})

    def search(self, resource_type: str, params: Mapping[str, str]) -> Iterator[Json]:
        self._arrive()
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return iter([copy.deepcopy(self._latest(resource_type, rid))
                     for rid in self._matches(self.store, resource_type, query)])

    def create(self, resource: Json, if_none_exist: str | None = None) -> FhirResponse:
        entry = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"],
                                                    **({"ifNoneExist": if_none_exist} if if_none_exist else {})}}
        return self._single(entry)

    def update(self, resource: Json, if_match: str | None = None, condition: str | None = None) -> FhirResponse:
        rtype = resource["resourceType"]
        url = f"{rtype}?{condition}" if condition else f"{rtype}/{resource['id']}"
        return self._single({"resource": resource, "request": {"method": "PUT", "url": url,
                                                                **({"ifMatch": if_match} if if_match else {})}})

    def delete(self, resource_type: str, resource_id: str) -> FhirResponse:
        return self._single({"request": {"method": "DELETE", "url": f"{resource_type}/{resource_id}"}})

    def capabilities(self) -> Json:
        return {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"}

    def smart_configuration(self) -> Json | None:
        return None

    # -- semantics ---------------------------------------------------------------------------------
    def _arrive(self) -> None:
        self.requests += 1
        if self.down:
            self.refused += 1
            raise RetryableError(f"HTTP 503 from {self.name}", 503)

    def _check_size(self, entries: list[Json]) -> None:
        limit = self.max_transaction_entries
        conditional = any(e.get("request", {}).get("ifNoneExist") or "?" in e.get("request", {}).get("url", "")
                          for e in entries)
        if limit is None or len(entries) <= limit or not conditional:
            return
        self.too_large += 1
        text = ("Transaction requires strict isolation but has too many entries" if self.too_large_status == 400
                else f"HAPI-0528: Transaction Bundle Too large.  Transaction bundle contains {len(entries)} which "
                     f"exceedes the maximum permitted transaction bundle size of {limit}")
        outcome = {"resourceType": "OperationOutcome",
                   "issue": [{"severity": "error", "code": "invalid", "details": {"text": text}}]}
        raise classify(self.too_large_status, {}, outcome, "POST [base]")

    def _answer(self, response: FhirResponse) -> FhirResponse:
        if self.requests in self.lose:  # committed, but the answer never reaches the client
            raise RetryableError(f"connection to {self.name} closed before the answer")
        return response

    def _single(self, entry: Json) -> FhirResponse:
        self._arrive()
        if "resource" in entry:
            self.received.append(entry["resource"])
        try:
            status, rtype, rid, version = self._entry(self.store, entry, {})
        except EntryFailed as err:
            raise classify(err.status, {}, err.outcome, entry["request"]["method"]) from None
        body = copy.deepcopy(self._latest(rtype, rid)) if version and not self.minimal else None
        headers = self.style.headers(self.base_url, rtype, rid, str(version))
        return self._answer(FhirResponse(status, body, headers if version and self.headers else {}))

    def _entry(self, work: dict[Key, list[Json | None]], entry: Json,
               urls: Mapping[str, str]) -> tuple[int, str, str, str | None]:
        request = entry["request"]
        if request["method"] not in HTTP_VERBS:
            raise EntryFailed(400, f"invalid HTTP verb {request['method']!r} in Bundle.entry.request.method")
        method, url = request["method"].upper(), request["url"]
        rtype, _, rest = url.partition("?")
        rtype, _, rid = rtype.partition("/")
        body = _rewrite(copy.deepcopy(entry.get("resource") or {}), urls)
        if body and body.get("resourceType") != rtype:
            raise EntryFailed(400, f"body type {body.get('resourceType')} is not {rtype}")
        if method == "DELETE":
            for found in [rid] if rid else self._matches(work, rtype, rest):
                if work.get((rtype, found)):
                    work[(rtype, found)].append(None)
            return 204, rtype, rid, None
        if method == "POST":
            matches = self._matches(work, rtype, request["ifNoneExist"]) if request.get("ifNoneExist") else []
            if len(matches) > 1:
                raise EntryFailed(412, f"{len(matches)} {rtype} match the condition")
            if matches:
                return 200, rtype, matches[0], self._version(work, rtype, matches[0])
            return self._create(work, rtype, body)
        if rest:  # conditional update
            matches = self._matches(work, rtype, rest)
            if len(matches) > 1:
                raise EntryFailed(412, f"{len(matches)} {rtype} match the condition")
            if not matches:
                return self._create(work, rtype, body)
            rid = matches[0]
        current = work.get((rtype, rid))
        if not current and not self.client_ids:
            raise EntryFailed(404, f"no {rtype} with this id here, and client-assigned ids are not enabled")
        if request.get("ifMatch"):
            wanted = str(request["ifMatch"]).removeprefix("W/").strip('"')
            if not current or current[-1] is None or self._version(work, rtype, rid) != wanted:
                raise EntryFailed(self.conflict_status, f"{rtype}/{rid}: version {wanted} is not the current one")
        status = 200 if current and current[-1] is not None else 201
        return status, rtype, rid, self._put_version(work, rtype, rid, body)["meta"]["versionId"]

    def _create(self, work: dict[Key, list[Json | None]], rtype: str, body: Json) -> tuple[int, str, str, str]:
        self._ids += 1
        rid = f"{self.name}-{self._ids}"
        return 201, rtype, rid, self._put_version(work, rtype, rid, body)["meta"]["versionId"]

    @staticmethod
    def _put_version(work: dict[Key, list[Json | None]], rtype: str, rid: str, body: Json) -> Json:
        versions = work.setdefault((rtype, rid), [])
        stored = {**copy.deepcopy(body), "id": rid,
                  "meta": {**body.get("meta", {}), "versionId": str(len(versions) + 1)}}
        versions.append(stored)
        return stored

    def _latest(self, rtype: str, rid: str) -> Json:
        latest = self.store[(rtype, rid)][-1]
        assert latest is not None, f"{rtype}/{rid} is deleted"
        return latest

    @staticmethod
    def _version(work: dict[Key, list[Json | None]], rtype: str, rid: str) -> str | None:
        versions = work.get((rtype, rid)) or [None]
        return str(versions[-1]["meta"]["versionId"]) if versions[-1] else None

    @staticmethod
    def _matches(work: dict[Key, list[Json | None]], rtype: str, query: str) -> list[str]:
        """Ids of the live resources of ``rtype`` matching ``identifier=system|value`` (``_id=`` too)."""
        wanted = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        found = []
        for (t, rid), versions in work.items():
            if t != rtype or not versions or versions[-1] is None:
                continue
            if "_id" in wanted and wanted["_id"] != rid:
                continue
            if "identifier" in wanted:
                system, _, value = unquote(wanted["identifier"]).rpartition("|")
                if (system, value) not in _identifiers(versions[-1]):
                    continue
            found.append(rid)
        return found
