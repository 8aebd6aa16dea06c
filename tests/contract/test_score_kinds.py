"""Every score kind documented in examples/README.md maps to a valid Observation, through the CLI.

One payload with one score of each documented kind goes through ``etmi-fhir map``; the Bundle it prints
goes through ``etmi-fhir validate`` (base R4 and the ETMI profiles). A score recorded outside a
questionnaire has no ``derivedFrom``, which the profiles must accept (the HL7 Physical Activity IG does
not require it on minutes/week either).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mappings.outcome import OBSERVATION_KINDS
from service import cli
from tests.validation.conftest import ensure_definitions

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "examples" / "README.md"


def documented_kinds() -> dict[str, tuple[float, float] | None]:
    """kind -> (low, high) as examples/README.md lists them in the ``scores[]`` row (None: a code)."""
    [row] = [line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("| `scores[]`")]
    rule = row.split("`kind`:", 1)[1]
    kinds: dict[str, tuple[float, float] | None] = {
        k: (float(lo), float(hi)) for k, lo, hi in re.findall(r"`([a-z0-9-]+)` (\d+)\u2013(\d+)", rule)}
    kinds.update({k: None for k in re.findall(r"`([a-z0-9-]+)` \(a stage code\)", rule)})
    return kinds


def value_of(kind: str, limits: tuple[float, float] | None) -> int | str:
    return "action" if limits is None else int((limits[0] + limits[1]) // 2)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_readme_documents_every_score_kind() -> None:
    kinds = documented_kinds()
    assert set(kinds) == set(OBSERVATION_KINDS)
    for key, limits in kinds.items():
        kind = OBSERVATION_KINDS[key]
        assert limits == (None if kind.unit is None else (kind.low, kind.high)), key


def test_one_score_of_every_kind_maps_and_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ensure_definitions()
    scores = [{"score_id": f"s-{key}", "kind": key, "value": value_of(key, limits),
               "effective": "2026-01-05T09:00:00+02:00"} for key, limits in documented_kinds().items()]
    payload: dict[str, Any] = {"episode_id": "EP-KINDS", "patient": {"system": "urn:oid:1.2.3", "value": "P-KINDS"},
                               "start": "2026-01-05", "scores": scores}
    source = tmp_path / "episode.json"
    source.write_text(json.dumps(payload))
    code, out, err = run(capsys, "map", str(source))
    assert code == 0, err
    bundle = json.loads(out)
    observations = {e["resource"]["identifier"][0]["value"]: e["resource"] for e in bundle["entry"]
                    if e["resource"]["resourceType"] == "Observation"}
    for key, kind in OBSERVATION_KINDS.items():
        obs = observations[f"EP-KINDS/score/s-{key}"]
        assert obs["meta"]["profile"] == [kind.profile]
        assert "derivedFrom" not in obs
    target = tmp_path / "bundle.json"
    target.write_text(out)
    code, out, _ = run(capsys, "validate", str(target))
    [outcome] = [json.loads(line) for line in out.splitlines()]
    errors = [(i["expression"], i["diagnostics"]) for i in outcome["issue"] if i["severity"] in ("error", "fatal")]
    assert (code, errors) == (0, [])
