"""HL7's official validator test cases (``org.hl7.fhir.testcases:fhir-test-cases``), as the suite runs them.

``scripts/fhir-test-cases`` puts the artifact's ``validator/`` folder in ``.cache/fhir-test-cases``.
Its ``manifest.json`` is the file the HL7 Java harness (``ValidationTests``) reads: one entry per case
with the file, the FHIR version, the packages and supporting files to load, and per validator the
expected outcome (``java.outcome``, an OperationOutcome). The verdict a case expects is "invalid"
when that outcome holds an ``error`` or ``fatal`` issue.

Selected: R4 (``version`` 4.0/4.0.1) JSON cases that are used (``use-test`` not false), in the base
module, load no IG package, need no terminology server (no expected issue carries the
``operationoutcome-issue-server`` extension that tx.fhir.org's answers carry, no ``tx-dependent``) and
do not validate a conformance resource (StructureDefinition, ValueSet, CodeSystem, …). Supporting
Questionnaires, ValueSets and CodeSystems are loaded; a case whose verdict needs a supporting
StructureDefinition given only as a differential (this validator has no snapshot generator) is
listed as excluded with that reason, and so is a ``profile`` step whose profile has no snapshot.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from service.validation import Engine, has_errors
from service.validation.jsonio import JsonProblem, load_json
from service.validation.policy import Policy

ROOT = Path(__file__).resolve().parents[2]
CASES_DIR = Path(os.environ.get("ETMI_FHIR_TEST_CASES", ROOT / ".cache" / "fhir-test-cases"))
SERVER_EXT = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-server"
R4 = frozenset({"4.0", "4.0.1"})
CONFORMANCE = frozenset(
    {
        "StructureDefinition", "ValueSet", "CodeSystem", "CapabilityStatement", "SearchParameter",
        "OperationDefinition", "ImplementationGuide", "ConceptMap", "NamingSystem", "StructureMap",
        "CompartmentDefinition", "GraphDefinition", "TerminologyCapabilities",
    }
)  # fmt: skip
#: Cases whose subject is what the HL7 validator does without a terminology server, although their
#: expected outcome carries no server issue: attachment-tx (hapifhir/org.hl7.fhir.core#1248, the
#: mimetypes binding offline) has ``"data": "..."``, a placeholder that is not base64 and that this
#: validator refuses (listed in docs/validation.md).
TX_ABOUT = frozenset({"attachment-tx"})
JSON = dict[str, Any]


@dataclass
class Case:
    """One validation the suite runs: a file, what to load, and the verdict HL7's harness expects."""

    name: str
    file: str
    invalid: bool
    supporting: list[str] = field(default_factory=list)
    profile: str | None = None
    policy: Policy = field(default_factory=Policy.hl7)


def _expected_invalid(outcome: JSON) -> bool:
    return any(i.get("severity") in ("error", "fatal") for i in outcome.get("issue", []))


def _needs_tx(outcome: JSON) -> bool:
    return any(e.get("url") == SERVER_EXT for i in outcome.get("issue", []) for e in i.get("extension", []))


def _read(name: str) -> Any:
    return load_json((CASES_DIR / name).read_bytes()).value


def _without_snapshot(name: str) -> bool:
    """A supporting file that is a StructureDefinition without a snapshot (or not JSON at all)."""
    if not name.endswith(".json") or not (CASES_DIR / name).is_file():
        return True
    resource = _read(name)
    return resource.get("resourceType") == "StructureDefinition" and not resource.get("snapshot")


def _exclusion(entry: JSON) -> str | None:
    """Why a manifest entry is not run, or None."""
    java = entry.get("java") or {}
    checks = (
        (entry.get("version") not in R4, "not R4"),
        (not entry["file"].endswith(".json"), "not JSON"),
        (entry.get("use-test") is False, "use-test false"),
        (bool(entry.get("module")), "module"),
        (bool(entry.get("packages")) or bool(entry.get("logical")), "IG package / logical model"),
        ("outcome" not in java, "no expected outcome"),
        (bool(entry.get("tx-dependent")) or _needs_tx(java.get("outcome") or {}), "terminology server"),
        (entry["name"] in TX_ABOUT, "about terminology-server behaviour"),
    )
    for failed, reason in checks:
        if failed:
            return reason
    resource = _read(entry["file"])
    if not isinstance(resource, dict) or resource.get("resourceType") in CONFORMANCE:
        return "conformance resource"
    return None


def select() -> tuple[list[Case], dict[str, str]]:
    """The cases to run (base step and runnable profile steps) and the excluded ones with the reason."""
    import orjson

    manifest = orjson.loads((CASES_DIR / "manifest.json").read_bytes())
    cases: list[Case] = []
    excluded: dict[str, str] = {}
    for entry in manifest["test-cases"]:
        reason = _exclusion(entry)
        if reason is not None:
            excluded[entry["name"]] = reason
            continue
        supporting = list(entry.get("supporting") or []) + list(entry.get("profiles") or [])
        claimed = {p.split("|")[0] for p in ((_read(entry["file"]).get("meta") or {}).get("profile") or [])}
        if any(_without_snapshot(s) for s in supporting) and _claims_support(claimed, supporting):
            excluded[entry["name"]] = "needs a snapshot generator (supporting profile is a differential)"
            continue
        usable = [s for s in supporting if not _without_snapshot(s)]
        invalid = _expected_invalid(entry["java"]["outcome"])
        policy = _policy(entry)
        cases.append(Case(entry["name"], entry["file"], invalid, usable, policy=policy))
        step = entry.get("profile")
        if step:
            name = f"{entry['name']}@profile"
            source = step.get("source", "")
            if _without_snapshot(source) or "outcome" not in (step.get("java") or {}):
                excluded[name] = "needs a snapshot generator (profile is a differential)"
            else:
                expected = _expected_invalid(step["java"]["outcome"])
                more = usable + [s for s in step.get("supporting") or [] if not _without_snapshot(s)]
                url = _read(source)["url"]
                cases.append(Case(name, entry["file"], expected, [*more, source], profile=url, policy=policy))
    return cases, excluded


def _policy(entry: JSON) -> Policy:
    """The HL7 harness's settings for a case (ValidationTests: the validator's defaults, then these)."""
    domains = entry.get("allowed-extension-domain")
    return replace(
        Policy.hl7(),
        extension_domains=tuple(domains if isinstance(domains, list) else [domains] if domains else []),
        allow_examples=entry.get("examples", True) is not False,
        security_checks=bool(entry.get("security-checks")),
        no_html_in_markdown=bool(entry.get("noHtmlInMarkdown")),
    )


def _claims_support(claimed: set[str], supporting: list[str]) -> bool:
    """Whether the resource claims (meta.profile) one of the supporting StructureDefinitions."""
    urls = set()
    for name in supporting:
        if name.endswith(".json") and (CASES_DIR / name).is_file():
            urls.add(_read(name).get("url"))
        else:
            return True  # an XML profile: its URL can't be told cheaply, assume the case needs it
    return bool(claimed & urls) or not claimed


_ENGINES: dict[Any, Engine] = {}


def engine_for(case: Case) -> Engine:
    """An engine with the case's settings and supporting files (shared by cases that load the same)."""
    key = (case.policy, tuple(case.supporting))
    if key not in _ENGINES:
        engine = _ENGINES[key] = Engine(policy=case.policy)
        for name in case.supporting:
            engine.add(_read(name))
    return _ENGINES[key]


def verdict(case: Case) -> tuple[bool, JSON]:
    """(rejected?, OperationOutcome) of this validator for a case."""
    try:
        loaded = load_json((CASES_DIR / case.file).read_bytes())
    except JsonProblem as problem:
        outcome = {"resourceType": "OperationOutcome", "issue": [problem.issue()]}
        return True, outcome
    engine = engine_for(case)
    outcome = engine.validate_loaded(loaded, case.profile)
    return has_errors(outcome), outcome
