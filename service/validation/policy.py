"""Choices R4 leaves to the validator's configuration, with the service's defaults.

The service validates as HAPI's ``$validate`` does by default (unknown extensions accepted, example
URLs accepted, no HTML checks on strings and markdown). The HL7 Java validator's own test harness
sets some of these per case (``allowed-extension-domain``, ``examples``, ``security-checks``,
``noHtmlInMarkdown``) and rejects unknown extensions by default; ``Policy.hl7()`` is that
configuration, used by ``tests/validation/test_hl7_cases.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.validation.outcome import Issues

#: Hosts the HL7 validator treats as example URLs (rejected where examples are not allowed).
EXAMPLE_URL = re.compile(r"https?://(?:[a-z0-9-]+\.)*(?:example\.(?:org|com|net)|acme\.(?:com|org))(?:[/:?#]|$)")
#: Something that looks like an HTML/XML tag: "<" then a letter or "/" then a letter.
TAG = re.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9]*[\s/>]")
URI_TYPES = frozenset({"uri", "url", "canonical"})
STRING_TYPES = frozenset({"string", "markdown"})


@dataclass(frozen=True, slots=True)
class Policy:
    #: "accept" (HAPI) or "error" (HL7 validator) for an extension whose definition is unknown.
    unknown_extensions: str = "accept"
    #: Extension URL prefixes always accepted.
    extension_domains: tuple[str, ...] = ()
    #: Whether example URLs (example.org, acme.com) may be used.
    allow_examples: bool = True
    #: Whether a string that looks like it holds HTML tags is an error (HL7's security checks).
    security_checks: bool = False
    #: Whether markdown that holds HTML tags is an error (HL7's noHtmlInMarkdown).
    no_html_in_markdown: bool = False

    @property
    def checks_text(self) -> bool:
        """Whether any rule here reads primitive values (so the walker must call check_text)."""
        return not self.allow_examples or self.security_checks or self.no_html_in_markdown

    @classmethod
    def hl7(cls) -> Policy:
        """The HL7 validator's defaults (its test harness changes them per case)."""
        return cls(unknown_extensions="error")

    def check_text(self, value: str, code: str, path: str, issues: Issues) -> None:
        if not self.allow_examples and code in URI_TYPES and EXAMPLE_URL.match(value):
            issues.error("value", path, f"Example URLs are not allowed in this context ({value})")
        if self.security_checks and code == "string" and TAG.search(value):
            issues.error("security", path, "The string value contains text that looks like embedded HTML tags")
        if self.no_html_in_markdown and code == "markdown" and TAG.search(value):
            issues.error("value", path, "The markdown contains content that appears to be an embedded HTML tag")
