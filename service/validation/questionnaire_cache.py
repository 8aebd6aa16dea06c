"""Each Questionnaire compiled once per engine: its :class:`QItem` trees and the linkIds its enableWhens read,
keyed by (url, version, id) and recompiled when a different dict arrives under the same key."""

from __future__ import annotations

from typing import Any

from service.validation.questionnaire_items import QItem, compile_items, watched_links

JSON = dict[str, Any]
Compiled = tuple[dict[str, tuple[int, QItem]], frozenset[str]]


class QuestionnaireCache:
    def __init__(self) -> None:
        self._found: dict[tuple[Any, Any, Any], tuple[JSON, Compiled]] = {}

    def compiled(self, questionnaire: JSON) -> Compiled:
        """The compiled items of a Questionnaire and the linkIds its enableWhens read."""
        key = (questionnaire.get("url"), questionnaire.get("version"), questionnaire.get("id"))
        found = self._found.get(key)
        if found is None or found[0] is not questionnaire:
            items = compile_items(questionnaire.get("item") or [])
            found = self._found[key] = (questionnaire, (items, watched_links(items)))
        return found[1]
