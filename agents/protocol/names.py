"""Names both ends validate: every name that reaches nginx, DNS, Docker or MariaDB passes one of these.

The panel validates when a user types a name, the agent again when a request arrives.
"""
from __future__ import annotations

import re

# RFC 1035 label, lowercase only (a hostname users type and read), 1–63 characters.
_LABEL = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# App names become Docker container, network and volume names and MariaDB identifiers.
_APP_NAME = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
_ENV_KEY = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
STACKS = ("static", "php", "dockerfile")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
# An app's limit on its writable data, in MiB: both sides check it (the panel's form, the agent).
STORAGE_DEFAULT_MB = 1024  # an app's limit unless the panel sets another
STORAGE_MIN_MB = 32
STORAGE_MAX_MB = 1024 * 1024  # 1 TiB
# Set by the agent or fixed by the image for safety; an app's env may not name them.
RESERVED_ENV = frozenset({
    "WADAH_DOCROOT", "WADAH_WRITABLE_PATHS", "WADAH_RUN_DIR", "WADAH_PORT",
    "WADAH_TRUSTED_PROXIES", "WADAH_PHP_DISABLE_FUNCTIONS", "PATH",
})
ENV_MAX_BYTES = 64 * 1024  # all keys and values of one app together


class InvalidName(ValueError):
    pass


def label(value: str) -> str:
    """Return `value` if it is a valid lowercase DNS label (a subdomain), else raise InvalidName."""
    if not isinstance(value, str) or not _LABEL.match(value) or "--" in value[2:4]:
        raise InvalidName(f"bukan label DNS yang sah: {value!r}")
    return value


def domain(value: str) -> str:
    """Return `value` if it is a lowercase domain of valid labels, else raise InvalidName."""
    if not isinstance(value, str) or len(value) > 253 or "." not in value:
        raise InvalidName(f"bukan nama domain yang sah: {value!r}")
    for part in value.split("."):
        label(part)
    return value


def app_name(value: str) -> str:
    """Return `value` if it is a valid app name (2–40 of a-z, 0-9, '-'), else raise InvalidName."""
    if not isinstance(value, str) or not _APP_NAME.match(value) or "--" in value:
        raise InvalidName(f"bukan nama aplikasi yang sah: {value!r}")
    return value


def env_key(value: str) -> str:
    """Return `value` if it is a valid environment variable name, else raise InvalidName."""
    if not isinstance(value, str) or not _ENV_KEY.match(value):
        raise InvalidName(f"bukan nama variabel lingkungan yang sah: {value!r}")
    return value


# Variables that make the dynamic linker, a language runtime or a shell load code or settings of the
# caller's choosing (a library, a module path, an ini directory, a startup file): set on an app, they
# would run code the scan never saw. The panel refuses them when a user types one, the agent again.
CODE_LOADING_ENV = frozenset({
    # glibc: the loader, character-set and locale modules, resolver files, allocator tunables
    "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LOCPATH", "NLSPATH",
    "RESOLV_HOST_CONF",
    # PHP
    "PHPRC", "PHP_INI_SCAN_DIR", "PHP_VALUE", "PHP_ADMIN_VALUE",
    # Node.js
    "NODE_OPTIONS", "NODE_PATH", "NODE_REPL_EXTERNAL_MODULE",
    # Perl, Ruby
    "PERLLIB", "PERLIO", "RUBYOPT", "RUBYLIB", "RUBYGEMS_GEMDEPS",
    # Java, .NET
    "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH", "DOTNET_STARTUP_HOOKS",
    # OpenSSL loads engines and providers named in its configuration
    "OPENSSL_CONF", "OPENSSL_ENGINES", "OPENSSL_MODULES",
    # shells: startup files, options, and the prompt and separators a script's commands obey
    "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "IFS", "PS4", "PROMPT_COMMAND",
})
CODE_LOADING_ENV_PREFIXES = ("LD_", "MALLOC_", "PYTHON", "PERL5", "LUA_", "CORECLR_", "BASH_FUNC_")


def loads_code(name: str) -> bool:
    """Return whether the environment variable `name` would make the app load code of its choosing."""
    upper = name.upper()
    return upper in CODE_LOADING_ENV or upper.startswith(CODE_LOADING_ENV_PREFIXES)


def stack(value: str) -> str:
    if value not in STACKS:
        raise InvalidName(f"stack tidak dikenal: {value!r}")
    return value
