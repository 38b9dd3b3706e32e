"""The UI's languages: Bahasa Indonesia by default, English as a choice.

Strings are written in Indonesian in the code and templates and marked with `_()`; the English
catalog is `panel/translations/en/LC_MESSAGES/messages.po` (compiled by `scripts/bootstrap`).
Official documents — letters, the monthly PDF report, exports — stay in Bahasa Indonesia whatever the
reader chose, as correspondence between government offices must (UU 24/2009, Pasal 33).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, has_request_context, request
from flask_babel import Babel, force_locale, get_locale
from flask_login import current_user

DEFAULT_LOCALE = "id"
LANGUAGES = {"id": "Bahasa Indonesia", "en": "English"}
COOKIE = "wadah_lang"
COOKIE_SECONDS = 365 * 24 * 3600

babel = Babel()


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Jakarta")
    babel.init_app(app, locale_selector=_select_locale)
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, current_locale=lambda: str(get_locale()))


def _select_locale() -> str:
    """A signed-in user's saved choice, else the visitor's cookie, else Indonesian.

    The browser's Accept-Language is not consulted: staff machines often send en-US, and the panel
    speaks Indonesian unless someone chose otherwise.
    """
    if not has_request_context():
        return DEFAULT_LOCALE
    if current_user and current_user.is_authenticated and current_user.locale in LANGUAGES:
        return str(current_user.locale)
    chosen = request.cookies.get(COOKIE)
    return chosen if chosen in LANGUAGES else DEFAULT_LOCALE


def N_(message: str) -> str:  # noqa: N802 - the name gettext tools know
    """Put `message` in the catalog without translating it now.

    For text that is stored and shown later, such as a job's progress written by a worker that has
    no reader: the page translates it when it shows it (`{{ _(job.message) }}`).
    """
    return message


def valid(locale: str | None) -> bool:
    return locale in LANGUAGES


@contextmanager
def speaking(locale: str | None) -> Iterator[None]:
    """Render what is inside (an email, say) in `locale`, or the default if it is unknown."""
    with force_locale(locale if valid(locale) else DEFAULT_LOCALE):
        yield
