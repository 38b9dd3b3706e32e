"""Online gambling (judi online) and SEO spam: vocabulary, hidden links, cloaking, gambling links."""
from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable

from scanners.engines.base import (
    JAVASCRIPT,
    MARKUP,
    PHP,
    SCRIPT,
    TEXT,
    FileEngine,
    ScannedFile,
    namespace_of,
    yara_findings,
)
from scanners.engines.registry import register
from scanners.findings import Finding, Severity

# Distinct gambling terms from which a page counts as gambling content; fewer are what news
# about the fight against gambling says.
CONTENT_TERMS = 4
# External links inside one hidden block from which it counts as an SEO link farm.
HIDDEN_LINK_FARM = 10

_TERM_DEFINITION = re.compile(
    r'^\s*\$term\w*\s*=\s*(?:"((?:[^"\\]|\\.)+)"|/((?:[^/\\]|\\.)+)/)', re.M
)
_SEPARATORS = re.compile(r"[\s_+\-]+")
_HIDDEN = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden"
    r"|(?:left|top|text-indent|margin-left)\s*:\s*-\d{3,}(?:px|em|pt)"
    r"|font-size\s*:\s*0(?![.\d])|(?:height|width|max-height)\s*:\s*[01](?:px)?(?![.\d%])"
    r"|opacity\s*:\s*0(?![.\d])|<(?:div|span|p|section)\s[^>]{0,200}\bhidden(?:\s|>|=)"
    r"|<noscript>|<marquee[^>]{0,200}(?:width|height)\s*=\s*['\"]?[01]\b",
    re.I,
)
_LINK = re.compile(
    r"<a\s[^>]{0,400}?href\s*=\s*[\"']?([^\"'\s>]{1,500})[^>]{0,400}>(.{0,300}?)</a\s*>",
    re.I | re.S,
)
_URL = re.compile(r"https?://([A-Za-z0-9.\-]{3,253})", re.I)
_GAMBLING_HOST = re.compile(
    r"slot|gacor|togel|judi|casino|kasino|poker|sbobet|maxwin|jackpot|bet\d|\dbet|domino"
    r"|bandar|mpo\d|zeus|olympus|mahjong|pragmatic|pgsoft|rtp|toto\d|\dtoto|situs",
    re.I,
)
# Government and academic domains are never gambling sites, whatever their names contain.
_TRUSTED_HOSTS = (".go.id", ".ac.id", ".sch.id", ".mil.id", ".desa.id", "wordpress.org", "php.net",
                  "github.com", "mozilla.org", "w3.org")


@register
class JudolEngine(FileEngine):
    """Finds gambling spam, hidden link farms and cloaking."""

    name = "judol"
    rule_files = ("judol.yar", ("judol_php.yar", frozenset({PHP})))
    content_kinds = frozenset({PHP, MARKUP, JAVASCRIPT, SCRIPT, TEXT})

    def __init__(self, extra_rule_files: Iterable[str] = ()) -> None:
        super().__init__(extra_rule_files)
        alternatives: set[str] = set()
        for path in self.rule_paths():
            with open(path, encoding="utf-8") as handle:
                for plain, pattern in _TERM_DEFINITION.findall(handle.read()):
                    alternatives.add(re.escape(plain.lower()) if plain else pattern)
        ordered = sorted(alternatives, key=len, reverse=True)
        self._terms = re.compile("|".join(ordered), re.I) if ordered else None

    def check(self, item: ScannedFile) -> list[Finding]:
        findings = yara_findings(item, self.name)
        vocabulary = [
            match for match in item.matches
            if namespace_of(match) == self.name and match.rule == "judol_vocabulary"
        ]
        terms = {
            _SEPARATORS.sub("", instance.matched_data.decode("latin-1").lower())
            for match in vocabulary for string in match.strings for instance in string.instances
        }
        hidden_marker = any(
            namespace_of(match) == self.name and match.rule == "judol_marker_hidden"
            for match in item.matches
        )
        if not terms and not hidden_marker:
            return findings
        text = item.data.decode("latin-1")
        if terms:
            distinct = _distinct_terms(terms)
            first = min(
                instance.offset for match in vocabulary for string in match.strings
                for instance in string.instances
            )
            if len(distinct) >= CONTENT_TERMS:
                findings.append(item.finding(
                    self.name, "judol_content", Severity.HIGH,
                    f"Konten judi online: {len(distinct)} istilah berbeda "
                    f"({', '.join(sorted(distinct)[:6])})", first))
            else:
                findings.append(item.finding(
                    self.name, "judol_term", Severity.LOW,
                    f"Istilah judi online disebut: {', '.join(sorted(distinct))}", first))
            if any(f.rule.startswith(("judol_cloaking", "judol_bot_check")) for f in findings):
                findings.append(item.finding(
                    self.name, "judol_cloaked_spam", Severity.CRITICAL,
                    "Konten judi online disajikan khusus untuk bot mesin pencari", first))
        findings.extend(self._hidden_links(item, text))
        findings.extend(self._gambling_links(item, text))
        return findings

    def _is_gambling(self, *texts: str) -> bool:
        for text in texts:
            if self._terms is not None and self._terms.search(text):
                return True
        return False

    def _hidden_links(self, item: ScannedFile, text: str) -> list[Finding]:
        findings: list[Finding] = []
        covered = -1
        for hidden in _HIDDEN.finditer(text):
            if hidden.start() < covered:
                continue
            region_start = text.rfind("<", max(0, hidden.start() - 400), hidden.start())
            region = text[max(region_start, hidden.start()): hidden.start() + 4000]
            gambling = 0
            external = 0
            for link in _LINK.finditer(region):
                href, label = link.group(1), re.sub(r"<[^>]*>", "", link.group(2))
                host = urllib.parse.urlsplit(href).hostname or ""
                if host:
                    external += 1
                if self._is_gambling(label, host) or _GAMBLING_HOST.search(host):
                    gambling += 1
            if gambling:
                covered = hidden.start() + 4000
                findings.append(item.finding(
                    self.name, "judol_hidden_link", Severity.CRITICAL,
                    f"Tautan judi online disembunyikan ({hidden.group(0)[:40]}): "
                    f"{gambling} tautan", hidden.start()))
            elif external >= HIDDEN_LINK_FARM:
                covered = hidden.start() + 4000
                findings.append(item.finding(
                    self.name, "seo_hidden_links", Severity.MEDIUM,
                    f"{external} tautan eksternal di dalam blok tersembunyi (spam SEO)",
                    hidden.start()))
        return findings

    def _gambling_links(self, item: ScannedFile, text: str) -> list[Finding]:
        hosts: dict[str, int] = {}
        for url in _URL.finditer(text):
            host = url.group(1).lower().rstrip(".")
            if host.endswith(_TRUSTED_HOSTS) or host in hosts:
                continue
            if _GAMBLING_HOST.search(host):
                hosts[host] = url.start()
        if not hosts:
            return []
        first = min(hosts.values())
        names = ", ".join(sorted(hosts)[:5])
        return [item.finding(self.name, "judol_gambling_link", Severity.HIGH,
                             f"Tautan ke situs judi online: {names}", first)]


def _distinct_terms(terms: set[str]) -> set[str]:
    """Drop terms contained in a longer matched term ("gacor" inside "slot gacor")."""
    return {term for term in terms if not any(term != other and term in other for other in terms)}
