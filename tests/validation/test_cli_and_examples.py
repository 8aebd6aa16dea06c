"""The ``etmi-fhir validate`` command, the library entry point and the project's own examples."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from service import cli
from service.validation import Engine, validate
from tests.validation import fixtures

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "profiles" / "package" / "example").glob("[A-Z]*.json"))
QUESTIONNAIRES = sorted((ROOT / "profiles" / "package").glob("Questionnaire-*.json"))


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]]]:
    code = cli.main(["validate", *args])
    lines = capsys.readouterr().out.splitlines()
    return code, [orjson.loads(line) for line in lines]


@pytest.mark.parametrize("path", EXAMPLES + QUESTIONNAIRES, ids=lambda p: p.name)
def test_project_examples_pass(engine: Engine, path: Path) -> None:
    outcome = engine.validate(orjson.loads(path.read_bytes()))
    assert [i for i in outcome["issue"] if i["severity"] == "error"] == []


def test_library_entry_point() -> None:
    outcome = validate(fixtures.fresh("Patient"))
    assert outcome["resourceType"] == "OperationOutcome"
    assert all(i["severity"] != "error" for i in outcome["issue"])


def test_cli_ndjson_in_order_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_bytes(orjson.dumps(fixtures.fresh("Observation")))
    broken = fixtures.fresh("Observation")
    broken["status"] = "bogus"
    bad.write_bytes(orjson.dumps(broken))
    code, outcomes = run_cli([str(good)], capsys)
    assert code == 0 and len(outcomes) == 1
    code, outcomes = run_cli([str(good), str(bad)], capsys)
    assert code == 1 and len(outcomes) == 2
    assert outcomes[0]["issue"][0]["severity"] == "information"
    assert outcomes[1]["issue"][0]["expression"] == ["Observation.status"]


def test_cli_bundle_prefixes_entries(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = fixtures.bundle()
    bundle["entry"][1]["resource"]["valueQuantity"]["value"] = "6"
    path = tmp_path / "bundle.json"
    path.write_bytes(orjson.dumps(bundle))
    code, outcomes = run_cli([str(path)], capsys)
    expressions = [i["expression"][0] for i in outcomes[0]["issue"] if i["severity"] == "error"]
    assert code == 1
    assert "Bundle.entry[1].resource.valueQuantity.value" in expressions


def test_cli_stdin_and_forced_profile(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    resource = fixtures.fresh("Observation")
    del resource["meta"]["profile"]
    del resource["identifier"]
    stdin = io.TextIOWrapper(io.BytesIO(orjson.dumps(resource)))
    monkeypatch.setattr(sys, "stdin", stdin)
    code, _ = run_cli(["-"], capsys)
    assert code == 0  # base R4 only: identifier is optional
    stdin = io.TextIOWrapper(io.BytesIO(orjson.dumps(resource)))
    monkeypatch.setattr(sys, "stdin", stdin)
    code, outcomes = run_cli(
        ["--profile", "http://etmi.example.org/fhir/StructureDefinition/etmi-observation-pain", "-"], capsys
    )
    assert code == 1
    assert "Observation.identifier" in [i["expression"][0] for i in outcomes[0]["issue"]]


def test_cli_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", str(tmp_path / "missing.json")]) == 2
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    assert cli.main(["validate", str(junk)]) == 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["validate"])
    assert exc.value.code == 2
    capsys.readouterr()


def test_cli_byte_order_mark_and_duplicate_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A UTF-8 BOM is skipped (the file is valid); a name appearing twice in an object is an error
    at that object's path (R4: names SHALL be unique), not a silently kept last value."""
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + orjson.dumps(fixtures.fresh("Observation")))
    code, outcomes = run_cli([str(bom)], capsys)
    assert code == 0, outcomes
    text = orjson.dumps(fixtures.fresh("Observation")).decode()
    twice = tmp_path / "twice.json"
    twice.write_text(text.replace('"status":"final"', '"status":"bogus","status":"final"', 1))
    code, outcomes = run_cli([str(twice)], capsys)
    assert code == 1
    assert ["Observation.status", "Duplicate JSON property name 'status' (names SHALL be unique)"] in [
        [i["expression"][0], i["diagnostics"]] for i in outcomes[0]["issue"]
    ]
    nested = tmp_path / "nested.json"
    nested.write_text(text.replace('"value":6', '"value":6,"value":7', 1))
    code, outcomes = run_cli([str(nested)], capsys)
    assert code == 1
    assert "Observation.valueQuantity.value" in [i["expression"][0] for i in outcomes[0]["issue"]]


def test_unknown_profile_is_a_warning(engine: Engine) -> None:
    resource = fixtures.fresh("Patient")
    resource["meta"]["profile"] = ["http://example.org/StructureDefinition/unknown"]
    issues = engine.validate(resource)["issue"]
    assert any(i["severity"] == "warning" and "unknown" in i["diagnostics"] for i in issues)


def test_r4_extension_value_types(engine: Engine) -> None:
    """R4 allows valueMeta in extensions (R4B does not); R4B's valueCodeableReference is not R4."""
    resource = fixtures.fresh("Patient")
    resource["extension"] = [{"url": "http://example.org/x", "valueMeta": {"versionId": "1"}}]
    assert all(i["severity"] != "error" for i in engine.validate(resource)["issue"])
    resource["extension"] = [{"url": "http://example.org/x", "valueCodeableReference": {"concept": {"text": "x"}}}]
    assert any(i["severity"] == "error" for i in engine.validate(resource)["issue"])


def test_missing_definitions_message(tmp_path: Path) -> None:
    from service.validation.definitions import DefinitionsMissing

    with pytest.raises(DefinitionsMissing, match="scripts/r4-definitions"):
        Engine(tmp_path)


def test_models_second_line_agrees_on_fixtures() -> None:
    """fhir.resources R4B as a second line: nothing extra on valid fixtures; it sees lax coercion too."""
    checked = Engine(models=True)
    checked.add(fixtures.questionnaire())
    for name in [*fixtures.BUILDERS, "Bundle"]:
        assert all(i["severity"] != "error" for i in checked.validate(fixtures.fresh(name))["issue"]), name
    resource = fixtures.fresh("Patient")
    resource["extension"] = [{"url": "http://example.org/x", "valueMeta": {"versionId": "1"}}]
    assert all(i["severity"] != "error" for i in checked.validate(resource)["issue"])


def _transaction(subject_index: int) -> dict[str, object]:
    patient = fixtures.fresh("Patient")
    questionnaire = fixtures.fresh("Questionnaire")
    observation = fixtures.fresh("Observation")
    for resource in (patient, questionnaire, observation):
        del resource["meta"]
        del resource["id"]
    urls = ["urn:uuid:8a3e1f52-3f0e-4d6c-9c55-0b1d6c1e7a01", "urn:uuid:8a3e1f52-3f0e-4d6c-9c55-0b1d6c1e7a02"]
    observation["subject"] = {"reference": urls[subject_index]}
    entries = [
        {"fullUrl": url, "resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
        for url, resource in zip(
            [*urls, "urn:uuid:8a3e1f52-3f0e-4d6c-9c55-0b1d6c1e7a03"], [patient, questionnaire, observation], strict=True
        )
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def test_transaction_urn_references_are_typed(engine: Engine) -> None:
    ok = engine.validate(_transaction(0))
    assert [i for i in ok["issue"] if i["severity"] == "error"] == []
    bad = engine.validate(_transaction(1))
    expressions = [i["expression"][0] for i in bad["issue"] if i["severity"] == "error"]
    assert expressions == ["Bundle.entry[2].resource.subject.reference"]


def test_transaction_entries_need_requests(engine: Engine) -> None:
    bundle = _transaction(0)
    del bundle["entry"][0]["request"]  # type: ignore[index]
    errors = [i["diagnostics"] for i in engine.validate(bundle)["issue"] if i["severity"] == "error"]
    assert any("bdl-3" in e for e in errors)


def test_cli_without_definitions_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    resource = tmp_path / "patient.json"
    resource.write_bytes(orjson.dumps(fixtures.fresh("Patient")))
    assert cli.main(["validate", "--definitions", str(tmp_path / "none"), str(resource)]) == 2
    assert "scripts/r4-definitions" in capsys.readouterr().err
