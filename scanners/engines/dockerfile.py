"""App Dockerfiles: build steps that add code the scan never saw, or loosen the container.

An app may bring its own Dockerfile, built on the host FROM a runtime image. A build step can write a
decoded payload into the code tree, fetch code, run as root, replace the runtime image's entrypoint
(which keeps PHP off in writable paths) or change the system's configuration. The engine reads only
files named like Dockerfiles, as BuildKit reads them (parser directives, line continuations,
heredocs, JSON form), and judges each instruction by what it does.
"""
from __future__ import annotations

import base64
import binascii
import json
import posixpath
import re
import shlex
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from scanners.engines import shell
from scanners.engines.base import FileEngine, ScannedFile, has_php_tag
from scanners.engines.php_deobfuscation import decode_escapes, looks_like_php
from scanners.engines.registry import register
from scanners.findings import SNIPPET_CHARS, Finding, Severity
from scanners.intake import FileEntry

# Where the runtime images keep the app, and other places whose files run as code.
DEFAULT_WORKDIR = "/srv/app"
CODE_DIRECTORIES = ("/srv/app", "/var/www", "/usr/share/php", "/usr/lib/cgi-bin", "/usr/local/lib/php",
                    "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
CODE_EXTENSIONS = frozenset({"php", "php3", "php4", "php5", "php7", "php8", "phtml", "pht", "phar",
                             "phps", "inc"})
# System configuration: the web server, PHP, accounts, scheduled jobs, the runtime image's own files.
SYSTEM_PATHS = ("/etc/apache2", "/etc/nginx", "/etc/wadah", "/etc/php", "/usr/local/etc/php",
                "/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/sudoers",
                "/etc/cron", "/var/spool/cron", "/etc/ld.so.preload", "/etc/profile",
                "/etc/bash.bashrc", "/etc/environment", "/etc/init.d", "/etc/systemd", "/etc/pam.d",
                "/etc/security", "/usr/local/sbin/wadah-entrypoint", "/usr/share/wadah")
SYSTEM_NAMES = frozenset({".htaccess", ".user.ini", "php.ini"})
SYSTEM_COMMANDS = frozenset({"useradd", "adduser", "usermod", "groupadd", "addgroup", "chpasswd",
                             "passwd", "visudo", "crontab", "a2enmod", "a2enconf", "a2ensite",
                             "a2dismod", "a2disconf", "a2dissite", "phpenmod", "phpdismod"})
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ash", "ksh", "mksh"})
_INTERPRETER = re.compile(r"(?:python[\d.]*|php[\d.]*|perl[\d.]*|ruby[\d.]*|node|nodejs)\Z")
_INLINE_OPTIONS = {"python": ("-c",), "php": ("-r",), "perl": ("-e", "-E"), "ruby": ("-e",),
                   "node": ("-e", "--eval", "-p")}
DOWNLOADERS = frozenset({"curl", "wget", "fetch", "aria2c"})
_PACKAGE_FETCH = {"composer": ("install", "require", "update", "create-project"),
                  "npm": ("install", "i", "ci", "add"), "yarn": ("add", "install"),
                  "pnpm": ("add", "install", "i"), "pip": ("install", "download"),
                  "pip3": ("install", "download"), "gem": ("install",), "git": ("clone", "fetch", "pull"),
                  "svn": ("checkout", "co", "export")}
_DECOMPRESSORS = frozenset({"gunzip", "zcat", "bunzip2", "bzcat", "unxz", "xzcat", "unlzma", "lzcat",
                            "unzstd", "zstdcat", "uudecode", "unlz4", "lz4cat"})
_COMPRESSORS = frozenset({"gzip", "bzip2", "xz", "lzma", "zstd", "lz4", "pigz"})
_ESCAPE_SEQUENCE = re.compile(r"\\(?:x[0-9a-fA-F]{1,2}|0?[0-7]{3})")
_WRITE_API = re.compile(
    r"\bopen\s*\([^)]{0,300}['\"][wax]b?\+?['\"]|\.write(?:_text|_bytes)?\s*\(|\bfile_put_contents\s*\("
    r"|\bf(?:write|puts)\s*\(|\bcopy\s*\(|\brename\s*\(|\bsymlink\s*\(|\bshutil\.|\bos\.rename"
    r"|File\.write|writeFileSync|writeFile\s*\(|\bprint\s*\{?\s*\$?\w*\s*[>]", re.I)
_DECODE_API = re.compile(
    r"base64_decode|b64decode|decodebytes|a85decode|gzinflate|gzuncompress|gzdecode|zlib\.decompress"
    r"|bytes\.fromhex|unhexlify|hex2bin|str_rot13|codecs\.decode|atob\s*\(|from\(\s*['\"][^'\"]{0,2000}['\"]\s*,"
    r"\s*['\"](?:base64|hex)|pack\s*\(\s*['\"]H\*|decode_base64|unpack\s*\(\s*['\"]m", re.I)
_PATH_LITERAL = re.compile(r"['\"]((?:/|\./|\.\./)?[\w.\-/]{0,300}\.\w{1,8}|/[\w.\-/]{1,300})['\"]")
_DIRECTIVE = re.compile(r"\s*#\s*([A-Za-z][\w-]*)\s*=\s*(.*?)\s*$")
_FLAGS = re.compile(r"(?:--\S+(?:\s+|\Z))+")
_HEREDOC_MARK = re.compile(r"<<(-?)([\"']?)([A-Za-z_][\w.\-]*)\2")
_SETUID_SYMBOLIC = re.compile(r"[ugoa]*[+=][rwxXt]*s")
_ROOT_USERS = frozenset({"root", "0"})
MAX_DEPTH = 3
MAX_PAYLOAD_BYTES = 1024 * 1024
# A Dockerfile is a page or two; a bigger one is read this far and sent for review.
MAX_DOCKERFILE_BYTES = 256 * 1024
MAX_COMMANDS = 2000  # shell commands read in one Dockerfile, nested scripts included


def is_dockerfile(name: str) -> bool:
    """Return whether a file name is one a build reads as a Dockerfile."""
    base = name.rsplit("/", 1)[-1].lower()
    return base in ("dockerfile", "containerfile") or base.endswith(
        (".dockerfile", ".containerfile")) or base.startswith(("dockerfile.", "containerfile."))


# -- reading a Dockerfile -----------------------------------------------------------------------

@dataclass
class Instruction:
    """One instruction as BuildKit sees it, with the line it starts on."""

    keyword: str
    line: int
    text: str
    flags: list[str] = field(default_factory=list)
    arguments: str = ""
    exec_form: list[str] | None = None
    heredocs: list[tuple[str, str]] = field(default_factory=list)  # (delimiter, body)

    def flag(self, name: str) -> list[str]:
        """Return the values given to `--name=` (a flag may be repeated)."""
        prefix = f"--{name}="
        return [item[len(prefix):] for item in self.flags if item.lower().startswith(prefix)]


@dataclass
class Dockerfile:
    instructions: list[Instruction]
    escape: str = "\\"
    problems: list[tuple[int, str]] = field(default_factory=list)


def parse_dockerfile(text: str) -> Dockerfile:
    """Read a Dockerfile into instructions: directives, continuations, comments and heredocs."""
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    escape = "\\"
    index = 0
    # Parser directives stand at the very top; the first other line ends them.
    while index < len(lines):
        directive = _DIRECTIVE.match(lines[index])
        if directive is None or directive.group(1).lower() not in ("syntax", "escape", "check"):
            break
        if directive.group(1).lower() == "escape" and directive.group(2) in ("\\", "`"):
            escape = directive.group(2)
        index += 1
    result = Dockerfile([], escape)
    while index < len(lines):
        stripped = lines[index].strip()
        if not stripped or stripped.startswith("#"):
            index += 1
            continue
        start = index + 1
        logical: list[str] = []
        while index < len(lines):
            body = lines[index].rstrip()
            index += 1
            if not body.endswith(escape):
                logical.append(lines[index - 1])
                break
            logical.append(body[:-1])
            # Comment and empty lines inside a continued instruction are dropped.
            while index < len(lines) and (not lines[index].strip()
                                          or lines[index].lstrip().startswith("#")):
                index += 1
        instruction, index = _instruction("".join(logical), start, lines, index, result)
        if instruction is not None:
            result.instructions.append(instruction)
    return result


def _instruction(logical: str, line: int, lines: list[str], index: int,
                 result: Dockerfile) -> tuple[Instruction | None, int]:
    parts = logical.strip().split(None, 1)
    if not parts:
        return None, index
    keyword = parts[0].upper()
    rest = parts[1] if len(parts) > 1 else ""
    instruction = Instruction(keyword, line, logical.strip())
    if keyword == "ONBUILD":
        instruction.arguments = rest
        return instruction, index
    if keyword in ("RUN", "COPY", "ADD", "FROM"):
        flags = _FLAGS.match(rest)
        if flags is not None:
            instruction.flags = flags.group(0).split()
            rest = rest[flags.end():]
    instruction.arguments = rest
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            instruction.exec_form = value
    if keyword in ("RUN", "COPY", "ADD") and instruction.exec_form is None:
        for mark in _HEREDOC_MARK.finditer(rest):
            if rest[max(0, mark.start() - 1): mark.start()] == "<":  # a here-string, <<<
                continue
            delimiter, strip_tabs = mark.group(3), mark.group(1) == "-"
            body: list[str] = []
            while True:
                if index >= len(lines):
                    result.problems.append((line, f"heredoc {delimiter} tidak pernah ditutup"))
                    break
                current = lines[index]
                index += 1
                if (current.lstrip("\t") if strip_tabs else current) == delimiter:
                    break
                body.append(current.lstrip("\t") if strip_tabs else current)
            instruction.heredocs.append((delimiter, "\n".join(body) + "\n" if body else ""))
    return instruction, index


# -- judging a build ----------------------------------------------------------------------------

@dataclass
class _Stage:
    name: str
    user: tuple[str, Instruction] | None = None
    overrides: list[Instruction] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    workdir: str = DEFAULT_WORKDIR


@dataclass
class _RunState:
    """What one RUN has made so far: files holding decoded data, files fetched from the network."""

    decoded: set[str] = field(default_factory=set)
    downloaded: set[str] = field(default_factory=set)


class _TooComplex(Exception):
    """The Dockerfile asks for more work than any honest build needs."""

    def __init__(self, instruction: Instruction) -> None:
        super().__init__(instruction.line)
        self.instruction = instruction


class _Build:
    """Walks one Dockerfile's instructions and collects findings."""

    def __init__(self, engine: str, item: ScannedFile) -> None:
        self.engine = engine
        self.item = item
        self.findings: list[Finding] = []
        self.stages: list[_Stage] = []
        self.global_args: dict[str, str] = {}
        self.commands = 0

    def add(self, instruction: Instruction, rule: str, severity: Severity, message: str) -> None:
        snippet = " ".join(instruction.text.split())
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[:SNIPPET_CHARS - 1] + "\u2026"
        self.findings.append(Finding(self.engine, rule, severity, self.item.path, message,
                                     instruction.line, snippet))

    # -- instructions ----------------------------------------------------------------------------

    def run(self, dockerfile: Dockerfile) -> list[Finding]:
        for line, problem in dockerfile.problems:
            self.add(Instruction("?", line, problem), "dockerfile_unreadable", Severity.MEDIUM,
                     f"Dockerfile tidak terbaca utuh: {problem}")
        try:
            for instruction in dockerfile.instructions:
                handler = getattr(self, "_" + instruction.keyword.lower(), None)
                if instruction.keyword != "FROM" and not self.stages:
                    if instruction.keyword == "ARG":
                        self._declare(instruction, self.global_args)
                    continue
                if handler is not None:
                    handler(instruction)
        except _TooComplex as exc:
            self.add(exc.instruction, "dockerfile_unreadable", Severity.MEDIUM,
                     f"Dockerfile memuat lebih dari {MAX_COMMANDS} perintah; sisanya tidak diperiksa")
        self._final_stage()
        return self.findings

    @property
    def stage(self) -> _Stage:
        return self.stages[-1]

    def _from(self, instruction: Instruction) -> None:
        words = shell.expand(instruction.arguments, self.global_args).split()
        image = words[0].lower() if words else ""
        name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else str(len(self.stages))
        parent = next((stage for stage in self.stages if stage.name == image), None)
        if parent is None:
            self.stages.append(_Stage(name))
        else:
            self.stages.append(_Stage(name, parent.user, list(parent.overrides),
                                      dict(parent.variables), parent.workdir))

    def _declare(self, instruction: Instruction, target: dict[str, str]) -> None:
        for word in instruction.arguments.split():
            name, equals, value = word.partition("=")
            if equals:
                target[name] = _unquote(value)
            elif name in self.global_args:
                target[name] = self.global_args[name]

    def _arg(self, instruction: Instruction) -> None:
        self._declare(instruction, self.stage.variables)

    def _env(self, instruction: Instruction) -> None:
        text = instruction.arguments
        if not text.strip():
            return
        if "=" not in text.split(None, 1)[0]:
            name, _, value = text.partition(" ")
            self.stage.variables[name] = shell.expand(_unquote(value.strip()), self.stage.variables)
            return
        for word in _split_words(text):
            name, equals, value = word.partition("=")
            if equals:
                self.stage.variables[name] = shell.expand(value, self.stage.variables)

    def _workdir(self, instruction: Instruction) -> None:
        path = shell.expand(_unquote(instruction.arguments.strip()), self.stage.variables)
        self.stage.workdir = posixpath.normpath(posixpath.join(self.stage.workdir, path))

    def _user(self, instruction: Instruction) -> None:
        user = shell.expand(instruction.arguments.strip(), self.stage.variables)
        self.stage.user = (user, instruction)

    def _entrypoint(self, instruction: Instruction) -> None:
        self.stage.overrides.append(instruction)

    _cmd = _shell = _entrypoint

    def _onbuild(self, instruction: Instruction) -> None:
        self.add(instruction, "dockerfile_onbuild", Severity.HIGH,
                 "ONBUILD menyisipkan langkah build yang dijalankan kemudian, di luar pemindaian")

    def _final_stage(self) -> None:
        if not self.stages:
            return
        final = self.stages[-1]
        if final.user is not None:
            user, instruction = final.user
            name = user.split(":", 1)[0].strip()
            if name in _ROOT_USERS:
                self.add(instruction, "dockerfile_user_root", Severity.HIGH,
                         "Kontainer aplikasi berjalan sebagai root (USER terakhir)")
            elif "$" in name:
                self.add(instruction, "dockerfile_user_root", Severity.MEDIUM,
                         "Pengguna kontainer ditentukan variabel yang nilainya tidak diketahui")
        for instruction in final.overrides:
            self.add(instruction, "dockerfile_runtime_override", Severity.HIGH,
                     f"{instruction.keyword} mengganti cara image runtime menjalankan aplikasi "
                     "(entrypoint yang mematikan PHP di direktori tulis bisa terlewati)")

    def _copy(self, instruction: Instruction) -> None:
        words = instruction.exec_form or _split_words(instruction.arguments)
        words = [shell.expand(word, self.stage.variables) for word in words]
        if len(words) < 2:
            return
        sources, destination = words[:-1], words[-1]
        stages = {stage.name for stage in self.stages[:-1]}
        for origin in instruction.flag("from"):
            if origin.lower() not in stages and not origin.isdigit():
                self.add(instruction, "dockerfile_copy_from_image", Severity.HIGH,
                         f"{instruction.keyword} --from menyalin berkas dari image lain ({origin}), "
                         "bukan dari unggahan yang dipindai")
        for mode in instruction.flag("chmod"):
            if _is_setuid_mode(mode):
                self.add(instruction, "dockerfile_setuid", Severity.HIGH,
                         f"Berkas disalin dengan bit setuid/setgid (--chmod={mode})")
        target = self._path(destination)
        if _is_system_path(target):
            self.add(instruction, "dockerfile_system_config", Severity.HIGH,
                     f"{instruction.keyword} menimpa konfigurasi sistem ({target})")
        if instruction.keyword == "ADD":
            for source in sources:
                if _is_remote(source):
                    self.add(instruction, "dockerfile_add_remote", Severity.CRITICAL,
                             f"ADD mengambil berkas dari jaringan ({source}); build tanpa jaringan "
                             "dan isinya tidak pernah dipindai")
        for delimiter, body in instruction.heredocs:
            names = [s for s in sources if s.lstrip("<-").strip("'\"") == delimiter]
            if names and (has_php_tag(body.encode("latin-1", "replace"))
                          or _extension(target) in CODE_EXTENSIONS):
                self.add(instruction, "dockerfile_inline_file", Severity.MEDIUM,
                         f"{instruction.keyword} menulis berkas kode dari heredoc ({target})")

    _add = _copy

    def _run(self, instruction: Instruction) -> None:
        for flag in instruction.flags:
            lower = flag.lower()
            if lower.startswith("--mount="):
                options = dict(part.partition("=")[::2] for part in lower[8:].split(","))
                kind = options.get("type", "bind")
                if kind in ("secret", "ssh", "cache") or (kind == "bind" and "from" in options):
                    self.add(instruction, "dockerfile_build_option", Severity.HIGH,
                             f"RUN {flag}: kait build yang ditolak agen (rahasia, SSH, cache, "
                             "atau isi image lain)")
            elif lower.startswith("--network=") and lower != "--network=none" \
                    or lower.startswith("--security=") and lower != "--security=sandbox":
                self.add(instruction, "dockerfile_build_option", Severity.HIGH,
                         f"RUN {flag}: opsi build yang ditolak agen")
        if instruction.exec_form is not None:
            argv = instruction.exec_form
            if len(argv) >= 3 and argv[0].rsplit("/", 1)[-1] in SHELLS and argv[1] == "-c":
                script = argv[2]
            else:
                script = shlex.join(argv)
        elif instruction.heredocs and re.fullmatch(r"\s*<<-?([\"']?)[\w.\-]+\1\s*",
                                                   instruction.arguments):
            script = instruction.heredocs[0][1]
        else:
            script = instruction.arguments + "\n" + "".join(
                body + delimiter + "\n" for delimiter, body in instruction.heredocs)
        self._script(instruction, script, _RunState(), 0)

    # -- shell scripts ---------------------------------------------------------------------------

    def _script(self, instruction: Instruction, script: str, state: _RunState, depth: int) -> None:
        if script.startswith("#!"):
            interpreter = script.split("\n", 1)[0][2:].split()
            name = (interpreter[-1] if interpreter and interpreter[0].endswith("env")
                    else interpreter[0] if interpreter else "sh").rsplit("/", 1)[-1]
            if name not in SHELLS and _INTERPRETER.match(name):
                self._inline_code(instruction, name, script)
                return
        for pipeline in shell.parse(script, self.stage.variables):
            self._pipeline(instruction, pipeline, state, depth)

    def _pipeline(self, instruction: Instruction, pipeline: shell.Pipeline, state: _RunState,
                  depth: int) -> None:
        self.commands += len(pipeline)
        if self.commands > MAX_COMMANDS:
            raise _TooComplex(instruction)
        decoded_at: int | None = None
        how = ""
        for index, command in enumerate(pipeline):
            nested = _nested_script(command)
            if nested is not None and depth < MAX_DEPTH:
                self._script(instruction, nested, state, depth + 1)
            substitution_decodes = False
            for inner in command.substitutions:
                if depth < MAX_DEPTH:
                    self._script(instruction, inner, state, depth + 1)
                substitution_decodes |= any(_decoder(c) for p in shell.parse(inner) for c in p)
            decoder = _decoder(command)
            if decoder is None and (substitution_decodes or any(
                    self._path(path) in state.decoded for path in command.inputs + (
                        command.arguments if command.name in ("cat", "tac", "head", "tail") else []))):
                decoder = "data hasil dekode"
            if decoder is not None and decoded_at is None:
                decoded_at, how = index, decoder
            self._command(instruction, command, state)
        self._downloads(instruction, pipeline, state)
        if decoded_at is None:
            self._inline_writes(instruction, pipeline)
            return
        payload = _payload(pipeline, decoded_at)
        targets = [self._path(path) for command in pipeline[decoded_at:]
                   for path in _written_files(command)]
        php = payload is not None and (has_php_tag(payload) or looks_like_php(
            payload[:4096].decode("latin-1")))
        for target in targets:
            state.decoded.add(target)
            code = _is_code_path(target)
            self.add(instruction, "dockerfile_decoded_payload",
                     Severity.CRITICAL if code or php else Severity.HIGH,
                     f"RUN menulis muatan tersandi ({how}) ke {target}"
                     + (" (kode PHP)" if php else "") + (" di jalur kode" if code else ""))
        if any(_runs_stdin(command) for command in pipeline[decoded_at + 1:]):
            script = payload.decode("latin-1") if payload is not None else ""
            writes_code = any(_is_code_path(self._path(path)) for decoded in shell.parse(
                script, self.stage.variables) for command in decoded
                for path in _modified_files(command))
            self.add(instruction, "dockerfile_decoded_payload",
                     Severity.CRITICAL if php or writes_code else Severity.HIGH,
                     f"RUN menjalankan perintah tersandi ({how}) yang tidak terbaca pemindai"
                     + (" dan menulis ke jalur kode" if writes_code else ""))
            if script and depth < MAX_DEPTH:
                self._script(instruction, script, state, depth + 1)

    def _command(self, instruction: Instruction, command: shell.Command,
                 state: _RunState) -> None:
        name, arguments = command.name, command.arguments
        if name in ("cp", "mv", "install", "ln", "rsync") and len(_operands(arguments)) >= 2:
            operands = _operands(arguments)
            sources = [self._path(path) for path in operands[:-1]]
            if any(source in state.decoded for source in sources):
                target = self._path(operands[-1])
                state.decoded.add(target)
                self.add(instruction, "dockerfile_decoded_payload",
                         Severity.CRITICAL if _is_code_path(target) else Severity.HIGH,
                         f"RUN memindahkan muatan hasil dekode ke {target}")
        if name == "chmod" and _operands(arguments) and _is_setuid_mode(_operands(arguments)[0]):
            self.add(instruction, "dockerfile_setuid", Severity.HIGH,
                     f"RUN memasang bit setuid/setgid ({' '.join(arguments)})")
        if name == "install" and any(_is_setuid_mode(mode) for mode in _option_values(
                arguments, ("-m", "--mode"))):
            self.add(instruction, "dockerfile_setuid", Severity.HIGH,
                     "RUN memasang berkas dengan bit setuid/setgid (install -m)")
        if name == "setcap":
            self.add(instruction, "dockerfile_setuid", Severity.HIGH,
                     "RUN memberi capability Linux pada program (setcap)")
        if name in SYSTEM_COMMANDS:
            self.add(instruction, "dockerfile_system_config", Severity.HIGH,
                     f"RUN mengubah konfigurasi sistem ({name})")
        for path in _modified_files(command):
            target = self._path(path)
            if _is_system_path(target):
                self.add(instruction, "dockerfile_system_config", Severity.HIGH,
                         f"RUN mengubah konfigurasi sistem ({target})")
        language = _inline_language(command)
        if language is not None:
            code = _inline_code_of(command, language)
            if code is not None:
                self._inline_code(instruction, language, code)

    def _inline_code(self, instruction: Instruction, language: str, code: str) -> None:
        """Judge code run by an interpreter in the build (`python -c`, `php -r`, a heredoc)."""
        if not _WRITE_API.search(code):
            return
        paths = [self._path(match.group(1)) for match in _PATH_LITERAL.finditer(code)]
        code_target = next((path for path in paths if _is_code_path(path)), None)
        decodes = _DECODE_API.search(code) is not None
        self.add(instruction, "dockerfile_script_write",
                 Severity.CRITICAL if code_target else Severity.HIGH,
                 f"Kode {language} sebaris menulis berkas saat build"
                 + (f" ke jalur kode ({code_target})" if code_target else "")
                 + (" dari data tersandi" if decodes else ""))

    def _downloads(self, instruction: Instruction, pipeline: shell.Pipeline,
                   state: _RunState) -> None:
        for index, command in enumerate(pipeline):
            name, arguments = command.name, command.arguments
            fetches = name in DOWNLOADERS or (
                name in _PACKAGE_FETCH and any(word in _PACKAGE_FETCH[name] for word in arguments[:2]))
            if fetches:
                self.add(instruction, "dockerfile_download", Severity.MEDIUM,
                         f"RUN mengunduh kode saat build ({name}); isinya tidak ikut dipindai")
            if name in DOWNLOADERS:
                saved = _download_targets(command)
                state.downloaded.update(self._path(path) for path in saved)
                if not saved and any(_runs_stdin(later) for later in pipeline[index + 1:]):
                    self.add(instruction, "dockerfile_download_exec", Severity.HIGH,
                             f"RUN mengunduh skrip lalu langsung menjalankannya ({name} | shell)")
            elif self._runs_file(command, state.downloaded):
                self.add(instruction, "dockerfile_download_exec", Severity.HIGH,
                         "RUN menjalankan berkas yang baru diunduh")

    def _runs_file(self, command: shell.Command, files: set[str]) -> bool:
        words = command.arguments_from_name()
        if not words or not files:
            return False
        if self._path(words[0]) in files:
            return True
        if command.name in SHELLS or _INTERPRETER.match(command.name) or command.name in (".",
                                                                                           "source"):
            operands = _operands(words[1:])
            return bool(operands) and self._path(operands[0]) in files
        return False

    def _inline_writes(self, instruction: Instruction, pipeline: shell.Pipeline) -> None:
        first = pipeline[0]
        if first.name in ("echo", "printf"):
            content = " ".join(first.arguments)
        elif first.stdin is not None and first.name in ("cat", "tee", ""):
            content = first.stdin
        else:
            return
        for command in pipeline:
            for path in _written_files(command):
                target = self._path(path)
                if has_php_tag(content.encode("latin-1", "replace")) or _extension(target) \
                        in CODE_EXTENSIONS:
                    self.add(instruction, "dockerfile_inline_file", Severity.MEDIUM,
                             f"RUN menulis berkas kode PHP saat build ({target})")

    def _path(self, path: str) -> str:
        expanded = shell.expand(path, self.stage.variables)
        return posixpath.normpath(posixpath.join(self.stage.workdir, expanded)) if expanded else ""


# -- commands -----------------------------------------------------------------------------------

def _decoder(command: shell.Command) -> str | None:
    """Return how a command decodes its input ("base64 -d"...), or None when it does not."""
    name, arguments = command.name, command.arguments
    short = [word for word in arguments if re.fullmatch(r"-[A-Za-z]+", word)]
    if name in ("base64", "base32", "basenc"):
        if "--decode" in arguments or any("d" in word or "D" in word for word in short):
            return f"{name} -d"
    elif name == "xxd":
        if any("r" in word for word in short):
            return "xxd -r"
    elif name == "openssl":
        if "-d" in arguments or (arguments[:1] in (["base64"], ["enc"]) and "-d" in short):
            return "openssl -d"
    elif name in _DECOMPRESSORS:
        return name
    elif name in _COMPRESSORS:
        if "--decompress" in arguments or "--uncompress" in arguments or any(
                "d" in word for word in short):
            return f"{name} -d"
    elif name in ("printf", "echo"):
        text = " ".join(arguments)
        if len(_ESCAPE_SEQUENCE.findall(text)) >= 4:
            return f"{name} dengan escape heksadesimal/oktal"
    elif name == "tr" and len(arguments) >= 2 and re.search(r"n-za-m|N-ZA-M", arguments[1]):
        return "tr rot13"
    elif name == "rev":
        return "rev"
    else:
        language = _inline_language(command)
        code = _inline_code_of(command, language) if language else None
        if code is not None and _DECODE_API.search(code) and not _WRITE_API.search(code):
            return f"{language} sebaris"
    return None


def _payload(pipeline: shell.Pipeline, start: int) -> bytes | None:
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
        decoder = _decoder(command)
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


def _inline_language(command: shell.Command) -> str | None:
    match = _INTERPRETER.match(command.name)
    if match is None:
        return None
    for language in _INLINE_OPTIONS:
        if command.name.startswith(language):
            return language
    return None


def _inline_code_of(command: shell.Command, language: str) -> str | None:
    arguments = command.arguments
    for index, word in enumerate(arguments):
        if word in _INLINE_OPTIONS[language] and index + 1 < len(arguments):
            return arguments[index + 1]
        if not word.startswith("-"):
            return None  # a script file: it is in the upload and scanned as such
    return command.stdin


def _nested_script(command: shell.Command) -> str | None:
    """Return the script a command hands to another shell (`sh -c`, `eval`, `su -c`)."""
    if command.name in SHELLS:
        arguments = command.arguments
        for index, word in enumerate(arguments):
            if re.fullmatch(r"-[a-z]*c[a-z]*", word) and index + 1 < len(arguments):
                return arguments[index + 1]
        return command.stdin if not _operands(arguments) else None
    if command.name == "eval":
        return " ".join(command.arguments)
    if command.name == "su" and "-c" in command.arguments:
        index = command.arguments.index("-c")
        return command.arguments[index + 1] if index + 1 < len(command.arguments) else None
    return None


def _runs_stdin(command: shell.Command) -> bool:
    """Whether a command in a pipeline runs what it reads as a script."""
    name = command.name
    if name in ("eval", "source", "."):
        return True
    if name not in SHELLS and not _INTERPRETER.match(name):
        return name == "xargs" and any(word in SHELLS for word in command.arguments)
    for word in command.arguments:
        if word in ("--", "-"):
            return True
        if word in ("-c", "-r", "-e") or not word.startswith("-"):
            return False
    return True


def _written_files(command: shell.Command) -> list[str]:
    """Files a command writes its output to: redirections, tee, dd of=, -o/--output."""
    written = list(command.outputs)
    if command.name == "tee":
        written.extend(_operands(command.arguments))
    elif command.name == "dd":
        written.extend(word[3:] for word in command.arguments if word.startswith("of="))
    elif command.name not in DOWNLOADERS:
        written.extend(_option_values(command.arguments, ("-o", "--output", "-out")))
    return [path for path in written if path and path != "-"]


def _modified_files(command: shell.Command) -> list[str]:
    """Files a command writes, moves, edits, removes or changes the mode of."""
    files = _written_files(command)
    name, arguments = command.name, command.arguments
    operands = _operands(arguments)
    if name in ("cp", "mv", "install", "ln", "rsync") and operands:
        files.append(operands[-1])
    elif name in ("sed", "perl") and any(word.startswith("-i") or word.startswith("-pi")
                                         for word in arguments):
        files.extend(operands[1:] if name == "sed" else operands)
    elif name in ("rm", "unlink", "truncate", "touch", "chmod", "chown", "chattr", "mkdir"):
        files.extend(operands)
    return files


def _download_targets(command: shell.Command) -> list[str]:
    """Files a curl or wget command saves (none when it writes to standard output)."""
    arguments = command.arguments
    saved = _option_values(arguments, ("-o", "--output", "-O", "--output-document"))
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


def _operands(arguments: Iterable[str]) -> list[str]:
    return [word for word in arguments if not word.startswith("-")]


def _option_values(arguments: list[str], options: tuple[str, ...]) -> list[str]:
    values = []
    for index, word in enumerate(arguments):
        for option in options:
            if word == option and index + 1 < len(arguments):
                values.append(arguments[index + 1])
            elif option.startswith("--") and word.startswith(option + "="):
                values.append(word[len(option) + 1:])
    return values


# -- paths and values ---------------------------------------------------------------------------

def _extension(path: str) -> str:
    base = path.rsplit("/", 1)[-1].lower()
    return base.rsplit(".", 1)[1] if "." in base.lstrip(".") else ""


def _is_code_path(path: str) -> bool:
    """Whether a file at `path` runs as code: the app's tree, programs, PHP under any name."""
    return (any(path == directory or path.startswith(directory + "/")
                for directory in CODE_DIRECTORIES)
            or _extension(path) in CODE_EXTENSIONS
            or path.rsplit("/", 1)[-1].lower() in SYSTEM_NAMES)


def _is_system_path(path: str) -> bool:
    return path.startswith(SYSTEM_PATHS) or path.rsplit("/", 1)[-1].lower() in SYSTEM_NAMES


def _is_setuid_mode(mode: str) -> bool:
    if re.fullmatch(r"[0-7]{4,5}", mode):
        return int(mode[-4]) & 6 != 0
    return any(_SETUID_SYMBOLIC.fullmatch(part) for part in mode.split(","))


def _is_remote(source: str) -> bool:
    lower = source.lower()
    return (re.match(r"(?:https?|ftps?|git|ssh)://", lower) is not None
            or re.match(r"[\w.\-]+@[\w.\-]+:", lower) is not None
            or (lower.endswith(".git") and "://" in lower))


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _split_words(text: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError:
        return text.split()


@register
class DockerfileEngine(FileEngine):
    """Finds build steps in app Dockerfiles that add unscanned code or loosen the container."""

    name = "dockerfile"
    checks_every_kind = True

    def wants(self, entry: FileEntry) -> bool:
        return is_dockerfile(entry.name)

    def describe(self) -> dict[str, Any]:
        return {"version": "1"}

    def check(self, item: ScannedFile) -> list[Finding]:
        data = item.data[:MAX_DOCKERFILE_BYTES]
        dockerfile = parse_dockerfile(data.decode("utf-8", "replace"))
        findings = _Build(self.name, item).run(dockerfile)
        if len(item.data) > MAX_DOCKERFILE_BYTES or item.truncated:
            findings.append(item.finding(self.name, "dockerfile_unreadable", Severity.MEDIUM,
                                         f"Dockerfile lebih dari {MAX_DOCKERFILE_BYTES} bita; "
                                         "hanya awalnya yang diperiksa"))
        return _dedupe(findings)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, int | None, str]] = set()
    unique = []
    for finding in sorted(findings, key=lambda f: (-f.severity, f.line or 0)):
        key = (finding.rule, finding.line, finding.message)
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    return sorted(unique, key=lambda f: (f.line or 0, -f.severity))

