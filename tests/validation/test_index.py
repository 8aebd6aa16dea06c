"""The definitions index is data only: nothing in the definitions folder is executed on load."""

from __future__ import annotations

import pickle
from pathlib import Path

import orjson
import pytest

from service.validation.definitions import CORE_FILES, INDEX_NAME, core_dir, load_core
from service.validation.index import FORMAT
from tests.validation.conftest import ensure_definitions


class _Planted:
    """Unpickling this creates a file: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A definitions folder (links to the cached bundles) with its own index built once."""
    ensure_definitions()
    source = core_dir()
    target = tmp_path_factory.mktemp("r4")
    for name in CORE_FILES:
        (target / f"{name}.json").symlink_to(source / f"{name}.json")
    load_core(target)
    return target


def test_a_planted_pickle_is_deleted_unread(folder: Path, tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    planted = folder / "index-3.pickle"
    planted.write_bytes(pickle.dumps(_Planted(marker)))
    defs = load_core(folder)
    assert not marker.exists()
    assert not planted.exists()
    assert "http://hl7.org/fhir/StructureDefinition/Patient" in defs.structures


def test_the_index_is_json_parsed_lazily(folder: Path) -> None:
    raw = (folder / INDEX_NAME).read_bytes()
    header = orjson.loads(raw[: raw.index(b"\n")])
    assert header["format"] == FORMAT
    defs = load_core(folder)
    assert defs.summaries["http://hl7.org/fhir/StructureDefinition/Observation"]["kind"] == "resource"
    observation = defs.structures["http://hl7.org/fhir/StructureDefinition/Observation"]
    assert observation["type"] == "Observation" and observation["elements"]


def test_a_stale_or_broken_index_is_rebuilt(folder: Path) -> None:
    index = folder / INDEX_NAME
    index.write_bytes(b'{"format": "other"}\n{}')
    assert "http://hl7.org/fhir/StructureDefinition/Patient" in load_core(folder).structures
    assert orjson.loads(index.read_bytes().split(b"\n", 1)[0])["format"] == FORMAT
    index.write_bytes(b"\x80\x04not json at all")
    assert "http://hl7.org/fhir/ValueSet/administrative-gender" in load_core(folder).value_sets
