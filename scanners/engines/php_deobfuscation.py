"""PHP deobfuscation: undo the tricks webshells use to hide function names and payloads.

String escapes, chr() building, concatenation, strrev/str_rot13/base64/gzinflate and str_replace
are evaluated where their arguments are literals; long encoded literals are decoded when they turn
out to be PHP. The result is the code as it would read unhidden, with the payloads it carried.
"""
from __future__ import annotations

import base64
import binascii
import codecs
import re
import urllib.parse
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from scanners.engines.php_source import CALLBACK_SINKS, CODE_SINKS, COMMAND_SINKS, keep_newlines

# Names whose appearance as a built string (not written plainly) means someone hid them.
DANGEROUS_NAMES = frozenset(
    CODE_SINKS + COMMAND_SINKS + CALLBACK_SINKS
    + ("base64_decode", "gzinflate", "gzuncompress", "str_rot13", "file_put_contents",
       "move_uploaded_file", "fwrite", "preg_replace", "array_filter", "usort", "uasort")
)

_DQ_ESCAPE = re.compile(r"\"((?:[^\"\\\n]++|\\.)*+)\"")
_ESCAPES = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|u\{[0-9a-fA-F]{1,6}\}|[nrtvef\\$\"])")
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "v": "\v", "e": "\x1b", "f": "\f",
           "\\": "\\", "$": "$", '"': '"'}
_CHR = re.compile(r"\bchr\s*\(\s*(0x[0-9a-fA-F]{1,2}|\d{1,3})\s*\)", re.I)
_CONCAT = re.compile(r"'([^'\\\n]{0,200})'\s*\.\s*'([^'\\\n]{0,200})'")
_CALL_ON_LITERAL = re.compile(
    r"\b(strrev|str_rot13|base64_decode|hex2bin|urldecode|rawurldecode|strtolower|strtoupper"
    r"|ucfirst|trim)\s*\(\s*'([^'\\]{1,100000})'\s*\)",
    re.I,
)
_GZ_ON_BASE64 = re.compile(
    r"\b(gzinflate|gzuncompress|gzdecode)\s*\(\s*base64_decode\s*\(\s*'([A-Za-z0-9+/=\s]{8,})'"
    r"\s*\)\s*\)",
    re.I,
)
_STR_REPLACE = re.compile(
    r"\bstr_replace\s*\(\s*'([^'\\]{1,20})'\s*,\s*'([^'\\]{0,20})'\s*,\s*'([^'\\]{1,2000})'\s*\)",
    re.I,
)
_SUPERGLOBAL_ALIAS = re.compile(
    r"\$\{\s*'(_(?:GET|POST|REQUEST|COOKIE|FILES|SERVER))'\s*\}"
    r"|\$GLOBALS\s*\[\s*'(_(?:GET|POST|REQUEST|COOKIE|FILES|SERVER))'\s*\]"
)
DECODERS = ("strrev", "str_rot13", "base64_decode", "hex2bin", "urldecode", "strtolower",
             "strtoupper", "ucfirst", "trim")
# Triggers are searched in the lower-cased code: far faster than re.I, and a trigger only decides
# whether a step is worth running, so matching a little more than the step would is harmless.
_TRIGGER_ESCAPE = re.compile(
    r"\\(?:x[0-9a-f]|[0-7]{2}|u\{)|\"\s*\.|\.\s*\"|\$\{\s*\"|\(\s*\"[a-z0-9+/=_]{4,}\"\s*\)")
_TRIGGER_CHR = re.compile(r"chr\s*\(")
_TRIGGER_CONCAT = re.compile(r"'\s*\.\s*'")
_TRIGGER_CALL = re.compile(
    r"(?:strrev|str_rot13|base64_decode|hex2bin|urldecode|strtolower|strtoupper|ucfirst|trim)"
    r"\s*\(\s*'")
_TRIGGER_GZ = re.compile(r"gz\w+\s*\(\s*base64_decode")
_TRIGGER_REPLACE = re.compile(r"str_replace\s*\(\s*'")
_TRIGGER_ALIAS = re.compile(r"\$\{|\$globals")
_LONG_LITERAL = re.compile(r"'([A-Za-z0-9+/=\s]{200,})'|\"([A-Za-z0-9+/=\s]{200,})\"")

_SHORT_LITERAL_MAX = 120


@dataclass
class Payload:
    """Text recovered by decoding a literal, with the line where the literal is."""

    line: int
    text: str
    how: str


@dataclass
class Normalized:
    code: str
    changed: bool = False
    built_names: set[str] = field(default_factory=set)
    payloads: list[Payload] = field(default_factory=list)


def decode_escapes(body: str) -> str:
    """Return the text a double-quoted PHP string body stands for (escapes undone)."""

    def one(match: re.Match[str]) -> str:
        token = match.group(1)
        if token[0] == "x":
            return chr(int(token[1:], 16))
        if token[0] == "u":
            return chr(int(token[2:-1], 16))
        if token[0] in "01234567":
            return chr(int(token, 8) & 0xFF)
        return _SIMPLE[token]

    return _ESCAPES.sub(one, body)


def _literal(value: str) -> str | None:
    """Return `value` as a single-quoted PHP literal when it is short plain text, else None."""
    if len(value) > _SHORT_LITERAL_MAX or not value.isprintable() or "'" in value or "\\" in value:
        return None
    return "'" + value + "'"


def _printable_ratio(text: str) -> float:
    if not text:
        return 0.0
    good = sum(1 for ch in text if ch.isprintable() or ch in "\r\n\t")
    return good / len(text)


def decode_call(function: str, argument: str) -> str | None:
    """Return what a decoder (strrev, base64_decode...) makes of a literal; None when it cannot."""
    function = function.lower()
    try:
        if function == "strrev":
            return argument[::-1]
        if function == "str_rot13":
            return codecs.encode(argument, "rot13")
        if function == "base64_decode":
            raw = base64.b64decode(re.sub(r"\s+", "", argument) + "===", validate=False)
            return raw.decode("latin-1")
        if function == "hex2bin":
            return binascii.unhexlify(argument.strip()).decode("latin-1")
        if function in ("urldecode", "rawurldecode"):
            return urllib.parse.unquote_to_bytes(argument).decode("latin-1")
        if function == "strtolower":
            return argument.lower()
        if function == "strtoupper":
            return argument.upper()
        if function == "ucfirst":
            return argument[:1].upper() + argument[1:]
        if function == "trim":
            return argument.strip()
    except (ValueError, binascii.Error):
        return None
    return None


def inflate(raw: bytes) -> bytes | None:
    """Undo gzinflate, gzuncompress or gzdecode, whichever fits; None when none does."""
    for wbits in (-zlib.MAX_WBITS, zlib.MAX_WBITS, zlib.MAX_WBITS | 16):
        try:
            decompressor = zlib.decompressobj(wbits)
            out = decompressor.decompress(raw, 4 * 1024 * 1024)
            if out:
                return out
        except zlib.error:
            continue
    return None


def _line_of(code: str, offset: int) -> int:
    return code.count("\n", 0, offset) + 1


def _substitute(pattern: re.Pattern[str], code: str,
                make: Callable[[re.Match[str]], str | None]) -> tuple[str, bool]:
    changed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal changed
        new = make(match)
        if new is None:
            return match.group(0)
        changed = True
        return new + keep_newlines(match.group(0))

    return pattern.sub(replace, code), changed


def normalize(code: str, max_rounds: int = 4) -> Normalized:
    """Undo string-building tricks in comment-free PHP code, collecting decoded payloads."""
    result = Normalized(code)
    payloads = _Payloads(result)
    # Each step runs only when its trigger is in the file: most files need few of them.
    # A plain substring test comes first; it is far cheaper than the trigger's regex.
    candidates: list[_Step] = [
        (("\\", '"'), _TRIGGER_ESCAPE, _DQ_ESCAPE, _on_double_quoted),
        (("chr",), _TRIGGER_CHR, _CHR, _on_chr),
        (("'",), _TRIGGER_CONCAT, _CONCAT, _on_concat),
        (DECODERS, _TRIGGER_CALL, _CALL_ON_LITERAL, payloads.on_call),
        (("gz",), _TRIGGER_GZ, _GZ_ON_BASE64, payloads.on_gz),
        (("str_replace",), _TRIGGER_REPLACE, _STR_REPLACE, _on_replace),
        (("${", "$globals"), _TRIGGER_ALIAS, _SUPERGLOBAL_ALIAS, _on_alias),
    ]
    _rewrite(result, candidates, max_rounds)
    for match in _LONG_LITERAL.finditer(result.code):
        _decode_blob(match, result, payloads.record)
    if result.changed:
        result.built_names |= _built_names(code, result.code)
    return result


# A rewriting step: the substrings and the regex that say it may apply, what it matches, and what it
# makes of a match (None leaves the match as it is).
_Step = tuple[tuple[str, ...], re.Pattern[str], re.Pattern[str], Callable[[re.Match[str]], str | None]]


def _rewrite(result: Normalized, candidates: list[_Step], max_rounds: int) -> None:
    """Apply the steps whose triggers are in the code, round after round, until nothing changes."""
    for _round in range(max_rounds):
        round_changed = False
        # Triggers are checked again each round: one step's output feeds another's input.
        lower = result.code.lower()
        steps = [(pattern, make) for needles, trigger, pattern, make in candidates
                 if any(needle in lower for needle in needles) and trigger.search(lower)]
        for pattern, make in steps:
            for _repeat in range(32 if pattern is _CONCAT else 1):
                result.code, changed = _substitute(pattern, result.code, make)
                round_changed |= changed
                if not changed:
                    break
        result.changed |= round_changed
        if not round_changed:
            break


def _built_names(original_code: str, code: str) -> set[str]:
    """Return the dangerous function names that appear as literals only once the code was rewritten."""
    original = set(re.findall(r"[a-z_0-9]+", original_code.lower()))
    return {literal.lower() for literal in re.findall(r"'([A-Za-z_][\w]{1,40})'", code)
            if literal.lower() in DANGEROUS_NAMES and literal.lower() not in original}


def _on_double_quoted(match: re.Match[str]) -> str | None:
    body = match.group(1)
    if len(body) > 1000 or "$" in body:
        return None
    return _literal(decode_escapes(body) if "\\" in body else body)


def _on_chr(match: re.Match[str]) -> str | None:
    token = match.group(1)
    value = int(token, 16) if token.lower().startswith("0x") else int(token)
    return _literal(chr(value)) if 32 <= value < 127 else None


def _on_concat(match: re.Match[str]) -> str | None:
    return _literal(match.group(1) + match.group(2))


def _on_replace(match: re.Match[str]) -> str | None:
    return _literal(match.group(3).replace(match.group(1), match.group(2)))


def _on_alias(match: re.Match[str]) -> str | None:
    return "$" + (match.group(1) or match.group(2))


class _Payloads:
    """The steps that decode a payload too long to inline, and the record of the payloads they found."""

    def __init__(self, result: Normalized) -> None:
        self.result = result
        self.seen: set[str] = set()

    def record(self, match: re.Match[str], text: str, how: str) -> None:
        if text in self.seen or len(text) < 16:
            return
        self.seen.add(text)
        self.result.payloads.append(Payload(_line_of(self.result.code, match.start()), text, how))

    def on_call(self, match: re.Match[str]) -> str | None:
        decoded = decode_call(match.group(1), match.group(2))
        if decoded is None:
            return None
        short = _literal(decoded)
        if short is not None:
            return short
        if match.group(1).lower() == "base64_decode":
            raw = decoded.encode("latin-1")
            inflated = inflate(raw)
            if inflated is not None:
                self.record(match, inflated.decode("latin-1"), "base64+inflate")
                return None
        if _printable_ratio(decoded) > 0.9:
            self.record(match, decoded, match.group(1).lower())
        return None

    def on_gz(self, match: re.Match[str]) -> str | None:
        try:
            raw = base64.b64decode(re.sub(r"\s+", "", match.group(2)) + "===")
        except (ValueError, binascii.Error):
            return None
        inflated = inflate(raw)
        if inflated is None:
            return None
        text = inflated.decode("latin-1")
        short = _literal(text)
        if short is None:
            self.record(match, text, "gzinflate(base64_decode)")
        return short


def _decode_blob(match: re.Match[str], result: Normalized,
                 record: Callable[[re.Match[str], str, str], None]) -> None:
    """Try to read a long base64 literal as (compressed, rotated or reversed) PHP."""
    blob = re.sub(r"\s+", "", match.group(1) or match.group(2) or "")
    candidates = [("base64", blob), ("strrev+base64", blob[::-1]),
                  ("rot13+base64", codecs.encode(blob, "rot13"))]
    for how, text in candidates:
        try:
            raw = base64.b64decode(text + "===")
        except (ValueError, binascii.Error):
            continue
        for label, data in ((how, raw), (how + "+inflate", inflate(raw))):
            if not data:
                continue
            decoded = data.decode("latin-1")
            if looks_like_php(decoded):
                record(match, decoded, label)
                return


_PHP_HINT = re.compile(
    r"<\?php|\b(?:eval|assert|system|shell_exec|passthru|base64_decode|gzinflate|preg_replace"
    r"|create_function|move_uploaded_file|file_put_contents|fwrite|exec|popen)\s*\(|\$_(?:GET|POST"
    r"|REQUEST|COOKIE|SERVER|FILES)\b|\$[A-Za-z_]\w*\s*=",
)


def looks_like_php(text: str) -> bool:
    """Return whether decoded text reads like PHP code rather than binary or prose."""
    return _printable_ratio(text[:4096]) > 0.85 and _PHP_HINT.search(text) is not None
