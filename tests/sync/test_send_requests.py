"""What the EHR is sent (service/sync/send.py), in each mode, against the recording fake EHR and the real SQLite
store: deletes by id and without a body, conditional deletes, the EHR's Patient never updated, references
rewritten to the EHR's ids (foreign ones untouched), one Provenance naming what was written and the source
answers, POSTed when the target assigns ids, and a conflict that re-sends only what it must. Written
against the survivors of the send.py mutation run (docs/mutation/send.md)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from service.sync.clock import SystemClock
from service.sync.push import Pusher
from tests.sync.fake_answers import AnswerStyle
from tests.sync.recording import Bench, RecordingEhr, dangling, goal
from tests.sync.support import (
    drain_until_settled,
    enqueue_bundle,
    episode_bundle,
    episode_resources,
    first_of,
    target_for,
    unique_episode,
)

MODES = ["transaction", "batch", "individual"]


@pytest.mark.parametrize("mode", ["transaction", "batch"])
def test_a_delete_goes_by_id_without_a_body_and_the_writes_after_it_are_recorded(tmp_path: Path, mode: str) -> None:
    bench = Bench(tmp_path, mode)
    g1, g2 = goal("g1"), goal("g2")
    bench.enqueue(("PUT", g1), ("PUT", g2))
    bench.push()
    rid1 = bench.history(g1)[-1]["id"]
    bench.ehr.create({k: v for k, v in g1.items() if k != "id"})  # the EHR's own copy, same identifier
    changed = goal("g2", "changed")
    bench.enqueue(("DELETE", g1), ("PUT", changed))
    bench.push()
    assert bench.store.outbox.counts() == {"sent": 2}
    deletes = [e for e in bench.ehr.entries(mode) if e["request"]["method"] == "DELETE"]
    assert [(e["request"], "resource" in e) for e in deletes] == [({"method": "DELETE", "url": f"Goal/{rid1}"}, False)]
    assert bench.ehr.store[("Goal", rid1)][-1] is None, "our Goal is deleted"
    assert sorted(g["description"]["text"] for g in bench.ehr.current("Goal")) == ["changed", "goal g1"], \
        "the EHR's own copy with the same identifier stays"
    assert bench.remote(changed) == (bench.history(changed)[-1]["id"], "2"), "the write after the delete is recorded"
    assert len(bench.ehr.sent("Provenance")[-1]["target"]) == 1, "the Provenance names the update, not the delete"


@pytest.mark.parametrize("mode", ["transaction", "batch"])
def test_a_delete_of_a_resource_never_sent_is_conditional_and_needs_no_provenance(tmp_path: Path, mode: str) -> None:
    bench = Bench(tmp_path, mode)
    g9 = goal("g9")
    bench.ehr.create({k: v for k, v in g9.items() if k != "id"})
    bench.enqueue(("DELETE", g9))
    bench.push()
    assert bench.store.outbox.counts() == {"sent": 1}
    assert [e["request"] for e in bench.ehr.entries(mode)] == [{"method": "DELETE", "url": "Goal?identifier=urn:x|g9"}]
    assert bench.ehr.current("Goal") == []
    assert bench.ehr.sent("Provenance") == [], "nothing was written that a Provenance could name"


@pytest.mark.parametrize("mode", MODES)
def test_the_ehr_patient_is_never_updated_and_a_second_entry_writes_past_it(tmp_path: Path, mode: str) -> None:
    bench, payload = Bench(tmp_path, mode), unique_episode(31)
    patient = first_of(episode_resources(payload), "Patient")
    ehr_patient = bench.ehr.create({**{k: v for k, v in patient.items() if k != "id"}, "name": [{"family": "EHR"}]})
    pid = (ehr_patient.body or {})["id"]
    enqueue_bundle(bench.store, episode_bundle(payload), "p1")
    bench.push()
    changed = copy.deepcopy(payload)
    changed["goals"][0]["target_minutes_per_week"] = 30 + changed["goals"][0].get("target_minutes_per_week", 0)
    enqueue_bundle(bench.store, episode_bundle(changed), "p1", "episode-again")
    bench.push()
    assert bench.store.outbox.counts() == {"sent": 2}
    assert [p["name"] for p in bench.ehr.history("Patient", pid)] == [[{"family": "EHR"}]], "one version, the EHR's"
    new_goal = first_of(episode_resources(changed), "Goal")
    assert bench.history(new_goal)[-1]["target"] == new_goal["target"]
    assert dangling(bench.ehr) == []
    named = [t["reference"] for t in bench.ehr.sent("Provenance")[-1]["target"]]
    assert not [t for t in named if t.startswith(("Patient/", "Observation/", "Procedure/"))], \
        "a first attempt's Provenance names what it wrote, not the creates an earlier entry made"


@pytest.mark.parametrize("mode", MODES)
def test_references_name_the_ehr_ids_and_foreign_ones_go_out_as_they_are(tmp_path: Path, mode: str) -> None:
    bench, payload = Bench(tmp_path, mode), unique_episode(32)
    bundle = episode_bundle(payload)
    goal_entry = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Goal")
    goal_entry["resource"]["expressedBy"] = {"reference": "Practitioner/ehr-7"}
    goal_entry["resource"]["addresses"] = [*goal_entry["resource"].get("addresses", []),
                                           {"reference": "Condition/ehr-9/_history/2"}]
    enqueue_bundle(bench.store, bundle, "p1")
    bench.push()
    assert bench.store.outbox.counts() == {"sent": 1}
    assert dangling(bench.ehr) == [], "every reference to a resource the service sent names the EHR's id"
    stored = bench.ehr.current("Goal")[0]
    assert stored["subject"]["reference"] == f"Patient/{bench.ehr.current('Patient')[0]['id']}"
    assert stored["expressedBy"] == {"reference": "Practitioner/ehr-7"}
    assert stored["addresses"][-1] == {"reference": "Condition/ehr-9/_history/2"}


@pytest.mark.parametrize(("mode", "versioned"), [("transaction", True), ("batch", True), ("batch", False),
                                                 ("individual", True)])
def test_one_provenance_names_what_was_written_and_the_answers_it_came_from(
    tmp_path: Path, mode: str, versioned: bool,
) -> None:
    ehr = RecordingEhr("a", style=AnswerStyle(versioned_location=versioned))
    bench, payload = Bench(tmp_path, mode, ehr), unique_episode(33)
    enqueue_bundle(bench.store, episode_bundle(payload), "p1")
    bench.push()
    written = [r for t in {r["resourceType"] for r in episode_resources(payload)} for r in ehr.current(t)]
    history = "" if mode == "transaction" or not versioned else "/_history/1"
    [prov] = ehr.current("Provenance")
    assert sorted(t["reference"] for t in prov["target"]) == sorted(
        f"{r['resourceType']}/{r['id']}{history}" for r in written)
    answers = sorted(f"QuestionnaireResponse/{q['id']}" for q in ehr.current("QuestionnaireResponse"))
    assert len(answers) == 5
    assert sorted(e["what"]["reference"] for e in prov["entity"]) == answers
    assert {e["role"] for e in prov["entity"]} == {"source"}
    urls = [e.get("fullUrl") for e in ehr.entries()]
    assert all(str(u).startswith("urn:uuid:") for u in urls) and len(set(urls)) == len(urls), \
        "R4: a fullUrl on every transaction entry but a POST's, unique in the Bundle (bdl-7)"


@pytest.mark.parametrize("mode", MODES)
def test_a_deleted_answer_is_not_named_as_a_source(tmp_path: Path, mode: str) -> None:
    bench, payload = Bench(tmp_path, mode), unique_episode(34)
    enqueue_bundle(bench.store, episode_bundle(payload), "p1")
    bench.push()
    resources = episode_resources(payload)
    answer, old_goal = first_of(resources, "QuestionnaireResponse"), first_of(resources, "Goal")
    bench.enqueue(("DELETE", answer), ("PUT", {**old_goal, "description": {"text": "changed"}}))
    bench.push()
    assert bench.store.outbox.counts() == {"sent": 2}
    assert "entity" not in bench.ehr.sent("Provenance")[-1], "the only answer in this plan was deleted"


@pytest.mark.parametrize("mode", MODES)
def test_without_client_ids_the_provenance_is_posted_once(tmp_path: Path, mode: str) -> None:
    ehr = RecordingEhr("a", client_ids=False)
    bench = Bench(tmp_path, mode, ehr, client_ids=False)
    enqueue_bundle(bench.store, episode_bundle(unique_episode(35)), "p1")
    bench.push()
    assert bench.store.outbox.counts() == {"sent": 1}
    [prov] = ehr.current("Provenance")
    assert not prov["id"].startswith("etmi-prov-"), "the EHR assigned the id"
    if mode == "transaction":
        assert [e["request"] for e in ehr.entries() if e["resource"]["resourceType"] == "Provenance"] == [
            {"method": "POST", "url": "Provenance"}]
    else:
        assert [k for k, c in ehr.calls if c.get("resource", {}).get("resourceType") == "Provenance"] == ["create"]


def test_a_reference_not_on_the_target_yet_is_retried_saying_so(tmp_path: Path) -> None:
    bench = Bench(tmp_path, "individual")
    bench.enqueue(("PUT", goal("g1", subject={"reference": "Patient/nobody-yet"})))
    bench.push_once()
    [entry] = bench.store.outbox.list("failed")
    assert entry.last_error == "a: reference Patient/… not yet on target a"
    assert bench.ehr.current("Goal") == []


@pytest.mark.parametrize("mode", ["transaction", "individual"])
def test_a_conflict_reads_and_resends_only_what_it_must(tmp_path: Path, mode: str) -> None:
    bench = Bench(tmp_path, mode, max_entries=3, conflicts={"Goal": "service-wins"})  # transactions of 2 goals
    goals = [goal(f"g{i}") for i in range(1, 5)]
    bench.enqueue(*[("PUT", g) for g in goals])
    bench.push()
    rids = [bench.history(g)[-1]["id"] for g in goals]
    bench.ehr.edit("Goal", rids[3], description={"text": "edited in the EHR"})
    bench.enqueue(*[("PUT", goal(g["id"], "ours")) for g in goals])
    bench.push()
    assert bench.store.outbox.counts() == {"sent": 2}
    assert [len(bench.ehr.history("Goal", rid)) for rid in rids] == [2, 2, 2, 3], "each of ours written once"
    assert {h["description"]["text"] for rid in rids for h in bench.ehr.history("Goal", rid)[-1:]} == {"ours"}
    refused = {f"Goal/{rid}" for rid in (rids[2:] if mode == "transaction" else rids[3:])}
    assert f"Goal/{rids[3]}" in bench.ehr.reads and set(bench.ehr.reads) <= refused, \
        "the policy reads only the resources of the refused request"


def test_a_held_write_does_not_stop_the_writes_after_it_nor_repeat_the_ones_before(tmp_path: Path) -> None:
    bench = Bench(tmp_path, "individual")
    g0, g1, g2 = goal("g0"), goal("g1"), goal("g2")
    bench.enqueue(("PUT", g0), ("PUT", g1), ("PUT", g2))
    bench.push()
    rid1 = bench.history(g1)[-1]["id"]
    bench.ehr.edit("Goal", rid1, description={"text": "edited in the EHR"})
    bench.ehr.calls.clear()
    bench.enqueue(("DELETE", g0), ("PUT", goal("g1", "ours")), ("PUT", goal("g2", "ours")))
    reports = bench.push()
    assert sum(r.held for r in reports) == 1, "the Goal the EHR changed is held for a clinician"
    assert [k for k, _c in bench.ehr.calls].count("delete") == 1, "the delete before it is not repeated"
    assert bench.history(g1)[-1]["description"] == {"text": "edited in the EHR"}
    assert bench.history(g2)[-1]["description"] == {"text": "ours"}, "the write after it went out"


def test_a_lost_answer_to_a_delete_is_retried(tmp_path: Path) -> None:
    bench = Bench(tmp_path, "individual")
    g1 = goal("g1")
    bench.enqueue(("PUT", g1))
    bench.push()
    rid = bench.history(g1)[-1]["id"]
    bench.ehr.lose = {bench.ehr.requests + 1}
    bench.enqueue(("DELETE", g1))
    reports = bench.push()
    assert sum(r.retried for r in reports) == 1
    assert bench.store.outbox.counts() == {"sent": 2}
    assert bench.ehr.store[("Goal", rid)][-1] is None


def test_a_failed_send_keeps_the_versions_earlier_transactions_learnt(tmp_path: Path) -> None:
    bench = Bench(tmp_path, "transaction", max_entries=3)
    goals = [goal(f"g{i}") for i in range(1, 5)]
    bench.enqueue(*[("PUT", g) for g in goals])
    bench.push()
    bench.ehr.lose = {bench.ehr.requests + 2}  # the second transaction's answer is lost
    bench.enqueue(*[("PUT", goal(g["id"], "ours")) for g in goals])
    bench.push_once()
    assert bench.store.outbox.counts() == {"sent": 1, "failed": 1}
    assert [(bench.remote(g) or ("", None))[1] for g in goals] == ["2", "2", "1", "1"], \
        "the first transaction's versions are kept for the next attempt's If-Match"


def test_two_targets_on_one_ehr_keep_a_provenance_each(tmp_path: Path) -> None:
    bench, payload = Bench(tmp_path), unique_episode(37)
    conditions = target_for(bench.ehr.base_url, "conditions", push_types=["Condition"])
    goals = target_for(bench.ehr.base_url, "goals", push_types=["Goal"])
    enqueue_bundle(bench.store, episode_bundle(payload), "p1")
    pusher = Pusher(bench.store.outbox, bench.store.id_map, [(conditions, bench.ehr), (goals, bench.ehr)],
                    SystemClock(), "w1", state=bench.store.sync_state)
    drain_until_settled(pusher, bench.store, 20)
    assert bench.store.outbox.counts() == {"sent": 1}
    named = sorted(sorted(t["reference"].split("/")[0] for t in p["target"]) for p in bench.ehr.current("Provenance"))
    assert named == [["Condition", "Patient"], ["Goal", "Patient"]], "each target's writes keep their own Provenance"
