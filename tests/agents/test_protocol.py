"""What the panel and the agent both check: variables that load code, and the ranges a request may ask."""
from __future__ import annotations

import pytest

from agents import defaults, errors, protocol


@pytest.mark.parametrize("name", [
    "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "PHPRC", "PHP_INI_SCAN_DIR", "PHP_VALUE", "PHP_ADMIN_VALUE",
    "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "NODE_OPTIONS", "NODE_PATH", "PERL5LIB", "PERL5OPT",
    "PERLLIB", "RUBYOPT", "RUBYLIB", "BASH_ENV", "ENV", "GCONV_PATH", "HOSTALIASES", "LOCPATH", "NLSPATH",
    "MALLOC_ARENA_MAX", "GLIBC_TUNABLES", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "IFS", "SHELLOPTS",
    "OPENSSL_CONF", "DOTNET_STARTUP_HOOKS", "ld_preload",
])
def test_variables_that_load_code_are_named(name: str) -> None:
    assert protocol.loads_code(name)


@pytest.mark.parametrize("name", ["NODE_ENV", "APP_ENV", "LDAP_HOST", "ENVIRONMENT", "PHP_MEMORY_LIMIT",
                                  "JAVA_HOME", "SAPAAN", "DB_HOST_READONLY_X"])
def test_ordinary_variables_are_not(name: str) -> None:
    assert not protocol.loads_code(name)


def test_no_variable_the_agent_sets_itself_is_on_the_list() -> None:
    # The agent's own variables go into every container; refusing them would refuse every app.
    assert not any(protocol.loads_code(name) for name in defaults.RESERVED_ENV)


def _spec(**fields: object) -> protocol.AppSpec:
    values: dict[str, object] = {"name": "portal", "fqdn": "portal.contoh.go.id", "stack": "php",
                                 "release_id": 3, "artifact_sha256": "a" * 64}
    values.update(fields)
    return protocol.AppSpec(**values)  # type: ignore[arg-type]


def test_a_spec_within_every_range_passes() -> None:
    protocol.check_spec(_spec())
    protocol.check_spec(_spec(listen_address="127.0.0.18"))
    protocol.check_spec(_spec(listen_address="fd00::18"))
    protocol.check_spec(_spec(storage_mb=defaults.STORAGE_MAX_MB, upload_max_mb=4096,
                              limits=protocol.Limits(memory_mb=32, cpus=0.05, pids=16)))


@pytest.mark.parametrize("fields", [
    {"release_id": 0}, {"release_id": 2**31}, {"release_id": True}, {"artifact_sha256": "A" * 64},
    {"env": {"LD_PRELOAD": "/srv/app/x.so"}}, {"env": {"WADAH_DOCROOT": "/"}},
    {"env": {"SAPAAN": "a\0b"}}, {"env": {"SAPAAN": "x" * (defaults.ENV_MAX_BYTES + 1)}},
    {"limits": protocol.Limits(memory_mb=16)}, {"limits": protocol.Limits(pids=100_000)},
    {"health": protocol.HealthCheck(path="tanpa-garis-miring")}, {"upload_max_mb": 0},
    {"storage_mb": defaults.STORAGE_MIN_MB - 1}, {"storage_mb": defaults.STORAGE_MAX_MB + 1},
    {"listen_address": "127.0.0.18:80"}, {"listen_address": "127.0.0.18; include /etc/passwd"},
    {"listen_address": "portal.contoh.go.id"}, {"listen_address": "127.0.0.0/29"}, {"listen_address": 7},
])
def test_a_value_outside_its_range_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(protocol.InvalidSpec):
        protocol.check_spec(_spec(**fields))


@pytest.mark.parametrize("value", ["sha256:" + "0" * 63, "0" * 64, "sha256:" + "A" * 64, 7])
def test_only_a_docker_image_id_is_an_image_id(value: object) -> None:
    with pytest.raises(protocol.InvalidSpec):
        protocol.image_id(value)  # type: ignore[arg-type]
    assert protocol.image_id("sha256:" + "0" * 64) == "sha256:" + "0" * 64


@pytest.mark.parametrize(("error", "code"), [
    (errors.HostOperationError, "agent_error"), (errors.UnknownApp, "unknown_app"),
    (errors.DeployAborted, "deploy_failed"), (errors.BuildFailed, "build_failed"),
    (errors.InvalidRequest, "invalid_request"), (errors.RuntimeUnavailable, "runtime_unavailable"),
])
def test_an_error_keeps_the_code_the_panel_matches_on(error: type[errors.HostOperationError],
                                                     code: str) -> None:
    assert error.code == code
