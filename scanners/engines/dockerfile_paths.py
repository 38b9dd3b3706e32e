"""Where a build step writes: the app's code tree, programs, system configuration, remote sources."""
from __future__ import annotations

import re

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
_SETUID_SYMBOLIC = re.compile(r"[ugoa]*[+=][rwxXt]*s")


def extension_of(path: str) -> str:
    """Return the lower-cased extension of the file at `path` ("" when it has none)."""
    base = path.rsplit("/", 1)[-1].lower()
    return base.rsplit(".", 1)[1] if "." in base.lstrip(".") else ""


def is_code_path(path: str) -> bool:
    """Whether a file at `path` runs as code: the app's tree, programs, PHP under any name."""
    return (any(path == directory or path.startswith(directory + "/")
                for directory in CODE_DIRECTORIES)
            or extension_of(path) in CODE_EXTENSIONS
            or path.rsplit("/", 1)[-1].lower() in SYSTEM_NAMES)


def is_system_path(path: str) -> bool:
    """Whether writing `path` changes the system's configuration rather than the app."""
    return path.startswith(SYSTEM_PATHS) or path.rsplit("/", 1)[-1].lower() in SYSTEM_NAMES


def is_setuid_mode(mode: str) -> bool:
    """Whether a chmod mode (octal or symbolic) sets the setuid or setgid bit."""
    if re.fullmatch(r"[0-7]{4,5}", mode):
        return int(mode[-4]) & 6 != 0
    return any(_SETUID_SYMBOLIC.fullmatch(part) for part in mode.split(","))


def is_remote(source: str) -> bool:
    """Whether an ADD source is fetched from the network (a URL or a git remote)."""
    lower = source.lower()
    return (re.match(r"(?:https?|ftps?|git|ssh)://", lower) is not None
            or re.match(r"[\w.\-]+@[\w.\-]+:", lower) is not None
            or (lower.endswith(".git") and "://" in lower))
