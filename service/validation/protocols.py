"""What the walk of one resource needs from the engine and from the walker, as Protocols.

``engine.py`` builds the engine and runs ``walker.Walker``; the walker and the rule modules it calls
(``slicing``, ``typerules``, ``extensions``, ``references``, ``questionnaire``) see only these Protocols,
so no module below the engine imports it or the walker (no import circle).
"""

from __future__ import annotations

from typing import Any, Protocol

from service.validation.compiler import Compiler, Elem, TypeNode
from service.validation.definitions import Definitions
from service.validation.outcome import Issues
from service.validation.policy import Policy
from service.validation.primitives import PrimitiveSpec
from service.validation.questionnaire_cache import QuestionnaireCache
from service.validation.terminology import Terminology

JSON = dict[str, Any]
#: Issues of already validated complex values, by (element, type, JSON or its digest), each with the stamp
#: of the walk that last used it: ``[issues, stamp]`` (see ``Walker.item``); also the slice a sliced array's
#: item matched, by (element, "#slice", JSON): ``[index or -1, stamp]`` (``slicing._slice_of``).
MemoKey = tuple[int, str, bytes]
Memo = dict[MemoKey, list[Any]]


class Validator(Protocol):
    """The engine as a walk reads it: definitions, compiled trees, terminology and caches."""

    defs: Definitions
    compiler: Compiler
    primitives: dict[str, PrimitiveSpec]
    policy: Policy
    terminology: Terminology
    questionnaires: QuestionnaireCache
    memo: Memo
    #: The names elements share in memo keys (``memo.memo_id``), by what their values' checks read of them.
    memo_ids: dict[tuple[Any, ...], list[int]]
    canonical_kinds: dict[str, str | None]

    def is_resource_type(self, name: str) -> bool: ...

    def nodes_for(self, rtype: str, data: JSON, forced: str | None, path: str, issues: Issues) -> list[TypeNode]: ...


class Walk(Protocol):
    """The walker as the rule modules read it: where it is, what it found, and how to walk one more value."""

    engine: Validator
    issues: Issues
    env: dict[str, Any]
    full_urls: dict[str, str]
    host: tuple[str, str]
    #: The walk's stamp in the memo's entries (``memo.keep_recent``).
    stamp: int

    def item(self, value: Any, elem: Elem, code: str, path: str) -> None: ...
