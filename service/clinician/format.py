"""Small display helpers for the templates (plain text; Jinja escapes it)."""

from __future__ import annotations

from typing import Any

from service.clinician.dashboard import display

TITLES = {"etmi-intake": "Intake questionnaire", "etmi-session": "Session log", "etmi-outcome": "Outcome questionnaire"}


def patient_name(patient: dict[str, Any]) -> str:
    for name in patient.get("name", []):
        if isinstance(name, dict):
            text = name.get("text") or " ".join([*name.get("given", []), name.get("family", "")]).strip()
            if text:
                return str(text)
    return "Name not recorded"


def identifiers(patient: dict[str, Any]) -> list[str]:
    return [str(i["value"]) for i in patient.get("identifier", []) if isinstance(i, dict) and i.get("value")]


def questionnaire_title(response: dict[str, Any]) -> str:
    canonical = str(response.get("questionnaire", "")).split("|")[0]
    key = canonical.rsplit("/", 1)[-1]
    return TITLES.get(key, key or "Questionnaire")


def answer(value: dict[str, Any]) -> str:
    for key, raw in value.items():
        if not key.startswith("value"):
            continue
        if key == "valueCoding":
            return display({"coding": [raw]})
        if key == "valueBoolean":
            return "Yes" if raw else "No"
        if key == "valueQuantity" and isinstance(raw, dict):
            return f"{raw.get('value', '')} {raw.get('unit', '')}".strip()
        return f"{raw:g}" if isinstance(raw, float) else str(raw)
    return ""


def number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def signed(value: float | None) -> str:
    return "" if value is None else f"{value:+g}"
