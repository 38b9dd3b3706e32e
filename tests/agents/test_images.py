"""Runtime images: recipes, digests, and the images serving apps under the agent's hardening."""
from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
import requests
from docker.models.containers import Container

from agents.images import (
    BUILDER_VERSION,
    RECIPE_LABEL,
    RECIPES_DIR,
    RUNTIME_IMAGES,
    ImageInfo,
    RecipeError,
    ensure_runtime_images,
    import_changes,
    load_recipe,
    mmdebstrap_command,
    recipe_digest,
)

PHP_EXTENSIONS = {"mysqli", "pdo_mysql", "gd", "mbstring", "intl", "zip", "xml", "curl"}
APP_UID = 10123  # not the image's default user: the agent may pick one uid per app
READY_SECONDS = 30
SHELL = '<?php echo "PWNED-" . (40 + 2); ?>'


# --- recipes, without Docker ---------------------------------------------------------------

@pytest.mark.parametrize("name", RUNTIME_IMAGES)
def test_recipes_load(name: str) -> None:
    recipe = load_recipe(name)
    assert recipe.user.uid != 0 and recipe.port >= 1024
    assert recipe.tag in {"wadah/static:latest", "wadah/php:8.2"}


def test_digest_follows_content_and_exec_bit(tmp_path: Path) -> None:
    recipe = tmp_path / "php"
    shutil.copytree(RECIPES_DIR / "php", recipe, symlinks=True)
    first = recipe_digest(recipe)
    assert first == recipe_digest(RECIPES_DIR / "php") == recipe_digest(recipe)

    ini = recipe / "rootfs/etc/php/8.2/apache2/conf.d/90-wadah.ini"
    ini.write_text(ini.read_text() + "; changed\n")
    second = recipe_digest(recipe)
    assert second != first

    ini.chmod(0o755)
    assert recipe_digest(recipe) != second

    (recipe / "rootfs/etc/wadah/extra.conf").write_text("# new file\n")
    assert len({first, second, recipe_digest(recipe)}) == 3


def test_mmdebstrap_is_called_with_an_argument_list(tmp_path: Path) -> None:
    recipe = load_recipe("php")
    argv = mmdebstrap_command(recipe, tmp_path / "php.tar")
    assert argv[0] == "mmdebstrap" and "--variant=apt" in argv
    assert any(a.startswith("--include=") and "php8.2-intl" in a for a in argv)
    assert f"--hook-dir={RECIPES_DIR.resolve() / 'php/hooks'}" in argv
    assert argv[argv.index("--") + 1 :][:2] == ["bookworm", str(tmp_path / "php.tar")]


def test_import_changes_quote_values() -> None:
    recipe = load_recipe("php")
    changes = import_changes(recipe, "ab" * 32)
    assert f'LABEL {RECIPE_LABEL}="{"ab" * 32}" org.wadah.image="php"' in changes
    assert "USER 10000:10000" in changes and "EXPOSE 8080/tcp" in changes
    assert f"CMD {json.dumps(list(recipe.cmd))}" in changes
    # Values with spaces stay one variable.
    assert any(c.startswith('ENV WADAH_TRUSTED_PROXIES="127.0.0.0/8 ') for c in changes)


def test_bad_recipe_is_refused(tmp_path: Path) -> None:
    shutil.copytree(RECIPES_DIR / "static", tmp_path / "static")
    toml = tmp_path / "static/recipe.toml"
    toml.write_text(toml.read_text().replace('packages = ["nginx"]', 'packages = ["nginx; rm"]'))
    with pytest.raises(RecipeError, match="package"):
        load_recipe("static", tmp_path)
    with pytest.raises(RecipeError):
        load_recipe("../static", tmp_path)


def test_builder_version_is_part_of_the_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    before = recipe_digest(RECIPES_DIR / "static")
    monkeypatch.setattr("agents.images.BUILDER_VERSION", BUILDER_VERSION + "-next")
    assert recipe_digest(RECIPES_DIR / "static") != before


# --- built images ----------------------------------------------------------------------------

@pytest.mark.slow
def test_images_exist_with_their_recipe_label(
    runtime_images: dict[str, ImageInfo], docker_client: docker.DockerClient
) -> None:
    assert set(runtime_images) == set(RUNTIME_IMAGES)
    for name, info in runtime_images.items():
        image = docker_client.images.get(info.tag)
        assert image.id == info.id
        assert image.labels[RECIPE_LABEL] == info.digest == recipe_digest(RECIPES_DIR / name)
        user = image.attrs["Config"]["User"]
        assert user and user.split(":")[0] not in {"0", "root"}


@pytest.mark.slow
def test_second_ensure_builds_nothing(
    runtime_images: dict[str, ImageInfo], docker_client: docker.DockerClient
) -> None:
    started = time.monotonic()
    again = ensure_runtime_images(docker_client)
    assert time.monotonic() - started < 5
    assert {n: (i.id, i.built) for n, i in again.items()} == {
        n: (i.id, False) for n, i in runtime_images.items()
    }


@pytest.fixture
def run_app(docker_client: docker.DockerClient) -> Iterator[Callable[..., tuple[Container, str]]]:
    """Start containers the way the agent does; return (container, base URL) once it answers."""
    started: list[Container] = []

    def run(image: str, code: Path | None, *, volumes: dict[str, str] | None = None,
            environment: dict[str, str] | None = None, user: str | None = None,
            wait: bool = True) -> tuple[Container, str]:
        mounts: dict[str, dict[str, str]] = {}
        if code is not None:
            mounts[str(code)] = {"bind": "/srv/app", "mode": "ro"}
        for host, inside in (volumes or {}).items():
            mounts[host] = {"bind": inside, "mode": "rw"}
        options: dict[str, Any] = dict(
            detach=True,
            read_only=True,
            tmpfs={"/tmp": "rw,noexec,nosuid,nodev,size=16m",
                   "/run": "rw,noexec,nosuid,nodev,size=1m"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            mem_limit="256m",
            pids_limit=64,
            nano_cpus=500_000_000,
            ports={"8080/tcp": ("127.0.0.1", None)},
            volumes=mounts,
            environment=environment or {},
            labels={"org.wadah.test": "images"},
        )
        if user:
            options["user"] = user
        container = docker_client.containers.run(image, **options)
        started.append(container)
        container.reload()
        bindings = container.ports.get("8080/tcp")
        if not bindings and not wait:  # exited before Docker published its port: the caller checks why
            return container, ""
        binding = bindings[0]
        assert binding["HostIp"] == "127.0.0.1"
        url = f"http://127.0.0.1:{binding['HostPort']}"
        if wait:
            _wait_healthy(container, url)
        return container, url

    yield run
    for container in started:
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass


def _wait_healthy(container: Container, url: str) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/.wadah/health", timeout=2).text == "ok\n":
                return
        except requests.ConnectionError:
            pass
        container.reload()
        if container.status == "exited":
            break
        time.sleep(0.2)
    logs = container.logs().decode(errors="replace")
    pytest.fail(f"{container.image.tags} did not answer:\n{logs}")


def _process_uids(container: Container) -> set[str]:
    top = container.top(ps_args="-o pid,uid")
    return {row[top["Titles"].index("UID")] for row in top["Processes"]}


def _writable_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)  # whatever uid the container runs as may write there
    return path


@pytest.mark.slow
def test_static_serves_a_site_hardened(
    runtime_images: dict[str, ImageInfo], run_app: Callable[..., tuple[Container, str]],
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    (site / "css").mkdir(parents=True)
    (site / "index.html").write_text("<h1>Selamat datang di Kabupaten Contoh</h1>\n")
    (site / "css/site.css").write_text("h1 { color: green }\n")
    (site / ".env").write_text("SECRET=jangan\n")

    container, url = run_app(runtime_images["static"].tag, site)

    home = requests.get(f"{url}/", timeout=5)
    assert home.status_code == 200 and "Kabupaten Contoh" in home.text
    css = requests.get(f"{url}/css/site.css", timeout=5)
    assert css.headers["Content-Type"].startswith("text/css")
    hidden = requests.get(f"{url}/.env", timeout=5)
    assert hidden.status_code == 403 and "jangan" not in hidden.text
    assert requests.get(f"{url}/nothing.html", timeout=5).status_code == 404
    assert _process_uids(container) == {"10000"}


@pytest.mark.slow
def test_static_assets_are_cached_by_browsers_for_a_while(
    runtime_images: dict[str, ImageInfo], run_app: Callable[..., tuple[Container, str]],
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    (site / "aset").mkdir(parents=True)
    (site / "index.html").write_text("<h1>Beranda</h1>\n")
    (site / "aset/situs.css").write_text("h1 { color: green }\n")
    (site / "aset/logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (site / "aset/huruf.woff2").write_bytes(b"wOF2")
    (site / "aset/.rahasia.css").write_text("/* jangan */\n")

    _, url = run_app(runtime_images["static"].tag, site)

    def max_age(path: str) -> str | None:
        response = requests.get(f"{url}/{path}", timeout=5)
        assert response.status_code == 200, path
        return response.headers.get("Cache-Control")

    assert max_age("aset/situs.css") == "max-age=3600"
    assert max_age("aset/logo.png") == "max-age=86400"
    assert max_age("aset/huruf.woff2") == "max-age=604800"
    assert max_age("") is None  # pages are asked for every time
    assert requests.get(f"{url}/aset/nothing.css", timeout=5).status_code == 404
    hidden = requests.get(f"{url}/aset/.rahasia.css", timeout=5)  # dotfiles first, always
    assert hidden.status_code == 403 and "jangan" not in hidden.text


@pytest.mark.slow
def test_php_is_tuned_for_read_only_code_and_sized_to_its_limits(
    runtime_images: dict[str, ImageInfo], run_app: Callable[..., tuple[Container, str]],
    tmp_path: Path,
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "ini.php").write_text(
        "<?php header('Content-Type: application/json'); echo json_encode(array_map('ini_get', "
        "['t' => 'opcache.validate_timestamps', 'm' => 'opcache.memory_consumption', "
        "'s' => 'realpath_cache_size', 'l' => 'realpath_cache_ttl', 'o' => 'opcache.enable']));\n")

    # run_app's limits: 256 MiB, half a CPU, 64 processes.
    container, url = run_app(runtime_images["php"].tag, app)
    response = requests.get(f"{url}/ini.php", timeout=5)
    assert response.json() == {"t": "0", "m": "64", "s": "16M", "l": "3600", "o": "1"}
    # One request per connection: a prefork child is never held by an idle pooled connection.
    assert response.headers["Connection"] == "close"
    logs = container.logs().decode()
    assert "4 Apache workers for 256 MiB, 1 CPU(s), opcache 64 MiB" in logs

    # An app that writes PHP at run time can have the checks back; a number is taken as it is.
    container, url = run_app(runtime_images["php"].tag, app, environment={
        "WADAH_PHP_OPCACHE_VALIDATE_TIMESTAMPS": "1", "WADAH_MAX_WORKERS": "3",
        "WADAH_PHP_OPCACHE_MEMORY": "96"})
    assert requests.get(f"{url}/ini.php", timeout=5).json()["t"] == "1"
    assert requests.get(f"{url}/ini.php", timeout=5).json()["m"] == "96"
    assert "Apache workers" not in container.logs().decode()

    for bad in ({"WADAH_MAX_WORKERS": "banyak"}, {"WADAH_PHP_OPCACHE_VALIDATE_TIMESTAMPS": "ya"}):
        container, _ = run_app(runtime_images["php"].tag, app, environment=bad, wait=False)
        assert container.wait(timeout=READY_SECONDS)["StatusCode"] == 64


@pytest.mark.slow
def test_php_runs_code_with_the_needed_extensions(
    runtime_images: dict[str, ImageInfo], run_app: Callable[..., tuple[Container, str]],
    tmp_path: Path,
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "index.php").write_text(
        '<?php echo "product=" . array_product([6, 7, 1009]) . " uid=" . posix_getuid();\n'
    )
    (app / "extensions.php").write_text("<?php echo json_encode(get_loaded_extensions());\n")

    container, url = run_app(runtime_images["php"].tag, app, user=f"{APP_UID}:{APP_UID}")

    page = requests.get(f"{url}/", timeout=5)
    assert page.status_code == 200
    assert page.text == f"product=42378 uid={APP_UID}"
    extensions = set(requests.get(f"{url}/extensions.php", timeout=5).json())
    assert PHP_EXTENSIONS <= extensions, PHP_EXTENSIONS - extensions
    assert _process_uids(container) == {str(APP_UID)}


@pytest.mark.slow
def test_php_never_runs_what_lands_in_writable_paths(
    runtime_images: dict[str, ImageInfo], run_app: Callable[..., tuple[Container, str]],
    tmp_path: Path,
) -> None:
    # A Laravel-shaped app whose upload form a webshell gets through.
    app = tmp_path / "app"
    public = app / "public"
    public.mkdir(parents=True)
    (public / "uploads").mkdir()
    (app / "storage").mkdir()
    (public / "storage").symlink_to("../storage/app/public")
    (public / "index.php").write_text('<?php echo "front " . strrev("olah");\n')
    (public / "upload.php").write_text(
        "<?php\n"
        f"$shell = '{SHELL}';\n"
        'foreach (["shell.php", "shell.php.jpg", "shell.PHTML"] as $name) {\n'
        '    file_put_contents(__DIR__ . "/uploads/" . $name, $shell);\n'
        "}\n"
        'file_put_contents(__DIR__ . "/uploads/.htaccess", "php_flag engine on\\n");\n'
        'file_put_contents(__DIR__ . "/uploads/logo.png", "PNGDATA");\n'
        '@mkdir(__DIR__ . "/../storage/app/public", 0777, true);\n'
        'file_put_contents(__DIR__ . "/../storage/app/public/avatar.php", $shell);\n'
        'file_put_contents(__DIR__ . "/../storage/app/public/avatar.txt", "teks");\n'
        'echo "stored";\n'
    )
    uploads = _writable_dir(tmp_path / "uploads")
    storage = _writable_dir(tmp_path / "storage")

    _, url = run_app(
        runtime_images["php"].tag,
        app,
        user=f"{APP_UID}:{APP_UID}",
        volumes={str(uploads): "/srv/app/public/uploads", str(storage): "/srv/app/storage"},
        environment={
            "WADAH_DOCROOT": "/srv/app/public",
            "WADAH_WRITABLE_PATHS": "public/uploads storage",
        },
    )
    assert requests.get(f"{url}/", timeout=5).text == "front halo"
    assert requests.get(f"{url}/upload.php", timeout=5).text == "stored"
    assert (uploads / "shell.php").read_text() == SHELL

    for path in ("uploads/shell.php", "uploads/shell.php.jpg", "uploads/shell.PHTML",
                 "uploads/.htaccess", "storage/avatar.php"):
        response = requests.get(f"{url}/{path}", timeout=5)
        assert response.status_code == 403, path
        assert "PWNED" not in response.text and "<?php" not in response.text, path
    # Uploaded files that are not code are still served, directly and through the storage link.
    assert requests.get(f"{url}/uploads/logo.png", timeout=5).content == b"PNGDATA"
    assert requests.get(f"{url}/storage/avatar.txt", timeout=5).text == "teks"


@pytest.mark.slow
def test_php_refuses_a_writable_path_outside_the_app(
    runtime_images: dict[str, ImageInfo], run_app: Callable[..., tuple[Container, str]],
    tmp_path: Path,
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "index.php").write_text("<?php echo 1;\n")
    container, _ = run_app(runtime_images["php"].tag, app,
                           environment={"WADAH_WRITABLE_PATHS": "../etc"}, wait=False)
    assert container.wait(timeout=READY_SECONDS)["StatusCode"] == 64
    assert b"writable path" in container.logs()


@pytest.mark.slow
def test_app_dockerfile_builds_from_the_php_image(
    runtime_images: dict[str, ImageInfo], run_app: Callable[..., tuple[Container, str]],
    docker_client: docker.DockerClient, tmp_path: Path,
) -> None:
    context = tmp_path / "context"
    (context / "src").mkdir(parents=True)
    (context / "src/index.php").write_text('<?php echo "dari dockerfile " . (20 + 22);\n')
    (context / "Dockerfile").write_text(
        f"FROM {runtime_images['php'].tag}\n"
        "COPY src/ /srv/app/\n"
    )
    tag = "wadah-test/derived-app:1"
    image, _ = docker_client.images.build(path=str(context), tag=tag, rm=True, forcerm=True)
    try:
        container, url = run_app(tag, None, user=f"{APP_UID}:{APP_UID}")
        assert requests.get(f"{url}/", timeout=5).text == "dari dockerfile 42"
        container.remove(force=True)
    finally:
        docker_client.images.remove(image.id, force=True)
