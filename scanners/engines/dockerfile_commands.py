"""What a shell command in a build step does: decode data, write or change files, fetch, run a script.

The commands come from `shell`'s reading of a RUN script; each function here answers one question
about one command (or pipeline) without running anything.
"""
from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Iterable

import scanners.engines.shell as shell
from scanners.engines.php_deobfuscation import decode_escapes

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ash", "ksh", "mksh"})
INTERPRETER = re.compile(r"(?:python[\d.]*|php[\d.]*|perl[\d.]*|ruby[\d.]*|node|nodejs)\Z")
_INLINE_OPTIONS = {"python": ("-c",), "php": ("-r",), "perl": ("-e", "-E"), "ruby": ("-e",),
                   "node": ("-e", "--eval", "-p")}
DOWNLOADERS = frozenset({"curl", "wget", "fetch", "aria2c"})
_DECOMPRESSORS = frozenset({"gunzip", "zcat", "bunzip2", "bzcat", "unxz", "xzcat", "unlzma", "lzcat",
                            "unzstd", "zstdcat", "uudecode", "unlz4", "lz4cat"})
_COMPRESSORS = frozenset({"gzip", "bzip2", "xz", "lzma", "zstd", "lz4", "pigz"})
_ESCAPE_SEQUENCE = re.compile(r"\\(?:x[0-9a-fA-F]{1,2}|0?[0-7]{3})")
# Calls that write files, in inline code of the interpreters above.
WRITE_API = re.compile(
    r"\bopen\s*\([^)]{0,300}['\"][wax]b?\+?['\"]|\.write(?:_text|_bytes)?\s*\(|\bfile_put_contents\s*\("
    r"|\bf(?:write|puts)\s*\(|\bcopy\s*\(|\brename\s*\(|\bsymlink\s*\(|\bshutil\.|\bos\.rename"
    r"|File\.write|writeFileSync|writeFile\s*\(|\bprint\s*\{?\s*\$?\w*\s*[>]", re.I)
# Calls that decode data, in the same languages.
DECODE_API = re.compile(
    r"base64_decode|b64decode|decodebytes|a85decode|gzinflate|gzuncompress|gzdecode|zlib\.decompress"
    r"|bytes\.fromhex|unhexlify|hex2bin|str_rot13|codecs\.decode|atob\s*\(|from\(\s*['\"][^'\"]{0,2000}['\"]\s*,"
    r"\s*['\"](?:base64|hex)|pack\s*\(\s*['\"]H\*|decode_base64|unpack\s*\(\s*['\"]m", re.I)
MAX_PAYLOAD_BYTES = 1024 * 1024


def decoder_of(command: shell.Command) -> str | None:
    """Return how a command decodes its input ("base64 -d"...), or None when it does not."""
    name, arguments = command.name, command.arguments
    short = [word for word in arguments if re.fullmatch(r"-[A-Za-z]+", word)]
    if name in ("base64", "base32", "basenc", "xxd", "openssl") or name in _COMPRESSORS:
        return _decoding_mode(name, arguments, short)
    if name in _DECOMPRESSORS or name == "rev":
        return name
    if name in ("printf", "echo"):
        text = " ".join(arguments)
        if len(_ESCAPE_SEQUENCE.findall(text)) >= 4:
            return f"{name} dengan escape heksadesimal/oktal"
        return None
    if name == "tr" and len(arguments) >= 2 and re.search(r"n-za-m|N-ZA-M", arguments[1]):
        return "tr rot13"
    language = inline_language(command)
    code = inline_code_of(command, language) if language else None
    if code is not None and DECODE_API.search(code) and not WRITE_API.search(code):
        return f"{language} sebaris"
    return None


def _decoding_mode(name: str, arguments: list[str], short: list[str]) -> str | None:
    """Return how an encoder or compressor `name` decodes, when its options ask it to."""
    if name in ("base64", "base32", "basenc"):
        if "--decode" in arguments or any("d" in word or "D" in word for word in short):
            return f"{name} -d"
    elif name == "xxd":
        if any("r" in word for word in short):
            return "xxd -r"
    elif name == "openssl":
        if "-d" in arguments or (arguments[:1] in (["base64"], ["enc"]) and "-d" in short):
            return "openssl -d"
    elif "--decompress" in arguments or "--uncompress" in arguments or any("d" in word for word in short):
        return f"{name} -d"
    return None


def decoded_payload(pipeline: shell.Pipeline, start: int) -> bytes | None:
    """Return the bytes a pipeline decodes from a literal, when it decodes one this module knows."""
    source = pipeline[start - 1] if start > 0 else None
    first = pipeline[start]
    if first.name in ("printf", "echo"):
        data = decode_escapes(" ".join(a for a in first.arguments if not a.startswith("-")))
        raw: bytes | None = data.encode("latin-1", "replace")
        steps = pipeline[start + 1:]
    else:
        if first.stdin is not None:
            literal = first.stdin
        elif source is not None and source.name in ("echo", "printf"):
            literal = " ".join(word for word in source.arguments if not word.startswith("-"))
        else:
            return None
        raw = literal.encode("latin-1", "replace")
        steps = pipeline[start:]
    for command in steps:
        if raw is None or len(raw) > MAX_PAYLOAD_BYTES:
            return None
        decoder = decoder_of(command)
        if decoder is None:
            break
        raw = _apply(decoder, raw)
    return raw


def _apply(decoder: str, raw: bytes) -> bytes | None:
    try:
        if decoder.startswith(("base64", "openssl")):
            return base64.b64decode(re.sub(rb"\s+", b"", raw) + b"===")
        if decoder.startswith("xxd"):
            return binascii.unhexlify(re.sub(rb"[^0-9a-fA-F]", b"", raw))
        if decoder.startswith(("gzip", "gunzip", "zcat", "pigz")):
            return zlib.decompressobj(zlib.MAX_WBITS | 32).decompress(raw, MAX_PAYLOAD_BYTES)
    except (ValueError, binascii.Error, zlib.error):
        return None
    return None


def inline_language(command: shell.Command) -> str | None:
    """Return the language of an interpreter command (python, php...), or None for any other."""
    match = INTERPRETER.match(command.name)
    if match is None:
        return None
    for language in _INLINE_OPTIONS:
        if command.name.startswith(language):
            return language
    return None


def inline_code_of(command: shell.Command, language: str) -> str | None:
    """Return the code an interpreter runs from its command line or standard input, if any."""
    arguments = command.arguments
    for index, word in enumerate(arguments):
        if word in _INLINE_OPTIONS[language] and index + 1 < len(arguments):
            return arguments[index + 1]
        if not word.startswith("-"):
            return None  # a script file: it is in the upload and scanned as such
    return command.stdin


def nested_script(command: shell.Command) -> str | None:
    """Return the script a command hands to another shell (`sh -c`, `eval`, `su -c`)."""
    if command.name in SHELLS:
        arguments = command.arguments
        for index, word in enumerate(arguments):
            if re.fullmatch(r"-[a-z]*c[a-z]*", word) and index + 1 < len(arguments):
                return arguments[index + 1]
        return command.stdin if not operands_of(arguments) else None
    if command.name == "eval":
        return " ".join(command.arguments)
    if command.name == "su" and "-c" in command.arguments:
        index = command.arguments.index("-c")
        return command.arguments[index + 1] if index + 1 < len(command.arguments) else None
    return None


def runs_stdin(command: shell.Command) -> bool:
    """Whether a command in a pipeline runs what it reads as a script."""
    name = command.name
    if name in ("eval", "source", "."):
        return True
    if name not in SHELLS and not INTERPRETER.match(name):
        return name == "xargs" and any(word in SHELLS for word in command.arguments)
    for word in command.arguments:
        if word in ("--", "-"):
            return True
        if word in ("-c", "-r", "-e") or not word.startswith("-"):
            return False
    return True


def written_files(command: shell.Command) -> list[str]:
    """Files a command writes its output to: redirections, tee, dd of=, -o/--output."""
    written = list(command.outputs)
    if command.name == "tee":
        written.extend(operands_of(command.arguments))
    elif command.name == "dd":
        written.extend(word[3:] for word in command.arguments if word.startswith("of="))
    elif command.name not in DOWNLOADERS:
        written.extend(option_values(command.arguments, ("-o", "--output", "-out")))
    return [path for path in written if path and path != "-"]


def modified_files(command: shell.Command) -> list[str]:
    """Files a command writes, moves, edits, removes or changes the mode of."""
    files = written_files(command)
    name, arguments = command.name, command.arguments
    operands = operands_of(arguments)
    if name in ("cp", "mv", "install", "ln", "rsync") and operands:
        files.append(operands[-1])
    elif name in ("sed", "perl") and any(word.startswith("-i") or word.startswith("-pi")
                                         for word in arguments):
        files.extend(operands[1:] if name == "sed" else operands)
    elif name in ("rm", "unlink", "truncate", "touch", "chmod", "chown", "chattr", "mkdir"):
        files.extend(operands)
    return files


def download_targets(command: shell.Command) -> list[str]:
    """Files a curl or wget command saves (none when it writes to standard output)."""
    arguments = command.arguments
    saved = option_values(arguments, ("-o", "--output", "-O", "--output-document"))
    urls = [word for word in arguments if "://" in word]
    if command.name == "curl":
        if any(word in ("-O", "--remote-name") or re.fullmatch(r"-[a-zA-Z]*O", word)
               for word in arguments):
            saved += [url.rstrip("/").rsplit("/", 1)[-1] for url in urls]
        saved = [path for path in saved if path != "-"]
    elif command.name == "wget":
        combined = [word for word in arguments if re.fullmatch(r"-[a-zA-Z]*O-?", word)]
        if any(word.endswith("-") for word in combined) or "-" in saved:
            return []
        if not saved:
            saved = [url.rstrip("/").rsplit("/", 1)[-1] for url in urls]
    return saved + command.outputs


def operands_of(arguments: Iterable[str]) -> list[str]:
    """Return the arguments that are not options."""
    return [word for word in arguments if not word.startswith("-")]


def option_values(arguments: list[str], options: tuple[str, ...]) -> list[str]:
    """Return the values given to any of `options`, as `-o value` or `--option=value`."""
    values = []
    for index, word in enumerate(arguments):
        for option in options:
            if word == option and index + 1 < len(arguments):
                values.append(arguments[index + 1])
            elif option.startswith("--") and word.startswith(option + "="):
                values.append(word[len(option) + 1:])
    return values
