"""UCUM unit expressions (case-sensitive codes), checked against ucum-essence.xml.

Grammar (UCUM §§ 1-8): a term is components joined by ``.`` or ``/`` (an optional leading ``/``);
a component is an annotation ``{…}``, a parenthesised term, an integer factor, or a simple unit
(an atom, or a prefix and a metric atom) with an optional signed integer exponent, optionally
followed by an annotation. The atoms and prefixes come from ucum-essence.xml.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path

_EXPONENT = re.compile(r"^(.*?)([+-]?\d+)$")


class Ucum:
    def __init__(self, essence: Path) -> None:
        root = ET.parse(essence).getroot()
        self.prefixes = {e.get("Code", "") for e in root.iter("prefix")}
        self.atoms: set[str] = set()
        self.metric: set[str] = set()
        for element in root:
            code = element.get("Code")
            if code is None or element.tag == "prefix":
                continue
            self.atoms.add(code)
            if element.tag == "base-unit" or element.get("isMetric") == "yes":
                self.metric.add(code)
        self.valid = lru_cache(maxsize=4096)(self._valid)

    def _valid(self, code: str) -> bool:
        if not code or any(ch.isspace() for ch in code):
            return False
        text = code[1:] if code.startswith("/") else code
        parts = self._split(text)
        return parts is not None and all(self._component(part) for part in parts)

    @staticmethod
    def _split(term: str) -> list[str] | None:
        """Splits a term at top-level '.' and '/' (not inside [], {} or ())."""
        parts, depth, start = [], 0, 0
        closing = {"[": "]", "{": "}", "(": ")"}
        stack: list[str] = []
        for i, ch in enumerate(term):
            if ch in closing:
                stack.append(closing[ch])
            elif stack and ch == stack[-1]:
                stack.pop()
            elif ch in "]})":
                return None
            elif not stack and ch in "./":
                parts.append(term[start:i])
                start = i + 1
            depth = len(stack)
        if depth:
            return None
        parts.append(term[start:])
        return parts

    def _component(self, part: str) -> bool:
        if not part:
            return False
        if part.endswith("}"):
            opened = part.rfind("{")
            if opened < 0 or "}" in part[opened + 1 : -1]:
                return False
            part = part[:opened]
            if not part:
                return True
        if part.startswith("(") and part.endswith(")"):
            return self._valid(part[1:-1])
        if part.isdigit():
            return True
        if self._simple(part):
            return True
        match = _EXPONENT.match(part)
        return match is not None and bool(match.group(1)) and self._simple(match.group(1))

    def _simple(self, unit: str) -> bool:
        if unit in self.atoms:
            return True
        return any(unit.startswith(p) and unit[len(p) :] in self.metric for p in self.prefixes)
