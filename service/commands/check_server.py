"""``etmi-fhir check-server URL``: what an EHR's FHIR endpoint supports for ETMI, before going live.

Reads the CapabilityStatement and ``.well-known/smart-configuration``, reports per ETMI resource type
which interactions the server declares (and what the sync engine would miss), recommends a send
mode, and with ``--smoke`` runs a round trip on a tagged throw-away patient and measures how many entries
one transaction may hold (``service/sync/size_probe.py``), cleaning up after itself.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from service.adapters.fhir_client import FhirClient
from service.adapters.smart_auth import StaticAuth, token_provider
from service.sync.ports import ConflictError, FhirError, Json, NotFoundError, TokenProvider
from service.sync.size_probe import measure
from service.sync.targets import ETMI_TYPES, load_targets

HELP = "check an EHR FHIR server: capabilities per ETMI resource type, SMART configuration, --smoke round trip"
NEEDED = ("read", "create", "update", "search-type")
SMOKE_SYSTEM = "urn:etmi-fhir:smoke-test"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="FHIR base URL")
    parser.add_argument("--targets", help="targets file: take the auth of the target with this base URL")
    parser.add_argument("--bearer", help="static bearer token")
    parser.add_argument("--smoke", action="store_true", help="write, read, update and delete a tagged test patient; "
                        "measure the transaction size limit")
    parser.add_argument("--json", action="store_true", help="machine-readable report")


def capability_report(capabilities: Json, smart: Json | None) -> Json:
    rest: Json = next((r for r in capabilities.get("rest", []) if r.get("mode", "server") == "server"), {})
    by_type = {r.get("type"): r for r in rest.get("resource", [])}
    system = {i.get("code") for i in rest.get("interaction", [])}
    types: dict[str, Any] = {}
    for rtype in ETMI_TYPES:
        res = by_type.get(rtype)
        if res is None:
            types[rtype] = {"declared": False, "interactions": [], "missing": list(NEEDED)}
            continue
        interactions = sorted({i.get("code") for i in res.get("interaction", [])})
        params = {p.get("name") for p in res.get("searchParam", [])}
        types[rtype] = {
            "declared": True, "interactions": interactions,
            "missing": [n for n in NEEDED if n not in interactions],
            "conditional_create": bool(res.get("conditionalCreate")),
            "conditional_update": bool(res.get("conditionalUpdate")),
            "versioning": res.get("versioning"),
            "search_identifier": "identifier" in params or not params,
            "search_lastUpdated": "_lastUpdated" in params or not params,
        }
    mode = "transaction" if "transaction" in system else ("batch" if "batch" in system else "individual")
    return {
        "fhirVersion": capabilities.get("fhirVersion"),
        "software": capabilities.get("software", {}).get("name"),
        "system_interactions": sorted(c for c in system if c),
        "recommended_mode": mode,
        "types": types,
        "smart": _smart_summary(smart),
    }


def _smart_summary(smart: Json | None) -> Json | None:
    if not smart:
        return None
    algs = set(smart.get("token_endpoint_auth_signing_alg_values_supported", []))
    return {
        "token_endpoint": smart.get("token_endpoint"),
        "backend_services": "client_credentials" in smart.get("grant_types_supported", [])
        and "private_key_jwt" in smart.get("token_endpoint_auth_methods_supported", []),
        "algorithms": sorted(algs & {"RS384", "ES384"}),
        "capabilities": smart.get("capabilities", []),
    }


def smoke_test(client: FhirClient) -> list[tuple[str, bool, str]]:
    """Round trip on a tagged throw-away patient; every resource it made is deleted at the end."""
    run = uuid.uuid4().hex[:12]
    tag = {"system": SMOKE_SYSTEM, "code": f"run-{run}"}
    steps: list[tuple[str, bool, str]] = []
    made: list[tuple[str, str]] = []

    def step(name: str, action: Callable[[], str]) -> None:
        try:
            steps.append((name, True, action()))
        except (FhirError, KeyError, ValueError) as err:
            steps.append((name, False, str(err)[:200]))

    patient: Json = {"resourceType": "Patient", "meta": {"tag": [tag]},
                     "identifier": [{"system": SMOKE_SYSTEM, "value": f"patient-{run}"}], "active": False}
    obs: Json = {"resourceType": "Observation", "meta": {"tag": [tag]}, "status": "final",
                 "identifier": [{"system": SMOKE_SYSTEM, "value": f"obs-{run}"}],
                 "code": {"text": "etmi-fhir check-server smoke test (not clinical data)"}}
    cond = f"identifier={SMOKE_SYSTEM}|obs-{run}"
    ids: dict[str, str] = {}

    def create_patient() -> str:
        answer = client.create(patient, if_none_exist=f"identifier={SMOKE_SYSTEM}|patient-{run}")
        ids["Patient"] = _id_of(answer.body, answer.location)
        made.append(("Patient", ids["Patient"]))
        return f"Patient/{ids['Patient']}"

    def conditional_create_twice() -> str:
        obs["subject"] = {"reference": f"Patient/{ids['Patient']}"}
        first = client.create(obs, if_none_exist=cond)
        ids["Observation"] = _id_of(first.body, first.location)
        made.append(("Observation", ids["Observation"]))
        second = client.create(obs, if_none_exist=cond)
        again = _id_of(second.body, second.location)
        if again != ids["Observation"]:
            made.append(("Observation", again))
            raise ValueError("a repeated conditional create made a second resource")
        return f"status {first.status} then {second.status}, same id"

    def update_if_match() -> str:
        current = client.read("Observation", ids["Observation"])
        body = {**(current.body or {}), "status": "amended"}
        client.update(body, if_match=current.etag)
        try:
            client.update(body, if_match=current.etag)
        except ConflictError as err:
            return f"stale If-Match refused with HTTP {err.status}"
        raise ValueError("a stale If-Match was accepted: updates could overwrite EHR edits")

    def delete_all() -> str:
        statuses = []
        for rtype, rid in reversed(made):
            _delete(client, rtype, rid)
            try:
                client.read(rtype, rid)
                statuses.append(f"{rtype} still readable")
            except NotFoundError as err:
                statuses.append(f"{rtype} gone ({err.status})")
        made.clear()
        return ", ".join(statuses)

    step("create tagged patient", create_patient)
    if "Patient" in ids:
        step("conditional create is idempotent", conditional_create_twice)
    if "Observation" in ids:
        step("update with If-Match, stale If-Match refused", update_if_match)
    step("clean up (delete, then read gives 404/410)", delete_all)
    return steps


def transaction_size(client: FhirClient) -> Json:
    """The measured transaction size limit and the ``max_entries`` to configure (None: the default 50 is fine)."""
    try:
        probe = measure(client, SMOKE_SYSTEM, uuid.uuid4().hex[:12])
    except FhirError as err:
        return {"measured": True, "error": str(err)[:200]}
    bound = probe.limit if probe.limit is not None else (probe.accepted if probe.refused else None)
    return {"measured": True, "accepted": probe.accepted, "refused": probe.refused, "status": probe.status,
            "limit": probe.limit, "complete": probe.complete, "seconds": probe.seconds,
            "test_resources": len(probe.made), "deleted": probe.deleted,
            "recommended_max_entries": bound if bound is not None and bound < 50 else None}


def _size_line(size: Json) -> str:
    if not size.get("measured"):
        return "  transaction size: not measured (--smoke measures it)"
    if "error" in size:
        return f"  transaction size: FAIL {size['error']}"
    cleaned = f"; {size['deleted']} of {size['test_resources']} test resources deleted in {size['seconds']} s"
    if size["refused"] is None:
        return f"  transaction size: no limit up to {size['accepted']} entries{cleaned}"
    if size["limit"] is None:
        return (f"  transaction size: {size['accepted']} entries accepted, {size['refused']} refused (time ran out)"
                f"{cleaned}")
    hint = f"; set max_entries = {size['limit']} (a worker also learns it)" if size["recommended_max_entries"] else ""
    return (f"  transaction size: at most {size['limit']} entries ({size['refused']} refused with HTTP "
            f"{size['status']}){hint}{cleaned}")


def _delete(client: FhirClient, rtype: str, rid: str, attempts: int = 3) -> None:
    """Delete, retrying a 409: HAPI can refuse a delete right after a refused update of the same
    resource ("HAPI-0826 ... version constraint failure") while its own write settles."""
    for attempt in range(1, attempts + 1):
        try:
            client.delete(rtype, rid)
            return
        except ConflictError:
            if attempt == attempts:
                raise
            time.sleep(0.5 * attempt)


def _id_of(body: Json | None, location: str | None) -> str:
    if body and body.get("id"):
        return str(body["id"])
    if location:
        parts = [p for p in location.split("/") if p]
        if "_history" in parts:
            parts = parts[: parts.index("_history")]
        return parts[-1]
    raise ValueError("the server returned neither a body nor a Location")


def _auth(args: argparse.Namespace) -> TokenProvider | None:
    if args.bearer:
        return StaticAuth.bearer(args.bearer)
    if args.targets:
        for target in load_targets(args.targets):
            if target.base_url == args.url.rstrip("/"):
                return token_provider(target.auth, target.base_url)
    return None


def run(args: argparse.Namespace) -> int:
    client = FhirClient(args.url, _auth(args))
    try:
        report = capability_report(client.capabilities(), client.smart_configuration())
    except FhirError as err:
        print(f"cannot read {args.url}/metadata: {err}")
        return 2
    report["transaction_size"] = {"measured": False}
    if args.smoke:
        report["smoke"] = [{"step": s, "ok": ok, "detail": d} for s, ok, d in smoke_test(client)]
        report["transaction_size"] = transaction_size(client)
    print(json.dumps(report, indent=1) if args.json else _text(args.url, report))
    size = report["transaction_size"]
    smoke_ok = all(s["ok"] for s in report.get("smoke", [])) and "error" not in size \
        and size.get("deleted") == size.get("test_resources")
    pushable = all(not report["types"][t]["missing"] for t in ETMI_TYPES if t != "Provenance")
    return 0 if smoke_ok and pushable else 1


def _text(url: str, report: Json) -> str:
    lines = [f"{url}: FHIR {report['fhirVersion']} ({report['software'] or 'unknown software'}); "
             f"system interactions {', '.join(report['system_interactions']) or 'none'}; "
             f"recommended mode: {report['recommended_mode']}", _size_line(report["transaction_size"])]
    for rtype, info in report["types"].items():
        if not info["declared"]:
            lines.append(f"  {rtype:22} NOT DECLARED")
            continue
        extra = [k for k in ("conditional_create", "conditional_update") if info[k]]
        missing = f"  MISSING {', '.join(info['missing'])}" if info["missing"] else ""
        lines.append(f"  {rtype:22} {', '.join(info['interactions'])}; {', '.join(extra) or 'no conditional'}{missing}")
    smart = report["smart"]
    if smart:
        algs = ", ".join(smart["algorithms"]) or "no RS384/ES384"
        backend = "yes" if smart["backend_services"] else "no"
        lines.append(f"  SMART: token {smart['token_endpoint']}; backend services {backend}; {algs}")
    else:
        lines.append("  SMART: none")
    for s in report.get("smoke", []):
        lines.append(f"  smoke {'ok  ' if s['ok'] else 'FAIL'} {s['step']}: {s['detail']}")
    return "\n".join(lines)
