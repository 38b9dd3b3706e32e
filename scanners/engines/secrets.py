"""Secrets shipped with an application: keys, cloud tokens, .env files, database dumps."""
from __future__ import annotations

import dataclasses
import re

from scanners.engines.base import (
    JAVASCRIPT,
    MARKUP,
    PHP,
    SCRIPT,
    TEXT,
    FileEngine,
    ScannedFile,
    yara_findings,
)
from scanners.engines.registry import register
from scanners.findings import Finding, Severity

_ENV_TEMPLATES = ("example", "sample", "dist", "template", "tpl", "defaults", "default")
_SENSITIVE_KEY = re.compile(r"PASS|PWD|SECRET|TOKEN|PRIVATE|CREDENTIAL|(?:^|_)KEY$|API_?KEY|AUTH",
                            re.I)
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*$", re.M)
_PLACEHOLDER = re.compile(
    r"^(?:|null|none|nil|~|\"\"|''|\$\{[^}]*\}|<[^>]*>|your[_\-].*|xx+|\*+|change_?me.*"
    r"|todo|false|true|0|1)$",
    re.I,
)
_KEY_FILE_NAMES = {"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"}
_KEYSTORE_EXTENSIONS = {"p12", "pfx", "jks", "keystore", "kdbx", "ppk"}
_COMPRESSED_DUMP = re.compile(r"\.(?:sql|dump)\.(?:gz|bz2|xz|zip|7z)$|\.dump$", re.I)
_URL_CREDENTIALS = re.compile(r"://[^/\s:@]{1,64}:[^/\s@]{1,128}@")


@register
class SecretsEngine(FileEngine):
    """Finds private keys, cloud credentials, committed .env files and database dumps."""

    name = "secrets"
    rule_files = ("secrets.yar", ("secrets_data.yar", frozenset({PHP, TEXT})))
    content_kinds = frozenset({PHP, MARKUP, JAVASCRIPT, SCRIPT, TEXT})
    checks_every_kind = True

    def check(self, item: ScannedFile) -> list[Finding]:
        return [_redacted(finding) for finding in self._check(item)]

    def _check(self, item: ScannedFile) -> list[Finding]:
        findings = yara_findings(item, self.name)
        filename = item.filename
        if filename == ".env" or (
            filename.startswith(".env.") and not filename.endswith(_ENV_TEMPLATES)
        ):
            findings.extend(self._env_file(item))
        elif filename in _KEY_FILE_NAMES and not any(
            finding.rule == "secret_private_key" for finding in findings
        ):
            findings.append(item.finding(self.name, "secret_key_file", Severity.HIGH,
                                         f"Berkas kunci SSH privat ({filename})"))
        elif item.extension in _KEYSTORE_EXTENSIONS:
            findings.append(item.finding(self.name, "secret_keystore", Severity.MEDIUM,
                                         "Berkas penyimpan kunci/sertifikat privat"))
        elif filename == ".htpasswd":
            findings.append(item.finding(self.name, "secret_htpasswd", Severity.MEDIUM,
                                         "Berkas .htpasswd berisi hash kata sandi"))
        elif filename in (".pgpass", ".my.cnf", ".netrc", ".pypirc", ".npmrc", ".git-credentials"):
            findings.extend(self._credentials_file(item))
        elif filename == "config" and b"[remote" in item.data and _URL_CREDENTIALS.search(
            item.data.decode("latin-1")
        ):
            findings.append(item.finding(self.name, "secret_git_credentials", Severity.HIGH,
                                         "Kata sandi tertulis di URL remote .git/config"))
        if _COMPRESSED_DUMP.search(filename):
            findings.append(item.finding(self.name, "secret_sql_dump", Severity.MEDIUM,
                                         "Dump basis data terkompresi"))
        return findings

    def _env_file(self, item: ScannedFile) -> list[Finding]:
        text = item.data.decode("utf-8", "replace")
        sensitive = []
        first_offset: int | None = None
        for match in _ENV_LINE.finditer(text):
            key, value = match.group(1), match.group(2).strip()
            if not _SENSITIVE_KEY.search(key) or _PLACEHOLDER.match(value.strip("\"'")):
                continue
            sensitive.append(key)
            if first_offset is None:
                first_offset = len(text[: match.start()].encode("utf-8"))
        if sensitive:
            names = ", ".join(sensitive[:6])
            return [item.finding(self.name, "secret_env_file", Severity.HIGH,
                                 f"Berkas .env berisi kata sandi/kunci: {names}", first_offset)]
        return [item.finding(self.name, "secret_env_present", Severity.LOW,
                             "Berkas .env ikut diunggah (tanpa kata sandi yang terisi)")]

    def _credentials_file(self, item: ScannedFile) -> list[Finding]:
        text = item.data.decode("utf-8", "replace")
        if re.search(r"password|_authToken|:[^:\s]+:[^:\s]+:[^:\s]+:\S+|://[^\s:@]+:[^\s@]+@",
                     text, re.I):
            return [item.finding(self.name, "secret_credentials_file", Severity.HIGH,
                                 f"Berkas kredensial {item.filename} berisi kata sandi/token")]
        return []


_ASSIGNED_VALUE = re.compile(r"([=:]\s*['\"]?)([^\s'\",;]{3,})")
_LONG_TOKEN = re.compile(r"[A-Za-z0-9+/_\-]{16,}")


def redact(text: str) -> str:
    """Mask values and token-like strings so a report never repeats the secret it found."""
    text = _ASSIGNED_VALUE.sub(lambda m: m.group(1) + m.group(2)[:2] + "********", text)
    return _LONG_TOKEN.sub(lambda m: m.group(0)[:4] + "********", text)


def _redacted(finding: Finding) -> Finding:
    if finding.snippet is None:
        return finding
    return dataclasses.replace(finding, snippet=redact(finding.snippet))
