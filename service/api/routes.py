# mypy: disable-error-code="untyped-decorator"
"""``/api/v1`` blueprints: transport only (parse -> use-case -> serialise)."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask_smorest import Api

from mappings.refs import identifier, resource_id
from service import caller as context
from service.api import audit, items, outbox
from service.api.responses import EpisodeReadSchema, PatientOutSchema, PatientReadSchema, WriteResultSchema, errors
from service.api.routes_common import ApiBlueprint, caller, require_json_body, respond
from service.api.schemas import EpisodeSchema, PatientSchema
from service.caller import audit_record, authorize, authorize_episode, check_stored, current, with_agent
from service.episodes.checks import not_found
from service.episodes.patients import register_patient
from service.episodes.reads import load_episode, load_patient, patient_missing
from service.episodes.writes import EpisodeWriter
from service.errors import ApiError
from service.fhir.respond import json_response

episodes = ApiBlueprint("episodes", __name__, url_prefix="/api/v1/episodes", description="ETMI episodes of care")
patients = ApiBlueprint("patients", __name__, url_prefix="/api/v1/patients",
                     description="Patients, by business identifier only")


episodes.before_request(require_json_body)
patients.before_request(require_json_body)


@episodes.route("", methods=["POST"])
@episodes.arguments(EpisodeSchema())
@episodes.response(201, WriteResultSchema)
@episodes.alt_response(200, schema=WriteResultSchema, description="already stored (idempotent retry)",
                        success=True)
@errors(episodes, write=True)
def post_episode(payload: dict[str, Any]) -> Response:
    """Store a whole episode (idempotent on episode_id and on the Idempotency-Key header)."""
    limit = authorize_episode("c", "create")
    writer = EpisodeWriter(current().episodes)
    return respond(writer.write(payload, "create", with_agent(caller(limit)), request.get_json()))


@episodes.route("/<episode_id>", methods=["PUT"])
@episodes.arguments(EpisodeSchema())
@episodes.response(200, WriteResultSchema)
@errors(episodes, write=True)
def put_episode(payload: dict[str, Any], episode_id: str) -> Response:
    """Replace an episode (If-Match: W/"<version>" guards against lost updates)."""
    limit = authorize_episode("u", "update")
    if payload["episode_id"] != episode_id:
        raise ApiError(422, "episode_id in the body differs from the URL", expression="episode_id")
    writer = EpisodeWriter(current().episodes)
    return respond(writer.write(payload, "replace", with_agent(caller(limit)), request.get_json()))


@episodes.route("/<episode_id>", methods=["GET"])
@episodes.response(200, EpisodeReadSchema)
@errors(episodes)
def get_episode(episode_id: str) -> Response:
    """The stored episode payload, its version (ETag) and the FHIR resources it produced."""
    authorize_episode("r", "read")  # the payload carries every type of the episode
    record = load_episode(current().episodes, episode_id)  # 404 when not stored ...
    check_stored("CarePlan", "r", "read", record.patient_id, episode_id, not_found(episode_id))  # ... or not yours
    plan = resource_id(identifier(record.episode_id, "careplan"))  # the episode's CarePlan (mappings.careplan)
    context.record([audit_record("read", "CarePlan", resource_id=plan, patient_id=record.patient_id)])
    body = {"episode_id": record.episode_id, "version": record.version, "patient_id": record.patient_id,
            "episode": record.data}
    return json_response(body, headers={"ETag": f'W/"{record.version}"'})


@patients.route("", methods=["POST"])
@patients.arguments(PatientSchema())
@patients.response(201, PatientOutSchema)
@patients.alt_response(200, schema=PatientOutSchema, description="already registered", success=True)
@errors(patients, write=True)
def post_patient(payload: dict[str, Any]) -> Response:
    """Register a patient by business identifier (idempotent: the same identifier gives the same id)."""
    limit = authorize("Patient", "c")
    return respond(register_patient(current().episodes, payload["system"], payload["value"], with_agent(caller(limit))))


@patients.route("/<patient_id>", methods=["GET"])
@patients.response(200, PatientReadSchema)
@errors(patients)
def get_patient(patient_id: str) -> Response:
    authorize("Patient", "r", "read")
    found = load_patient(current().episodes, patient_id)  # 404 when not stored ...
    check_stored("Patient", "r", "read", found.id, patient_id, patient_missing(patient_id))  # ... or not yours
    context.record([audit_record("read", "Patient", resource_id=found.id, patient_id=found.id)])
    return json_response({"id": found.id, "system": found.system, "value": found.value,
                          "episodes": found.episode_ids})


def register(api: Api) -> None:
    api.DEFAULT_ERROR_RESPONSE_NAME = None  # errors are OperationOutcomes, documented per operation
    api.register_blueprint(patients)
    api.register_blueprint(episodes)
    api.register_blueprint(items.bp)
    api.register_blueprint(outbox.bp)
    api.register_blueprint(audit.bp)
