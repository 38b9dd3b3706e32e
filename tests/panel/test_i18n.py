"""Every string of the UI exists in Bahasa Indonesia and English, and the reader's choice is kept.

The lints find text a template or a view shows without `_()`; the catalog check finds a marked string
with no English; the rendered pages show the two together work.
"""
from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from flask import Flask

from panel import PROJECT_ROOT
from panel.extensions import db
from panel.models import RoleKey, User
from tests.panel.conftest import csrf_token

TEMPLATES = PROJECT_ROOT / "templates"
CATALOG = PROJECT_ROOT / "panel" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"_": None, "_l": None, "N_": None, "gettext": None, "lazy_gettext": None,
            "ngettext": (1, 2), "lazy_ngettext": (1, 2)}
# Words that read the same in both languages: names of things, not sentences.
UNTRANSLATED_WORDS = {"Wadah", "MariaDB", "Docker", "nginx", "ClamAV", "BIND", "Web", "Panel", "Bearer",
                      "Playwright", "Chromium", "Debian"}
TRANSLATABLE_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt"}
CODE_TAGS = ("code", "kbd", "samp")
# Official documents stay in Bahasa Indonesia (panel/i18n.py); the testbed and CLI speak to engineers.
NOT_UI = ("services/documents/letters.py", "services/documents/hosting_letters.py",
          "services/documents/letter_pdf.py", "services/documents/indonesian.py",
          "services/documents/report_pdf.py",
          "services/documents/spreadsheets.py", "testbed/", "cli.py", "embedded.py",
          "backup.py")  # the panel backup speaks only through `wadah backup` (the CLI)
# Errors a user never reads: they mean a bug or a broken installation, and go to the log.
INTERNAL_ERRORS = {"RuntimeError", "TypeError", "AssertionError", "NotImplementedError", "KeyError",
                   "ValueError", "PermissionError", "SecretUnreadable"}
VALIDATORS = {"DataRequired", "InputRequired", "Length", "NumberRange", "EqualTo", "Regexp", "Email", "AnyOf",
              "NoneOf", "URL", "ValidationError"}


def _words_needing_translation(text: str) -> list[str]:
    words = re.findall(r"[^\W\d_]+", text)
    return [w for w in words if w not in UNTRANSLATED_WORDS and not re.fullmatch(r"[A-Z]{2,6}s?", w)]


class _VisibleText(HTMLParser):
    """Collects the text and translatable attributes of a template with its Jinja parts removed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_script = False
        self._in_code = 0  # <code>, <kbd>, <samp> hold names a machine reads: variables, commands

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag in ("script", "style")
        self._in_code += tag in CODE_TAGS
        for name, value in attrs:
            if name in TRANSLATABLE_ATTRIBUTES and value and _words_needing_translation(value):
                self.found.append(f'{name}="{value}"')
            pressed = tag == "input" and dict(attrs).get("type") in ("submit", "button")
            if pressed and name == "value" and value and _words_needing_translation(value):
                self.found.append(f'value="{value}"')

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False
        self._in_code -= tag in CODE_TAGS

    def handle_data(self, data: str) -> None:
        if not self._in_script and not self._in_code and _words_needing_translation(data):
            self.found.append(data.strip())


GETTEXT_CALLS = ("_", "gettext", "ngettext")


def _enclosing_call(tokens: list[tuple[str, str]]) -> str | None:
    """Return the name of the call whose arguments the expression `tokens` end inside, if any."""
    depth = 0
    for position in range(len(tokens) - 1, -1, -1):
        kind, value = tokens[position]
        if kind == "rparen" or value == ")":
            depth += 1
        elif kind == "lparen" or value == "(":
            if depth == 0:
                return tokens[position - 1][1] if position and tokens[position - 1][0] == "name" else None
            depth -= 1
    return None


def _template_text(app: Flask, path: Path) -> tuple[str, list[str]]:
    """Return the template's HTML with every Jinja construct removed, and its suspicious literals."""
    html, literals, expression = [], [], []
    for _line, kind, value in app.jinja_env.lex(path.read_text()):
        if kind == "data":
            html.append(value)
        elif kind in ("variable_begin", "block_begin"):
            expression = []
        elif kind == "string":
            if (_enclosing_call(expression) not in GETTEXT_CALLS and " " in value.strip()
                    and _words_needing_translation(value)):
                literals.append(value)
        if kind not in ("data", "whitespace"):
            expression.append((kind, value))
    return "".join(html), literals


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")),
                         ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_show_no_text_outside_gettext(app: Flask, path: Path) -> None:
    html, literals = _template_text(app, path)
    parser = _VisibleText()
    parser.feed(html)
    assert parser.found == [] and literals == []


def _python_sources() -> list[Path]:
    return [p for p in sorted((PROJECT_ROOT / "panel").rglob("*.py"))
            if not any(str(p.relative_to(PROJECT_ROOT / "panel")).startswith(skip) for skip in NOT_UI)]


def _is_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(_words_needing_translation(node.value))
    return isinstance(node, ast.JoinedStr)


def _called(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


@pytest.mark.parametrize("path", _python_sources(), ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_views_and_services_show_no_text_outside_gettext(path: Path) -> None:
    """Flash messages, refusals raised to the user, form labels and descriptions go through `_()`."""
    untranslated = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            if _called(node.exc) not in INTERNAL_ERRORS and any(_is_literal(a) for a in node.exc.args):
                untranslated.append(node.lineno)
        elif isinstance(node, ast.Call):
            name = _called(node)
            # flash(message, category), abort(code, message), SomeField(label, validators)
            shown_argument = {"flash": 0, "abort": 1}.get(name, 0 if name.endswith("Field") else None)
            shown = shown_argument is not None and len(node.args) > shown_argument and _is_literal(
                node.args[shown_argument])
            described = any(k.arg in ("label", "description") and _is_literal(k.value)
                            or k.arg == "message" and name in VALIDATORS and _is_literal(k.value)
                            for k in node.keywords)
            if shown or described:
                untranslated.append(node.lineno)
    assert untranslated == []


def _catalog():
    with CATALOG.open("rb") as handle:
        return read_po(handle)


def test_every_marked_string_has_an_english_translation() -> None:
    marked = set()
    method_map = [("panel/**.py", "python"), ("templates/**.html", "jinja2")]
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(PROJECT_ROOT), method_map, keywords=KEYWORDS, options_map={}):
        marked.add(message[0] if isinstance(message, tuple) else message)
    catalog = _catalog()
    missing = sorted(m for m in marked if not (catalog.get(m) and catalog.get(m).string))
    fuzzy = sorted(m.id for m in catalog if m.id and m.fuzzy)
    assert missing == [] and fuzzy == []


def test_translations_keep_their_placeholders() -> None:
    """A translation that loses `%(name)s` would raise a KeyError, or drop the value, at render time."""
    broken = []
    for message in _catalog():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(re.findall(r"%\(\w+\)[sd]", ids[0]))
        if any(set(re.findall(r"%\(\w+\)[sd]", s)) != wanted for s in strings if s):
            broken.append(ids[0])
    assert broken == []


def _choose(client, locale: str, next_path: str = "/", signed_in: bool = False) -> None:
    form_page = "/account/password" if signed_in else "/login"  # /login sends a signed-in user away
    response = client.post("/account/language", data={
        "locale": locale, "next": next_path, "csrf_token": csrf_token(client, form_page)})
    assert response.status_code == 302 and response.location.endswith(next_path)


def test_the_panel_speaks_indonesian_until_someone_chooses(client) -> None:
    page = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="id">' in page and "Masuk" in page


def test_a_visitor_choice_is_kept_in_a_cookie(client) -> None:
    _choose(client, "en", "/login")
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in page and "Sign in" in page


def test_an_unknown_language_is_refused_and_changes_nothing(client) -> None:
    response = client.post("/account/language",
                           data={"locale": "fr", "csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 400
    assert '<html lang="id">' in client.get("/login").get_data(as_text=True)


def test_the_choice_is_not_an_open_redirect(client) -> None:
    response = client.post("/account/language", data={
        "locale": "en", "next": "//evil.example/", "csrf_token": csrf_token(client, "/login")})
    assert response.location.endswith("/") and "evil" not in response.location


def test_a_signed_in_choice_is_saved_with_the_user(client, login_as) -> None:
    user = login_as(RoleKey.TECHNICIAN)
    _choose(client, "en", signed_in=True)
    assert db.session.get(User, user.id).locale == "en"
    client.delete_cookie("wadah_lang")  # a new browser: only the account remembers
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in page and "Requests" in page


ENGLISH_PAGES = {
    RoleKey.TECHNICIAN: ["/", "/requests", "/apps", "/apps/reviews", "/reports", "/admin/hosts",
                         "/admin/zones", "/admin/pools", "/account/password", "/account/totp",
                         "/account/tokens"],
    RoleKey.OPD_ADMIN: ["/", "/requests", "/requests/new", "/apps"],
    RoleKey.AUDITOR: ["/", "/audit", "/reports"],
}


@pytest.mark.parametrize("role", sorted(ENGLISH_PAGES))
def test_english_pages_show_no_indonesian_string_of_the_catalog(client, login_as, role: RoleKey) -> None:
    """A string marked but rendered untranslated would show its Indonesian msgid on an English page."""
    login_as(role)
    _choose(client, "en", signed_in=True)
    indonesian = [m.id for m in _catalog() if isinstance(m.id, str) and m.id and m.string != m.id
                  and len(m.id.split()) >= 2 and "%" not in m.id]
    for path in ENGLISH_PAGES[role]:
        response = client.get(path)
        assert response.status_code == 200, path
        page = response.get_data(as_text=True)
        assert '<html lang="en">' in page
        assert [m for m in indonesian if f">{m}<" in page] == [], path
