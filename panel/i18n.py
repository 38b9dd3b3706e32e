"""The UI's languages: Bahasa Indonesia by default, English as a choice.

Strings are written in Indonesian in the code and templates and marked with `_()`; the English
catalog is `panel/translations/en/LC_MESSAGES/messages.po` (compiled by `scripts/bootstrap`, and
into the wheel by `setup.py`).
Official documents — letters, the monthly PDF report, exports — stay in Bahasa Indonesia whatever the
reader chose, as correspondence between government offices must (UU 24/2009, Pasal 33).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import flask_babel
from babel.support import NullTranslations
from flask import Flask, current_app, g, has_app_context, has_request_context, request
from flask_babel import Babel, force_locale, get_locale
from flask_babel.speaklater import LazyString
from flask_login import current_user

from panel import security

DEFAULT_LOCALE = "id"
LANGUAGES = {"id": "Bahasa Indonesia", "en": "English"}
COOKIE = "wadah_lang"
COOKIE_SECONDS = 365 * 24 * 3600
_CATALOG = "_wadah_catalog"  # this request's catalog, on `g`

babel = Babel()


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Jakarta")
    babel.init_app(app, locale_selector=_select_locale)
    # Jinja's newstyle gettext formats and escapes the values itself: it needs only the lookups.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: catalog().ugettext(message),
        lambda singular, plural, num: catalog().ungettext(singular, plural, num), newstyle=True)
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, current_locale=language)


def _select_locale() -> str:
    """A signed-in user's saved choice, else the visitor's cookie, else Indonesian.

    The browser's Accept-Language is not consulted: staff machines often send en-US, and the panel
    speaks Indonesian unless someone chose otherwise.
    """
    if not has_request_context():
        return DEFAULT_LOCALE
    if current_user and current_user.is_authenticated and valid(current_user.locale):
        return str(current_user.locale)
    chosen = request.cookies.get(cookie_name())
    return str(chosen) if valid(chosen) else DEFAULT_LOCALE


def cookie_name() -> str:
    """Return the name of the visitor's language cookie (a __Host- cookie under HTTPS)."""
    return security.cookie_name(COOKIE, current_app.config["SESSION_COOKIE_SECURE"])


def catalog() -> NullTranslations:
    """The reader's catalog, looked up once per request.

    Flask-Babel's own gettext finds it again through several context locals on every call, and a page
    of a hundred rows makes hundreds of calls. `speaking` swaps it for the forced language.
    """
    return _reader()[1]


def language() -> str:
    """The reader's language code ("id" or "en"), looked up once per request like `catalog`."""
    return _reader()[0]


def _reader() -> tuple[str, NullTranslations]:
    if not has_app_context():
        return str(get_locale() or DEFAULT_LOCALE), flask_babel.get_translations()
    found = g.get(_CATALOG)
    if found is None:
        found = (str(get_locale() or DEFAULT_LOCALE), flask_babel.get_translations())
        setattr(g, _CATALOG, found)
    return found


def gettext(message: str, **values: Any) -> str:
    """Translate `message` for the reader, then fill its `%(name)s` placeholders from `values`."""
    text = catalog().ugettext(message)
    return text % values if values else text


def ngettext(singular: str, plural: str, num: int, **values: Any) -> str:
    """Translate a message with a count; `%(num)d` in it is the count."""
    values.setdefault("num", num)
    return catalog().ungettext(singular, plural, num) % values


def lazy_gettext(message: str, **values: Any) -> LazyString:
    """Translate when the text is used, in the reader's language then: for text defined at import."""
    return LazyString(gettext, message, **values)


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
    outer = g.pop(_CATALOG, None) if has_app_context() else None
    try:
        with force_locale(locale if valid(locale) else DEFAULT_LOCALE):
            yield
    finally:
        if has_app_context():
            g.pop(_CATALOG, None)
            if outer is not None:
                setattr(g, _CATALOG, outer)
