"""The shared list of environment variables that load code, which the panel and the agent both refuse."""
from __future__ import annotations

import pytest

from agents import defaults, protocol


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
