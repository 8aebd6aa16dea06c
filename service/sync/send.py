"""Send a patient's ordered writes to one target: transaction chunks, batch levels or single requests.

References are rewritten per target at send time: to the ``urn:uuid`` full URL of a write in the same
transaction chunk, else to the remote id learnt from an earlier chunk or from the id map. A write the
target already holds (id map) becomes ``PUT Type/<remote id>`` with ``If-Match`` of the recorded
versionId; otherwise a conditional update (``PUT Type?identifier=…``) or conditional create
(``ifNoneExist``). Every chunk carries one Provenance. The transaction mode's chunking and the
choice of mode are in ``chunking.py``. Results go to the id map at the end, so a
failure halfway never forgets what was already written (``SendContext.flush``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TypeVar

from service.sync.errors import classify
from service.sync.plan import Write, levels, rewrite_references
from service.sync.ports import FhirError, FhirResponse, FhirServerPort, IdMapPort, Json, RetryableError
from service.sync.provenance import provenance, provenance_id
from service.sync.refs import parse_location, urn_for
from service.sync.targets import Target

T = TypeVar("T")
LOCAL_REF_TYPES = frozenset({
    "Patient", "Condition", "CarePlan", "Goal", "Procedure", "QuestionnaireResponse", "Observation",
})


class UnresolvedReference(RetryableError):
    """A reference to a resource this target does not hold yet (it may still be on its way)."""


@dataclass
class Overrides:
    """Decisions of the conflict policy for the next attempt of a chunk."""

    version: dict[str, str] = field(default_factory=dict)
    dropped: set[str] = field(default_factory=set)


@dataclass
class SendContext:
    target: Target
    server: FhirServerPort
    id_map: IdMapPort
    now: Callable[[], datetime]
    entry_ids: Sequence[int]
    retry: bool = False  # an earlier attempt of these entries may have written some of the plan already
    results: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    overrides: Overrides = field(default_factory=Overrides)
    done: set[str] = field(default_factory=set)
    provenances: int = 0

    def remote(self, key: str) -> tuple[str, str | None] | None:
        if key in self.results:
            rid, ver = self.results[key]
        else:
            rtype, _, local = key.partition("/")
            found = self.id_map.get(self.target.name, rtype, local)
            if found is None:
                return None
            rid, ver = found
        return rid, self.overrides.version.get(key, ver)

    def record(self, write: Write, rtype: str, rid: str, version: str | None) -> None:
        self.results[write.key] = (rid, version)
        self.done.add(write.key)

    def flush(self) -> None:
        """Write what this push learnt to the id map (before ``mark_sent``, so the next entry finds it)."""
        for key, (rid, version) in self.results.items():
            rtype, _, local = key.partition("/")
            self.id_map.put(self.target.name, rtype, local, rid, version)

    def resolver(self, in_chunk: dict[str, str]) -> Callable[[str], str]:
        def resolve(ref: str) -> str:
            if ref in in_chunk:
                return in_chunk[ref]
            rtype, sep, local = ref.partition("/")
            if not sep or rtype not in LOCAL_REF_TYPES or "/" in local:
                return ref
            found = self.remote(ref)
            if found is None:
                raise UnresolvedReference(f"reference {rtype}/… not yet on target {self.target.name}")
            return f"{rtype}/{found[0]}"
        return resolve


def entry_request(write: Write, ctx: SendContext) -> tuple[Json, Json] | None:
    """``(request, resource-id-patch)`` for a transaction/batch entry; None: nothing to send."""
    if write.key in ctx.done:
        return None
    known = ctx.remote(write.key)
    rtype = write.resource_type
    if write.kind == "delete":
        url = f"{rtype}/{known[0]}" if known else f"{rtype}?{write.condition}"
        return {"method": "DELETE", "url": url}, {}
    if write.kind == "create":
        if known:
            return None
        return {"method": "POST", "url": rtype, "ifNoneExist": write.condition}, {}
    if known:
        request: Json = {"method": "PUT", "url": f"{rtype}/{known[0]}"}
        if known[1]:
            request["ifMatch"] = f'W/"{known[1]}"'
        return request, {"id": known[0]}
    return {"method": "PUT", "url": f"{rtype}?{write.condition}"}, {}


def _sources(writes: Sequence[Write], in_chunk: dict[str, str], ctx: SendContext) -> list[str]:
    out = []
    for w in writes:
        if w.resource_type == "QuestionnaireResponse" and w.kind != "delete":
            if w.key in in_chunk:
                out.append(in_chunk[w.key])
            elif (found := ctx.remote(w.key)) is not None:
                out.append(f"QuestionnaireResponse/{found[0]}")
    return out


def _provenance_entry(targets: list[str], sources: list[str], ctx: SendContext, chunk: int,
                      keys: Sequence[str]) -> Json:
    """Chunk ``chunk`` of the plan with writes ``keys`` (sent now or not): a retry of the same entries gets
    the same id however much went through before, so it updates that Provenance instead of adding one."""
    pid = provenance_id(ctx.target.name, ctx.entry_ids, chunk, keys) if ctx.target.client_ids else None
    ctx.provenances += 1
    body = provenance(targets, sources, ctx.now(), pid)
    request = {"method": "PUT", "url": f"Provenance/{pid}"} if pid else {"method": "POST", "url": "Provenance"}
    return {"fullUrl": urn_for(f"Provenance/{pid or ctx.provenances}"), "resource": body, "request": request}


def send_transaction_chunk(chunk: Sequence[Write], plan: Sequence[Write], ctx: SendContext) -> None:
    live = [w for w in chunk if w.key not in ctx.overrides.dropped]
    in_chunk = {w.key: urn_for(w.key) for w in live if w.kind != "delete"}
    resolve = ctx.resolver(in_chunk)
    entries: list[Json] = []
    sent: list[Write] = []
    for w in live:
        req = entry_request(w, ctx)
        if req is None:
            in_chunk.pop(w.key, None)
            continue
        request, patch = req
        entry: Json = {"fullUrl": urn_for(w.key), "request": request}
        if w.kind != "delete":
            entry["resource"] = {**rewrite_references(w.resource, resolve), **patch}
        entries.append(entry)
        sent.append(w)
    if not entries:
        return
    targets = [in_chunk[w.key] for w in sent if w.key in in_chunk] + _created_before(live, sent, ctx)
    if targets:
        keys = [chunk[0].key]  # a chunk split after a refusal keeps its Provenance in its first half (chunking.py)
        entries.append(_provenance_entry(targets, _sources(plan, in_chunk, ctx), ctx, 0, keys))
    response = ctx.server.transaction({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    _record_bundle_response(sent, response.body or {}, ctx)


def _record_bundle_response(sent: Sequence[Write], body: Json, ctx: SendContext) -> None:
    answers = body.get("entry", [])
    failure: FhirError | None = None
    for w, answer in zip(sent, answers, strict=False):
        resp = answer.get("response", {})
        status = int(str(resp.get("status", "0")).split(" ")[0] or 0)
        if not 200 <= status < 300:
            if failure is None:
                failure = _entry_failure(status, resp, w)
            continue
        if w.kind == "delete":
            continue
        res = answer.get("resource") or {}
        loc = parse_location(resp.get("location"), resp.get("etag"))
        rid = loc[1] if loc else res.get("id")
        version = (loc[2] if loc else None) or res.get("meta", {}).get("versionId")
        if rid:
            ctx.record(w, w.resource_type, str(rid), str(version) if version else None)
    if failure is not None:
        raise failure
    if len(answers) < len(sent):  # a batch- or transaction-response has one entry per request: some are unknown
        raise RetryableError(f"the answer has {len(answers)} entries for {len(sent)} requests")


def _entry_failure(status: int, resp: Json, write: Write) -> FhirError:
    return classify(status, {}, resp.get("outcome"), f"{write.resource_type} entry")


def send_batch(plan: Sequence[Write], ctx: SendContext) -> None:
    for group in levels([w for w in plan if w.key not in ctx.overrides.dropped]):
        resolve = ctx.resolver({})
        entries, sent = [], []
        for w in group:
            req = entry_request(w, ctx)
            if req is None:
                continue
            request, patch = req
            entry: Json = {"request": request}
            if w.kind != "delete":
                entry["resource"] = {**rewrite_references(w.resource, resolve), **patch}
            entries.append(entry)
            sent.append(w)
        if entries:
            bundle = {"resourceType": "Bundle", "type": "batch", "entry": entries}
            _annotated(partial(_send_batch_bundle, bundle, sent, ctx), sent)
    _send_final_provenance(plan, ctx)


def send_individually(plan: Sequence[Write], ctx: SendContext) -> None:
    resolve = ctx.resolver({})
    for w in plan:
        if w.key in ctx.overrides.dropped:
            continue
        req = entry_request(w, ctx)
        if req is None:
            continue
        request, patch = req
        if w.kind == "delete":
            known = ctx.remote(w.key)
            if known:
                _annotated(partial(ctx.server.delete, w.resource_type, known[0]), [w])
            ctx.done.add(w.key)
            continue
        body = {**rewrite_references(w.resource, resolve), **patch}
        response = _annotated(partial(_single, body, request, ctx), [w])
        loc = parse_location(response.location, response.etag)
        res = response.body or {}
        rid = (loc[1] if loc else None) or res.get("id")
        version = (loc[2] if loc else None) or res.get("meta", {}).get("versionId")
        if rid:
            ctx.record(w, w.resource_type, str(rid), str(version) if version else None)
    _send_final_provenance(plan, ctx)


def _created_before(writes: Sequence[Write], sent: Sequence[Write], ctx: SendContext) -> list[str]:
    """On a retry, the creates skipped because the target holds them: an earlier attempt may have created
    them under the same Provenance, which this attempt's version must keep naming."""
    if not ctx.retry:
        return []
    out, sent_keys = [], {w.key for w in sent}
    for w in writes:
        if w.kind == "create" and w.key not in sent_keys and (known := ctx.remote(w.key)) is not None:
            out.append(f"{w.resource_type}/{known[0]}")
    return out


def _send_final_provenance(plan: Sequence[Write], ctx: SendContext) -> None:
    targets = _created_before([w for w in plan if w.key not in ctx.results], [], ctx)
    for w in plan:
        if w.kind != "delete" and w.key in ctx.results:
            rid, ver = ctx.results[w.key]
            targets.append(f"{w.resource_type}/{rid}" + (f"/_history/{ver}" if ver else ""))
    if not targets:
        return
    entry = _provenance_entry(targets, _sources(plan, {}, ctx), ctx, 0, [w.key for w in plan])
    body = entry["resource"]
    if "id" in body:
        ctx.server.update(body)
    else:
        ctx.server.create(body)


def _send_batch_bundle(bundle: Json, sent: Sequence[Write], ctx: SendContext) -> None:
    _record_bundle_response(sent, ctx.server.transaction(bundle).body or {}, ctx)


def _single(body: Json, request: Json, ctx: SendContext) -> FhirResponse:
    if request["method"] == "POST":
        return ctx.server.create(body, if_none_exist=request.get("ifNoneExist"))
    condition = request["url"].split("?", 1)[1] if "?" in request["url"] else None
    return ctx.server.update(body, if_match=request.get("ifMatch"), condition=condition)


def _annotated(call: Callable[[], T], writes: Sequence[Write]) -> T:
    """Run ``call``; a ``FhirError`` leaves with ``.writes`` = the writes that were being sent."""
    try:
        return call()
    except FhirError as err:
        err.writes = list(writes)  # type: ignore[attr-defined]
        raise


def failed_writes(err: FhirError) -> list[Write]:
    return list(getattr(err, "writes", []))
