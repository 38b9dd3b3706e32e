"""The rules an app's Dockerfile is judged by: build steps that add unscanned code or loosen the container.

A build step can write a decoded payload into the code tree, fetch code, run as root, replace the
runtime image's entrypoint (which keeps PHP off in writable paths) or change the system's
configuration. Each instruction is judged by what it does, stage by stage; RUN scripts are read
command by command, nested scripts and decoded payloads included.
"""
from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field

import scanners.engines.shell as shell
from scanners.engines.base import ScannedFile, has_php_tag
from scanners.engines.dockerfile_commands import (
    DECODE_API,
    DOWNLOADERS,
    INTERPRETER,
    SHELLS,
    WRITE_API,
    decoded_payload,
    decoder_of,
    download_targets,
    inline_code_of,
    inline_language,
    modified_files,
    nested_script,
    operands_of,
    option_values,
    runs_stdin,
    written_files,
)
from scanners.engines.dockerfile_parser import Dockerfile, Instruction
from scanners.engines.dockerfile_paths import (
    CODE_EXTENSIONS,
    DEFAULT_WORKDIR,
    extension_of,
    is_code_path,
    is_remote,
    is_setuid_mode,
    is_system_path,
)
from scanners.engines.php_deobfuscation import looks_like_php
from scanners.findings import SNIPPET_CHARS, Finding, Severity

SYSTEM_COMMANDS = frozenset({"useradd", "adduser", "usermod", "groupadd", "addgroup", "chpasswd",
                             "passwd", "visudo", "crontab", "a2enmod", "a2enconf", "a2ensite",
                             "a2dismod", "a2disconf", "a2dissite", "phpenmod", "phpdismod"})
_PACKAGE_FETCH = {"composer": ("install", "require", "update", "create-project"),
                  "npm": ("install", "i", "ci", "add"), "yarn": ("add", "install"),
                  "pnpm": ("add", "install", "i"), "pip": ("install", "download"),
                  "pip3": ("install", "download"), "gem": ("install",), "git": ("clone", "fetch", "pull"),
                  "svn": ("checkout", "co", "export")}
_PATH_LITERAL = re.compile(r"['\"]((?:/|\./|\.\./)?[\w.\-/]{0,300}\.\w{1,8}|/[\w.\-/]{1,300})['\"]")
_ROOT_USERS = frozenset({"root", "0"})
MAX_DEPTH = 3
MAX_COMMANDS = 2000  # shell commands read in one Dockerfile, nested scripts included


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
            if is_setuid_mode(mode):
                self.add(instruction, "dockerfile_setuid", Severity.HIGH,
                         f"Berkas disalin dengan bit setuid/setgid (--chmod={mode})")
        target = self._path(destination)
        if is_system_path(target):
            self.add(instruction, "dockerfile_system_config", Severity.HIGH,
                     f"{instruction.keyword} menimpa konfigurasi sistem ({target})")
        if instruction.keyword == "ADD":
            for source in sources:
                if is_remote(source):
                    self.add(instruction, "dockerfile_add_remote", Severity.CRITICAL,
                             f"ADD mengambil berkas dari jaringan ({source}); build tanpa jaringan "
                             "dan isinya tidak pernah dipindai")
        for delimiter, body in instruction.heredocs:
            names = [s for s in sources if s.lstrip("<-").strip("'\"") == delimiter]
            if names and (has_php_tag(body.encode("latin-1", "replace"))
                          or extension_of(target) in CODE_EXTENSIONS):
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
            if name not in SHELLS and INTERPRETER.match(name):
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
            nested = nested_script(command)
            if nested is not None and depth < MAX_DEPTH:
                self._script(instruction, nested, state, depth + 1)
            substitution_decodes = False
            for inner in command.substitutions:
                if depth < MAX_DEPTH:
                    self._script(instruction, inner, state, depth + 1)
                substitution_decodes |= any(decoder_of(c) for p in shell.parse(inner) for c in p)
            decoder = decoder_of(command)
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
        payload = decoded_payload(pipeline, decoded_at)
        targets = [self._path(path) for command in pipeline[decoded_at:]
                   for path in written_files(command)]
        php = payload is not None and (has_php_tag(payload) or looks_like_php(
            payload[:4096].decode("latin-1")))
        for target in targets:
            state.decoded.add(target)
            code = is_code_path(target)
            self.add(instruction, "dockerfile_decoded_payload",
                     Severity.CRITICAL if code or php else Severity.HIGH,
                     f"RUN menulis muatan tersandi ({how}) ke {target}"
                     + (" (kode PHP)" if php else "") + (" di jalur kode" if code else ""))
        if any(runs_stdin(command) for command in pipeline[decoded_at + 1:]):
            script = payload.decode("latin-1") if payload is not None else ""
            writes_code = any(is_code_path(self._path(path)) for decoded in shell.parse(
                script, self.stage.variables) for command in decoded
                for path in modified_files(command))
            self.add(instruction, "dockerfile_decoded_payload",
                     Severity.CRITICAL if php or writes_code else Severity.HIGH,
                     f"RUN menjalankan perintah tersandi ({how}) yang tidak terbaca pemindai"
                     + (" dan menulis ke jalur kode" if writes_code else ""))
            if script and depth < MAX_DEPTH:
                self._script(instruction, script, state, depth + 1)

    def _command(self, instruction: Instruction, command: shell.Command,
                 state: _RunState) -> None:
        name, arguments = command.name, command.arguments
        if name in ("cp", "mv", "install", "ln", "rsync") and len(operands_of(arguments)) >= 2:
            operands = operands_of(arguments)
            sources = [self._path(path) for path in operands[:-1]]
            if any(source in state.decoded for source in sources):
                target = self._path(operands[-1])
                state.decoded.add(target)
                self.add(instruction, "dockerfile_decoded_payload",
                         Severity.CRITICAL if is_code_path(target) else Severity.HIGH,
                         f"RUN memindahkan muatan hasil dekode ke {target}")
        if name == "chmod" and operands_of(arguments) and is_setuid_mode(operands_of(arguments)[0]):
            self.add(instruction, "dockerfile_setuid", Severity.HIGH,
                     f"RUN memasang bit setuid/setgid ({' '.join(arguments)})")
        if name == "install" and any(is_setuid_mode(mode) for mode in option_values(
                arguments, ("-m", "--mode"))):
            self.add(instruction, "dockerfile_setuid", Severity.HIGH,
                     "RUN memasang berkas dengan bit setuid/setgid (install -m)")
        if name == "setcap":
            self.add(instruction, "dockerfile_setuid", Severity.HIGH,
                     "RUN memberi capability Linux pada program (setcap)")
        if name in SYSTEM_COMMANDS:
            self.add(instruction, "dockerfile_system_config", Severity.HIGH,
                     f"RUN mengubah konfigurasi sistem ({name})")
        for path in modified_files(command):
            target = self._path(path)
            if is_system_path(target):
                self.add(instruction, "dockerfile_system_config", Severity.HIGH,
                         f"RUN mengubah konfigurasi sistem ({target})")
        language = inline_language(command)
        if language is not None:
            code = inline_code_of(command, language)
            if code is not None:
                self._inline_code(instruction, language, code)

    def _inline_code(self, instruction: Instruction, language: str, code: str) -> None:
        """Judge code run by an interpreter in the build (`python -c`, `php -r`, a heredoc)."""
        if not WRITE_API.search(code):
            return
        paths = [self._path(match.group(1)) for match in _PATH_LITERAL.finditer(code)]
        code_target = next((path for path in paths if is_code_path(path)), None)
        decodes = DECODE_API.search(code) is not None
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
                saved = download_targets(command)
                state.downloaded.update(self._path(path) for path in saved)
                if not saved and any(runs_stdin(later) for later in pipeline[index + 1:]):
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
        if command.name in SHELLS or INTERPRETER.match(command.name) or command.name in (".",
                                                                                           "source"):
            operands = operands_of(words[1:])
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
            for path in written_files(command):
                target = self._path(path)
                if has_php_tag(content.encode("latin-1", "replace")) or extension_of(target) \
                        in CODE_EXTENSIONS:
                    self.add(instruction, "dockerfile_inline_file", Severity.MEDIUM,
                             f"RUN menulis berkas kode PHP saat build ({target})")

    def _path(self, path: str) -> str:
        expanded = shell.expand(path, self.stage.variables)
        return posixpath.normpath(posixpath.join(self.stage.workdir, expanded)) if expanded else ""


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


def judge_build(engine: str, item: ScannedFile, dockerfile: Dockerfile) -> list[Finding]:
    """Return what `engine` finds in the build steps of `dockerfile`, read from `item`."""
    return _Build(engine, item).run(dockerfile)
