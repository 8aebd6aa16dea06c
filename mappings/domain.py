"""The ETMI domain model: what a clinic records about one episode of care.

Frozen dataclasses, standard library only. Dates and times are FHIR strings (``date`` like
``2026-01-05``; ``dateTime`` with a zone like ``2026-01-05T09:00:00+02:00``), checked when
an episode is read from a payload (``mappings.payload``).
Numbers keep the type they arrived with (int or float) so the FHIR output is faithful.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mappings.canonical import TEST_ID_KEY

AnswerValue = int | float | bool | str
"""One answer: a number, a boolean, a code of an answer option, or free text (open-choice)."""

EpisodeStatus = Literal["active", "completed", "on-hold", "revoked", "entered-in-error"]
GoalLifecycle = Literal[
    "proposed", "planned", "accepted", "active", "on-hold", "completed", "cancelled", "entered-in-error", "rejected"
]
GoalAchievement = Literal[
    "in-progress", "improving", "worsening", "no-change", "achieved", "sustaining", "not-achieved",
    "no-progress", "not-attainable",
]
QuestionnaireKind = Literal["intake", "session", "outcome"]

#: CarePlan.activity.detail.status (FHIR R4 required binding care-plan-activity-status).
ActivityStatus = Literal[
    "not-started", "scheduled", "in-progress", "on-hold", "completed", "cancelled", "stopped", "unknown",
    "entered-in-error",
]

#: Session components a physiotherapist records (keys of ``mappings.careplan.SESSION_COMPONENTS``).
SessionComponent = Literal[
    "reassurance", "pa-counselling", "stage-matched-counselling", "brisk-walk-exposure", "goal-setting", "postcard"
]


@dataclass(frozen=True)
class PatientRef:
    """The patient, by business identifier only: the service keeps no demographics.

    ``id_key`` is the secret key of the Patient's FHIR id (``mappings.refs.patient_id``). It comes from
    the mapping context (``mappings.refs.in_context``), never from a payload; it is left out of
    ``repr`` and of comparisons. Its default is the public test key of the golden files.
    """

    system: str
    value: str
    id_key: bytes = field(default=TEST_ID_KEY, repr=False, compare=False)


@dataclass(frozen=True)
class Session:
    """One physiotherapy session; the episode's session count is the number of these."""

    number: int
    performed: str
    etmi_delivered: bool
    components: tuple[SessionComponent, ...] = ()


@dataclass(frozen=True)
class ActivityGoal:
    """A leisure-time physical activity goal, measured in minutes per week (LOINC 82290-8)."""

    goal_id: str
    description: str
    target_minutes_per_week: int
    start: str
    due: str | None = None
    lifecycle_status: GoalLifecycle = "active"
    achievement_status: GoalAchievement | None = None


@dataclass(frozen=True)
class QuestionnaireAnswers:
    """Answers to one ETMI Questionnaire, by linkId. A linkId may hold several answers (repeats)."""

    response_id: str
    questionnaire: QuestionnaireKind
    authored: str
    answers: tuple[tuple[str, tuple[AnswerValue, ...]], ...]
    status: Literal["completed", "amended", "in-progress"] = "completed"

    def answer_map(self) -> dict[str, tuple[AnswerValue, ...]]:
        return dict(self.answers)


@dataclass(frozen=True)
class OutcomeScore:
    """A score recorded outside a questionnaire (e.g. imported from the clinic system).

    ``kind`` is a key of ``mappings.outcome.OBSERVATION_KINDS``; ``value`` is a number, or a stage
    code for ``ttm-stage``.
    """

    score_id: str
    kind: str
    value: int | float | str
    effective: str


@dataclass(frozen=True)
class Episode:
    """One ETMI episode of care for chronic low back pain, typically 2-4 sessions."""

    episode_id: str
    patient: PatientRef
    start: str
    status: EpisodeStatus = "active"
    end: str | None = None
    sessions: tuple[Session, ...] = ()
    responses: tuple[QuestionnaireAnswers, ...] = ()
    goals: tuple[ActivityGoal, ...] = ()
    scores: tuple[OutcomeScore, ...] = ()
    #: CarePlan activity statuses a clinician set (in the EHR or the API); they replace the statuses
    #: derived from the sessions, for those components only.
    activity_statuses: tuple[tuple[SessionComponent, ActivityStatus], ...] = ()


@dataclass(frozen=True)
class CarePlanState:
    """What an EHR may change on an ETMI CarePlan: the plan's status, end and activity statuses."""

    episode_id: str
    status: EpisodeStatus
    end: str | None
    activities: tuple[tuple[SessionComponent, str], ...]
