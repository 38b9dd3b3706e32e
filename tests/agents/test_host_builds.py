"""Dockerfile apps on the real testbed: the build is an operation of its own that answers the files it
made, and a deploy runs only the image of this release's build — what runs is what was scanned.
"""
from __future__ import annotations

import base64
import json
import tarfile
from pathlib import Path
from typing import Any

import docker
import pytest

from agents.errors import BuildFailed, UnknownApp, UnsignedImage
from agents.host import HostAgent
from agents.image_builds import BuildResult
from scanners.scan import scan_path
from tests.agents.support import containers_of, fetch, spec, unique

pytestmark = pytest.mark.slow

WEBSHELL = b'<?php eval($_GET["c"]);\n'
ATTACK = ("FROM wadah/php:8.2\nUSER root\nCOPY . /srv/app/\n"
          f"RUN echo {base64.b64encode(WEBSHELL).decode()} | base64 -d > /srv/app/s.php\n")


def app_images(docker_client: docker.DockerClient, name: str) -> list[str]:
    return sorted(str(i.id) for i in docker_client.images.list(
        filters={"label": f"org.wadah.app={name}"}))


def output_files(host: HostAgent, built: BuildResult) -> dict[str, bytes | str]:
    found: dict[str, bytes | str] = {}
    with tarfile.open(host.build_output(built.app, built.release_id)) as tar:
        for member in tar:
            handle = tar.extractfile(member) if member.isfile() else None
            found[member.name] = handle.read() if handle else f"-> {member.linkname}"
    return found


def page(marker: str) -> dict[str, str | bytes]:
    return {"Dockerfile": "FROM wadah/php:8.2\nCOPY . /srv/app/\n",
            "index.php": f"<?php echo 'rilis {marker}';\n"}


def test_a_build_answers_the_files_it_wrote_and_runs_nothing(
        host: HostAgent, docker_client: docker.DockerClient, testbed: dict[str, dict[str, Any]],
        tmp_path: Path) -> None:
    name = unique("bangun")
    release = spec(host, name, 1, {"Dockerfile": ATTACK, "index.php": "<?php echo 'halo';\n"},
                   stack="dockerfile")

    built = host.build(release)

    # The webshell the RUN decoded is in the answer; the bundle's own files were scanned already.
    assert output_files(host, built) == {"srv/app/s.php": WEBSHELL}
    assert built.output.unchanged_paths == ["srv/app/Dockerfile", "srv/app/index.php"]
    assert built.base_image == "wadah/php:8.2" and app_images(docker_client, name) == [
        built.image_id]
    labels = docker_client.images.get(built.image_id).labels
    assert labels["org.wadah.release"] == "1"
    assert labels["org.wadah.artifact"] == release.artifact_sha256
    report = scan_path(host.build_output(name, 1), clamd_url=testbed["clamd"]["address"])
    assert report.verdict == "infected"
    assert {f.path for f in report.findings} == {"srv/app/s.php"}
    # Nothing of it runs, and nothing is served.
    assert containers_of(docker_client, name) == [] and host.vhosts.read(name) is None
    with pytest.raises(UnknownApp):
        host.status(name)

    host.discard_build(name, 1)
    assert app_images(docker_client, name) == [] and not host.state.builds_dir(name).joinpath(
        "1").exists()


def test_a_dockerfile_app_runs_only_the_image_of_its_own_build(
        host: HostAgent, docker_client: docker.DockerClient) -> None:
    name, other = unique("hanya"), unique("lain")
    first = spec(host, name, 1, page("satu"), stack="dockerfile")
    built = host.build(first)
    foreign = host.build(spec(host, other, 1, page("lain"), stack="dockerfile"))
    php = docker_client.images.get("wadah/php:8.2").id
    refused = [
        (first, None),  # no image: the bundle's verdict says nothing of what a build makes
        (first, "sha256:" + "0" * 64),  # an image this host does not have
        (first, foreign.image_id),  # another app's build
        (first, php),  # the runtime image itself, not this release's build
        (spec(host, name, 2, sha256=first.artifact_sha256, stack="dockerfile"),
         built.image_id),  # the build of release 1, for release 2
    ]
    for release, image_id in refused:
        with pytest.raises(UnsignedImage):
            host.deploy(release, image_id=image_id)
        assert containers_of(docker_client, name) == [] and host.vhosts.read(name) is None
    with pytest.raises(UnknownApp):
        host.status(name)

    host.deploy(first, image_id=built.image_id)

    assert fetch(host, f"{name}.contoh.go.id")[1] == "rilis satu"
    running = containers_of(docker_client, name)
    assert [c.attrs["Image"] for c in running] == [built.image_id]
    host.discard_build(other, 1)


def test_a_build_has_no_network_and_no_privileges(host: HostAgent) -> None:
    name = unique("terkurung")
    dockerfile = ("FROM wadah/php:8.2\nUSER root\n"
                  "RUN cat /proc/net/dev > /srv/app/net.txt && grep ^Cap /proc/self/status"
                  " > /srv/app/caps.txt\n")
    built = host.build(spec(host, name, 1, {"Dockerfile": dockerfile, "index.php": "x"},
                            stack="dockerfile"))
    files = output_files(host, built)
    interfaces = [line.split(":")[0].strip() for line in
                  str(files["srv/app/net.txt"], "ascii").splitlines()[2:]]
    assert interfaces == ["lo"]
    caps = dict(line.split(":\t") for line in str(files["srv/app/caps.txt"], "ascii").splitlines())
    effective = int(caps["CapEff"], 16)
    for capability in (21, 12, 16, 17, 19):  # SYS_ADMIN, NET_ADMIN, SYS_MODULE, SYS_RAWIO, PTRACE
        assert not effective & (1 << capability)
    host.discard_build(name, 1)


@pytest.mark.parametrize("dockerfile, said", [
    ("FROM wadah/php:8.2\nADD http://127.0.0.1:1/x /srv/app/x\n", "URL"),
    ("FROM wadah/php:8.2\nRUN --network=host true\n", "--network"),
    ("FROM wadah/php:8.2\nRUN --mount=type=secret,id=kunci cat /run/secrets/kunci\n", "--mount"),
    ("FROM wadah/php:8.2\nRUN --security=insecure true\n", "--security"),
    ("# syntax=docker/dockerfile:1\nFROM wadah/php:8.2\n", "syntax"),
    ("FROM wadah/php:8.2\nCOPY --from=wadah/static:latest /etc /srv/app/etc\n", "--from"),
])
def test_a_dockerfile_that_reaches_out_is_refused_before_building(
        host: HostAgent, docker_client: docker.DockerClient, dockerfile: str, said: str) -> None:
    name = unique("keluar")
    with pytest.raises(BuildFailed) as failure:
        host.build(spec(host, name, 1, {"Dockerfile": dockerfile, "index.php": "x"},
                        stack="dockerfile"))
    assert said in str(failure.value) and "Dockerfile baris" in str(failure.value) or \
        said == "syntax" and "arahan parser" in str(failure.value)
    assert app_images(docker_client, name) == [] and containers_of(docker_client, name) == []
    assert list(host.state.builds_dir(name).iterdir()) == []


RUNTIME_SHELL = (f"echo {base64.b64encode(WEBSHELL).decode()} | base64 -d > /tmp/s.php"
                 " && php -S 0.0.0.0:8080 -t /tmp")


@pytest.mark.parametrize("dockerfile, said", [
    # Code made when the container starts is code no scan of the build's files sees.
    (f"FROM wadah/php:8.2\nCMD [\"sh\", \"-c\", \"{RUNTIME_SHELL}\"]\n", "CMD"),
    (f"FROM wadah/php:8.2\nENTRYPOINT [\"sh\", \"-c\", \"{RUNTIME_SHELL}\"]\n", "ENTRYPOINT"),
    ("FROM wadah/php:8.2\nENV WADAH_PHP_DISABLE_FUNCTIONS=\n", "ENV WADAH_PHP_DISABLE_FUNCTIONS"),
    ("FROM wadah/php:8.2\nENV PHP_INI_SCAN_DIR=/srv/app/uploads\n", "ENV PHP_INI_SCAN_DIR"),
    ("FROM wadah/php:8.2\nHEALTHCHECK CMD sh -c 'echo x > /tmp/x.php'\n", "HEALTHCHECK"),
    ("FROM wadah/php:8.2\nVOLUME /srv/app/simpan\n", "VOLUME"),
])
def test_a_build_may_not_change_how_its_container_starts(
        host: HostAgent, docker_client: docker.DockerClient, dockerfile: str, said: str) -> None:
    name = unique("mulai")
    with pytest.raises(BuildFailed) as failure:
        host.build(spec(host, name, 1, {"Dockerfile": dockerfile, "index.php": "x"},
                        stack="dockerfile"))
    assert said in str(failure.value)
    assert app_images(docker_client, name) == [] and containers_of(docker_client, name) == []
    assert list(host.state.builds_dir(name).iterdir()) == []


def test_a_build_cannot_copy_from_another_apps_image(
        host: HostAgent, docker_client: docker.DockerClient) -> None:
    other = unique("tetangga")
    theirs = host.build(spec(host, other, 1, page("rahasia"), stack="dockerfile"))
    tag = docker_client.images.get(theirs.image_id).tags[0]
    name = unique("pencuri")
    with pytest.raises(BuildFailed):
        host.build(spec(host, name, 1, {"Dockerfile": f"FROM wadah/php:8.2\nCOPY --from={tag}"
                                                      f" /srv/app /srv/app/curian\n"},
                        stack="dockerfile"))
    assert app_images(docker_client, name) == []
    host.discard_build(other, 1)


def test_a_build_no_deploy_used_is_dropped_by_prune(host: HostAgent,
                                                     docker_client: docker.DockerClient) -> None:
    name = unique("basi")
    old = host.build(spec(host, name, 1, page("lama"), stack="dockerfile"))
    fresh = host.build(spec(host, name, 2, page("baru"), stack="dockerfile"))
    record = host.state.build_dir(name, 1) / "build.json"
    data = json.loads(record.read_text())
    record.write_text(json.dumps({**data, "created_at": 0}))

    report = host.prune()

    assert f"{name}:1" in report.builds_removed and old.image_id in report.images_removed
    assert app_images(docker_client, name) == [fresh.image_id]
    assert host.build_output(name, 2).is_file()
    host.discard_build(name, 2)
    assert app_images(docker_client, name) == []


def test_rollback_runs_the_image_of_the_kept_release(host: HostAgent,
                                                     docker_client: docker.DockerClient) -> None:
    name = unique("kembali")
    images = []
    for number, marker in ((1, "satu"), (2, "dua")):
        release = spec(host, name, number, page(marker), stack="dockerfile")
        built = host.build(release)
        host.deploy(release, image_id=built.image_id)
        images.append(built.image_id)
    assert fetch(host, f"{name}.contoh.go.id")[1] == "rilis dua"

    host.rollback(name)

    assert fetch(host, f"{name}.contoh.go.id")[1] == "rilis satu"
    assert [c.attrs["Image"] for c in containers_of(docker_client, name)] == [images[0]]
    host.prune()  # both releases are kept: so are their images
    assert app_images(docker_client, name) == sorted(images)
    host.restart(name)
    assert fetch(host, f"{name}.contoh.go.id")[1] == "rilis satu"
    host.remove(name)
    assert app_images(docker_client, name) == []
