"""The memo's shortcuts change no result: elements of different profiles share memo entries only when their values'
checks read the same of them, and values walked without the memo (an element whose values never repeat) get the
issues the memo would have given.
"""

from __future__ import annotations

import copy
import gc
import sys
import threading
from typing import Any

from service.validation import Engine
from service.validation.compiler import CORE
from service.validation.memo import MIN_HITS, PROBE, keep_recent, memo_id
from tests.validation import fixtures

ETMI = "http://etmi.example.org/fhir/StructureDefinition/"


def _elem(engine: Engine, url: str, key: str) -> Any:
    node = engine.compiler.structure(url)
    assert node is not None
    return node.keys[key][0]


def test_elements_share_a_memo_name_only_when_their_checks_read_the_same() -> None:
    engine = Engine()
    pain, gad2 = _elem(engine, ETMI + "etmi-observation-pain", "subject"), _elem(engine, ETMI + "etmi-observation-gad2",
                                                                                   "subject")  # fmt: skip
    core = _elem(engine, CORE + "Observation", "subject")
    assert pain is not gad2 and pain.targets == gad2.targets == frozenset({"Patient"})
    shared = memo_id(pain, engine.memo_ids)
    assert shared < 0 and memo_id(gad2, engine.memo_ids) == shared and gad2.memo_use is pain.memo_use
    assert memo_id(core, engine.memo_ids) not in (shared, id(core))  # R4 allows Group, Device, Location too
    identifier = _elem(engine, ETMI + "etmi-observation-pain", "identifier")
    assert identifier.children is not None and memo_id(identifier, engine.memo_ids) == id(identifier)
    engine.add(fixtures.questionnaire())
    assert not engine.memo_ids  # forgotten with the trees they name


def test_a_reference_checked_under_one_profile_is_checked_anew_under_other_targets() -> None:
    engine = Engine()
    base = fixtures.fresh("Observation")
    base["subject"] = {"reference": "Group/g-1"}
    profiled = copy.deepcopy(base)
    plain = copy.deepcopy(base)
    plain["meta"].pop("profile", None)
    plain_issues = [i for i in engine.validate(plain).get("issue", []) if "Group" in i.get("diagnostics", "")]
    profiled_issues = [i for i in engine.validate(profiled).get("issue", []) if "Group" in i.get("diagnostics", "")]
    assert not plain_issues, plain_issues  # R4: a Group may be the subject
    assert [i["expression"] for i in profiled_issues] == [["Observation.subject.reference"]], profiled_issues


def _with_div(resource: dict[str, Any], i: int, bad: bool = False) -> dict[str, Any]:
    text = f"<p>Observation {i}: {'x' * 300}</p>" + ("<script>alert(1)</script>" if bad else "")
    resource["text"] = {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{text}</div>'}
    return resource


def test_values_that_never_repeat_are_walked_without_the_memo_with_the_same_issues() -> None:
    engine, reference = Engine(), Engine()
    for i in range(PROBE + 10):
        engine.validate(_with_div(fixtures.fresh("Observation"), i))
    narratives = [key for key in engine.memo if b"Observation " in key[2] or key[2][:1] == b"\0"]
    assert len(narratives) <= PROBE // MIN_HITS + PROBE, len(narratives)
    text = _elem(engine, ETMI + "etmi-observation-pain", "text")
    assert text.memo_use[2] > 0, "the narrative element should be walked without the memo now"
    before = len(engine.memo)
    bad = _with_div(fixtures.fresh("Observation"), 10_000, bad=True)
    assert engine.validate(bad) == reference.validate(copy.deepcopy(bad))
    assert any("txt-1" in i["diagnostics"] for i in engine.validate(bad)["issue"])
    assert len(engine.memo) == before  # nothing new remembered for that narrative


def test_a_remembered_slice_match_gives_the_issues_a_fresh_match_gives() -> None:
    """Sliced items (Observation.category, slice 'survey') matched once are looked up in the memo afterwards."""
    engine = Engine()
    survey = fixtures.fresh("Observation")["category"][0]
    other = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "exam"}]}
    outcomes = []
    for categories in ([survey], [other], [other, survey], [survey], [other]):
        resource = fixtures.fresh("Observation")
        resource["category"] = copy.deepcopy(categories)
        outcomes.append(engine.validate(resource))
        assert outcomes[-1] == Engine().validate(copy.deepcopy(resource)), categories
    assert any(key[1] == "#slice" for key in engine.memo)
    missing = [i for i in outcomes[1]["issue"] if "Slice category:" in i["diagnostics"]]
    assert missing and not [i for i in outcomes[3]["issue"] if "Slice category:" in i["diagnostics"]], outcomes


def _python_code_in_a_collection(phase: str, info: dict[str, int]) -> None:
    """Stands for a finaliser (a generator's, a socket's ResourceWarning) run by a collection inside C code."""


def test_eviction_while_other_threads_add_entries_never_raises() -> None:
    """A worker's threads share one memo: eviction by one thread while others insert (the 1-in-500 500 error seen
    under gunicorn's threads, "dictionary changed size during iteration") and two threads evicting at once. Threads
    switch as often as CPython allows, and a garbage collection (which runs Python code: finalisers, here a callback)
    starts every 100 allocations, so that any read of the memo other threads can interrupt is interrupted."""
    memo: dict[Any, list[Any]] = {}
    errors: list[BaseException] = []

    def work(base: int) -> None:
        try:
            for n in range(60_000):
                memo[(base, n, b"")] = [(), n]
                if len(memo) >= 2_000:
                    keep_recent(memo)
        except BaseException as error:  # the test reports whatever escaped
            errors.append(error)

    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    sys.setswitchinterval(1e-6)
    gc.set_threshold(100)
    gc.callbacks.append(_python_code_in_a_collection)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
        gc.callbacks.remove(_python_code_in_a_collection)
    assert errors == []
    assert 0 < len(memo) < 2_100
