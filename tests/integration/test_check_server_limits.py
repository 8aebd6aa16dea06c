"""``etmi-fhir check-server --smoke`` measures the transaction size limit it recommends, on Medplum (8 entries
when one is conditional) and HAPI (no limit in the project's server), and deletes its test resources."""

from __future__ import annotations

import json

import pytest

from service.cli import main


def test_check_server_smoke_measures_the_transaction_size_limit(
    ehr_url: tuple[str, str], capsys: pytest.CaptureFixture[str],
) -> None:
    name, base = ehr_url
    assert main(["check-server", base, "--smoke", "--json"]) == 0
    size = json.loads(capsys.readouterr().out)["transaction_size"]
    assert size["measured"] and size["complete"] and "error" not in size
    assert size["deleted"] == size["test_resources"] == size["accepted"], "every test resource deleted"
    if name == "medplum":
        assert (size["limit"], size["refused"], size["status"], size["recommended_max_entries"]) == (8, 9, 400, 8)
    else:
        assert (size["accepted"], size["refused"], size["recommended_max_entries"]) == (64, None, None)
    assert main(["check-server", base]) == 0
    assert "transaction size: not measured (--smoke measures it)" in capsys.readouterr().out
