"""R4 narrative rules (txt-1, txt-2) for ``natives``: the div is XHTML of the allowed elements without scripts or
event attributes, and has some content (R4 "Narrative" page, section 6.4.1; ``htmlChecks()`` in FHIRPath, which
fhirpathpy does not implement). Plain markup is decided by a scan that reads it as the XML parser would; the rest by
the parser (``tests/validation/test_fast_paths.py`` compares the two).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from hashlib import blake2b
from typing import Any

XHTML = "{http://www.w3.org/1999/xhtml}"
#: Elements R4 allows in a narrative (Narrative.div, "Narrative" page, section 6.4.1).
ALLOWED_HTML = frozenset(
    [
        "a",
        "abbr",
        "acronym",
        "b",
        "big",
        "blockquote",
        "br",
        "caption",
        "cite",
        "code",
        "col",
        "colgroup",
        "dd",
        "dfn",
        "div",
        "dl",
        "dt",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "li",
        "ol",
        "p",
        "pre",
        "q",
        "samp",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "tt",
        "ul",
        "var",
    ]
)


#: (txt-1, txt-2) of divs the fast path could not decide, by a digest of the div (bounded; ~100 B each).
_DIV_CACHE: dict[bytes, tuple[bool, bool]] = {}
_DIV_CACHE_LIMIT = 2048
_DIV_OPEN = '<div xmlns="http://www.w3.org/1999/xhtml">'
_DIV_CLOSE = "</div>"
#: A start or end tag without attributes; anything else (attributes, comments, entities, CDATA) is left to
#: the XML parser.
_PLAIN_TAG = re.compile(r"<(/?)([a-z][a-z0-9]*)>")
#: What the fast path leaves to the XML parser in text: markup characters, entity references, and every
#: character XML 1.0 forbids or discourages (controls, surrogates, U+FFFE/U+FFFF).
_NOT_PLAIN = re.compile("[<>&\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_FAST_TAGS = ALLOWED_HTML - {"img"}


def _alternation(words: list[str]) -> str:
    """A regular expression matching exactly ``words``, as a trie (each alternative starts with its own letter)."""
    heads: dict[str, list[str]] = {}
    for word in words:
        if word:
            heads.setdefault(word[0], []).append(word[1:])
    branches = [head + _alternation(tails) for head, tails in sorted(heads.items())]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in words and branches else body


def _content(depth: int) -> str:
    """Text and allowed elements without attributes nested ``depth`` deep (each closed by its own name)."""
    if depth == 0:
        return _ASCII_RUN
    inner = _content(depth - 1)
    return f"{_ASCII_RUN}(?:<(?P<t{depth}>{_alternation(sorted(_FAST_TAGS))})>{inner}</(?P=t{depth})>{_ASCII_RUN})*+"


#: Text that _NOT_PLAIN would pass, for ASCII: no markup characters, no controls but tab, newline and return.
_ASCII_RUN = "[^<>&\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*+"
_GRAMMAR_DEPTH = 5
_PLAIN_ASCII = re.compile(_content(_GRAMMAR_DEPTH))
_ASCII_TEXT = re.compile(r">[ \t\r\n]*+[^< \t\r\n]")
#: The last div decided and its verdict (a reference to the div, not a copy), replaced as one tuple.
_LAST_DIV: list[tuple[str | None, tuple[bool, bool]]] = [(None, (True, True))]


def div_checks(data: Any) -> tuple[bool, bool]:
    """(txt-1, txt-2) for a Narrative: plain markup decided by a scan, anything else by the XML parser."""
    div = data.get("div") if isinstance(data, dict) else None
    if not isinstance(div, str):
        return True, True
    last = _LAST_DIV[0]  # one read: another thread may replace it
    if last[0] is div:  # txt-2 right after txt-1 on the same Narrative
        return last[1]
    found = _plain_div(div)
    if found is None:
        found = _parsed_div(div)
    _LAST_DIV[0] = (div, found)
    return found


def _parsed_div(div: str) -> tuple[bool, bool]:
    key = blake2b(div.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    found = _DIV_CACHE.get(key)
    if found is None:
        if len(_DIV_CACHE) >= _DIV_CACHE_LIMIT:
            _DIV_CACHE.clear()
        found = _DIV_CACHE[key] = _check_div(div)
    return found


def _plain_div(div: str) -> tuple[bool, bool] | None:
    """(True, has text) for an XHTML div of allowed elements without attributes, entities or unusual
    characters, which the XML parser would read the same way; None for anything else. ASCII markup nested at most
    ``_GRAMMAR_DEPTH`` deep is read by one regular expression (the mapping's narratives), the rest by ``_scan_div``."""
    if div.isascii() and div.startswith(_DIV_OPEN) and div.endswith(_DIV_CLOSE):
        end = len(div) - len(_DIV_CLOSE)
        if _PLAIN_ASCII.fullmatch(div, len(_DIV_OPEN), end) is not None:
            # every '>' ends a tag: text with something else than whitespace starts after one (or the div's)
            return True, _ASCII_TEXT.search(div, len(_DIV_OPEN) - 1, end) is not None
    return _scan_div(div)


def _scan_div(div: str) -> tuple[bool, bool] | None:
    """``_plain_div`` by splitting at the tags (any characters, any depth)."""
    if not div.startswith(_DIV_OPEN) or not div.endswith(_DIV_CLOSE):
        return None
    parts = _PLAIN_TAG.split(div[len(_DIV_OPEN) : len(div) - len(_DIV_CLOSE)])
    text = "".join(parts[0::3])
    if _NOT_PLAIN.search(text) is not None:
        return None
    open_tags: list[str] = []
    for i in range(1, len(parts), 3):
        name = parts[i + 1]
        if name not in _FAST_TAGS:
            return None
        if not parts[i]:
            open_tags.append(name)
        elif not open_tags or open_tags.pop() != name:
            return None
    if open_tags:
        return None
    return True, bool(text.strip())


def _check_div(div: str) -> tuple[bool, bool]:
    try:
        root = ET.fromstring(div)
    except ET.ParseError:
        return False, False
    allowed = root.tag == f"{XHTML}div"
    for node in root.iter():
        if (
            not isinstance(node.tag, str)
            or not node.tag.startswith(XHTML)
            or node.tag[len(XHTML) :] not in ALLOWED_HTML
            or any(name.lower().startswith("on") for name in node.attrib)
        ):
            allowed = False
    content = any(
        (node.text or "").strip() or (node.tail or "").strip() or node.tag == f"{XHTML}img" for node in root.iter()
    )
    return allowed, content
