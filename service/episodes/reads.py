"""The read use-cases the views need: a stored episode, a patient with its episodes (404 when not stored)."""

from __future__ import annotations

from service.episodes.checks import not_found
from service.episodes.model import Deps
from service.episodes.ports import EpisodeRecord, PatientRecord
from service.errors import ApiError


def load_episode(deps: Deps, episode_id: str) -> EpisodeRecord:
    record = deps.repo.load(episode_id)
    if record is None:
        raise ApiError(404, not_found(episode_id))
    return record


def patient_missing(patient_id: str) -> str:
    """The one answer for a patient that is not stored or not the caller's to see."""
    return f"patient {patient_id!r} is not known"


def load_patient(deps: Deps, patient_id: str) -> PatientRecord:
    found = deps.repo.patient(patient_id)
    if found is None:
        raise ApiError(404, patient_missing(patient_id))
    return found
