"""Registering a patient by business identifier only (mapped, validated, stored, audited; no outbox entry:
every episode Bundle carries the Patient as a conditional create)."""

from __future__ import annotations

from mappings.bundle import patient_to_fhir
from mappings.domain import Episode, PatientRef
from mappings.errors import MappingError
from service.episodes.checks import error_issues, refused
from service.episodes.model import Caller, Deps, WriteResult, utcnow
from service.security import authz


def register_patient(deps: Deps, system: str, value: str, caller: Caller) -> WriteResult:
    resource = patient_to_fhir(Episode("-", PatientRef(system, value), "2000-01-01"), deps.mapping())
    issues = error_issues(deps.validate(resource, None), "Patient")
    if issues:
        raise MappingError(issues)
    try:
        authz.check_patient_create(caller.patient_limit, resource["id"])
    except authz.Denied as err:
        raise refused(deps, caller, err, "create") from err
    batch = deps.repo.prepare([resource])
    now = utcnow()
    with deps.repo.unit() as unit:
        created = unit.add_patient(resource["id"], system, value, now)
        if created:
            saved = unit.save_resources(batch, now)[0]
            unit.audit([caller.audit("create", "Patient", resource["id"], saved.version_id, resource["id"], now)])
    body = {"id": resource["id"], "system": system, "value": value}
    return WriteResult(201 if created else 200, body, f"/api/v1/patients/{resource['id']}")
