"""Sign-in (with the optional TOTP second factor), sign-out, password changes and personal API tokens."""
from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import IntegerField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from panel import crypto, i18n
from panel.extensions import db, limiter, login_manager
from panel.i18n import gettext as _
from panel.i18n import lazy_gettext as _l
from panel.models import ApiToken, User
from panel.permissions import own_account, public
from panel.services.accounts import accounts, api_tokens, login_throttle, totp
from panel.services.accounts.passwords import WeakPassword

bp = Blueprint("auth", __name__)

# Session keys. After the password, a TOTP user holds only this marker (user id, expiry, where to go),
# never a login, until a code is accepted.
PENDING_SECOND_FACTOR = "pending_second_factor"
SECOND_FACTOR_SECONDS = 5 * 60
# The secret being enrolled, encrypted with SECRETS_KEY: the session cookie is signed, not secret.
ENROLMENT = "totp_enrolment"


class LoginForm(FlaskForm):
    username = StringField(_l("Nama pengguna"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Kata sandi"), validators=[DataRequired(), Length(max=256)])


class SecondFactorForm(FlaskForm):
    code = StringField(_l("Kode verifikasi atau kode pemulihan"), validators=[DataRequired(), Length(max=32)])


class TotpEnableForm(FlaskForm):
    password = PasswordField(_l("Kata sandi saat ini"), validators=[DataRequired(), Length(max=256)])
    code = StringField(_l("Kode 6 angka dari aplikasi autentikator"),
                       validators=[DataRequired(), Length(max=16)])


class TotpDisableForm(FlaskForm):
    password = PasswordField(_l("Kata sandi saat ini"), validators=[DataRequired(), Length(max=256)])
    code = StringField(_l("Kode verifikasi atau kode pemulihan"), validators=[DataRequired(), Length(max=32)])


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Kata sandi saat ini"), validators=[DataRequired()])
    new = PasswordField(_l("Kata sandi baru"), validators=[DataRequired(), Length(max=256)])
    confirm = PasswordField(
        _l("Ulangi kata sandi baru"), validators=[EqualTo("new", _l("Kata sandi baru tidak sama."))]
    )


class ApiTokenForm(FlaskForm):
    name = StringField(_l("Nama token (untuk apa dipakai)"), validators=[DataRequired(), Length(max=100)])
    # Checked by `api_tokens.issue` against API_TOKEN_MAX_DAYS, so an empty field gets its clear message.
    lifetime_days = IntegerField(_l("Berlaku (hari)"), validators=[Optional()])


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Silakan masuk terlebih dahulu.")
    login_manager.session_protection = "strong"

    @app.before_request
    def _require_account_setup() -> Any:
        if not current_user.is_authenticated or request.endpoint in (
                "auth.logout", "auth.language", "static"):
            return None
        # A generated password is changed at first login before anything else is allowed.
        if current_user.must_change_password and request.endpoint != "auth.password":
            return redirect(url_for("auth.password"))
        # Roles that can change the platform itself must hold a second factor before they act.
        if (not current_user.totp_enabled and request.endpoint != "auth.totp_settings"
                and current_user.has_role(*app.config["TOTP_REQUIRED_ROLES"])):
            flash(_("Peran Anda wajib memakai verifikasi dua langkah. Aktifkan sebelum melanjutkan."),
                  category="info")
            return redirect(url_for("auth.totp_settings"))
        return None


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    # "<user id>:<session epoch>" (`User.get_id`): a session from before the user's last sign-out,
    # password change or second-factor change names an old epoch and signs nobody in.
    user_id, _, epoch = session_id.partition(":")
    if not user_id.isdigit() or not epoch.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_epoch != int(epoch):
        return None
    return user


def _throttle() -> login_throttle.Policy:
    return login_throttle.Policy.from_config(current_app.config)


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an attacker-supplied absolute URL must not become an open redirect.
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("main.dashboard")


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.username.data or "", form.password.data or "",
                                         address=request.remote_addr, policy=_throttle())
        except accounts.LoginRefused as refused:
            db.session.commit()  # keep the failure count and its audit event
            flash(str(refused), category="error")
            return render_template("auth/login.html", form=form), 401
        db.session.commit()
        target = _safe_next(request.args.get("next"))
        if user.totp_enabled:
            session[PENDING_SECOND_FACTOR] = {
                "user_id": user.id, "epoch": user.session_epoch,
                "expires": int(time.time()) + SECOND_FACTOR_SECONDS, "next": target}
            return redirect(url_for("auth.login_totp"))
        login_user(user)
        return redirect(target)
    return render_template("auth/login.html", form=form)


@bp.route("/login/totp", methods=["GET", "POST"])
@public  # only the second half of a sign-in: without a live pending marker it sends back to /login
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login_totp() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    pending = session.get(PENDING_SECOND_FACTOR)
    user = _pending_user(pending)
    if user is None or not isinstance(pending, dict):  # the second test only narrows: a user implies a dict
        if session.pop(PENDING_SECOND_FACTOR, None) is not None:
            flash(_("Waktu memasukkan kode habis. Silakan masuk lagi."), category="info")
        return redirect(url_for("auth.login"))
    form = SecondFactorForm()
    if form.validate_on_submit():
        try:
            accounts.verify_second_factor(user, form.code.data or "", address=request.remote_addr,
                                          policy=_throttle())
        except accounts.LoginRefused as refused:
            db.session.commit()  # keep the failure count and its audit event
            flash(str(refused), category="error")
            return render_template("auth/login_totp.html", form=form), 401
        db.session.commit()
        session.pop(PENDING_SECOND_FACTOR, None)
        login_user(user)
        return redirect(_safe_next(pending.get("next")))
    return render_template("auth/login_totp.html", form=form)


def _pending_user(pending: Any) -> User | None:
    # The marker sits in the signed session cookie, so it cannot be forged, only replayed until it expires.
    if not isinstance(pending, dict) or int(pending.get("expires", 0)) < time.time():
        return None
    user = db.session.get(User, int(pending.get("user_id", 0)))
    # A password or second-factor change since the password step voids the half-finished sign-in.
    if user is None or not user.totp_enabled or user.session_epoch != pending.get("epoch"):
        return None
    return user


@bp.route("/logout", methods=["POST"])
@own_account
def logout() -> Any:
    # Ends every session of this user on the server (all devices), not only this browser's cookie.
    accounts.sign_out(current_user._get_current_object())  # type: ignore[attr-defined]
    db.session.commit()
    logout_user()
    flash(_("Anda telah keluar."), category="info")
    return redirect(url_for("auth.login"))


@bp.post("/account/language")
@public  # the sign-in page offers the choice too; a visitor's choice lives in a cookie
def language() -> Any:
    locale = request.form.get("locale")
    if not i18n.valid(locale):
        abort(400)
    if current_user.is_authenticated:
        current_user.locale = locale
        db.session.commit()
    response = redirect(_safe_next(request.form.get("next")))
    response.set_cookie(i18n.cookie_name(), str(locale), max_age=i18n.COOKIE_SECONDS,
                        secure=current_app.config["SESSION_COOKIE_SECURE"], httponly=True, samesite="Lax")
    return response


@bp.route("/account/password", methods=["GET", "POST"])
@own_account
def password() -> Any:
    user: User = current_user._get_current_object()  # type: ignore[attr-defined]
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            revoked = accounts.change_password(
                user, form.current.data or "", form.new.data or "",
                min_length=current_app.config["PASSWORD_MIN_LENGTH"],
                address=request.remote_addr, policy=_throttle())
        except (accounts.AccountError, WeakPassword) as error:
            db.session.commit()  # keep a wrong password's throttle count and its audit event
            flash(str(error), category="error")
        else:
            db.session.commit()
            _sign_in_again()
            flash(_("Kata sandi diganti. Sesi Anda di perangkat lain telah diakhiri."), category="info")
            if revoked:
                flash(_("%(count)d token API Anda dicabut; buat token baru bila masih diperlukan.",
                        count=revoked), category="info")
            return redirect(url_for("main.dashboard"))
    return render_template("auth/password.html", form=form)


def _sign_in_again() -> None:
    # Every earlier session of the user ended; this one is issued afresh under the new epoch.
    login_user(current_user._get_current_object())  # type: ignore[attr-defined]


@bp.route("/account/totp", methods=["GET", "POST"])
@own_account
def totp_settings() -> Any:
    user: User = current_user._get_current_object()  # type: ignore[attr-defined]
    if user.totp_enabled:
        return render_template("auth/totp_enabled.html", form=TotpDisableForm(),
                               remaining=totp.remaining_recovery_codes(user))
    secret = _enrolment_secret(user)
    form = TotpEnableForm()
    if form.validate_on_submit():
        try:
            codes = accounts.enable_second_factor(user, form.password.data or "", secret,
                                                  form.code.data or "", address=request.remote_addr,
                                                  policy=_throttle())
        except accounts.AccountError as error:
            db.session.commit()  # keep a wrong password's throttle count and its audit event
            flash(str(error), category="error")
        else:
            db.session.commit()
            session.pop(ENROLMENT, None)
            _sign_in_again()
            # Shown once, in this response only: only their digests are kept.
            page = render_template("auth/totp_recovery_codes.html", codes=codes)
            return page, 200, {"Cache-Control": "no-store"}
    issuer = f"Wadah {current_app.config['PEMDA_NAME']}"
    qr = Markup(totp.qr_svg(totp.provisioning_uri(secret, user.username, issuer)))  # noqa: S704 (segno's SVG)
    page = render_template("auth/totp_enrol.html", form=form, secret=secret, qr=qr)
    return page, {"Cache-Control": "no-store"}


def _enrolment_secret(user: User) -> str:
    # The same secret across reloads, so a QR code already scanned stays valid until it is confirmed.
    held = session.get(ENROLMENT)
    if isinstance(held, dict) and held.get("user_id") == user.id:
        try:
            return crypto.decrypt(str(held.get("secret", "")))
        except crypto.SecretUnreadable:
            pass
    secret = totp.new_secret()
    session[ENROLMENT] = {"user_id": user.id, "secret": crypto.encrypt(secret)}
    return secret


@bp.post("/account/totp/disable")
@own_account
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"])
def disable_totp() -> Any:
    form = TotpDisableForm()
    if not form.validate_on_submit():
        flash(_("Isi kata sandi saat ini dan sebuah kode."), category="error")
        return redirect(url_for("auth.totp_settings"))
    try:
        accounts.disable_second_factor(
            current_user,  # type: ignore[arg-type]
            form.password.data or "", form.code.data or "",
            address=request.remote_addr, policy=_throttle())
    except accounts.AccountError as error:
        db.session.commit()  # keep the failure count and its audit event
        flash(str(error), category="error")
    else:
        db.session.commit()
        _sign_in_again()
        flash(_("Verifikasi dua langkah dimatikan."), category="info")
    return redirect(url_for("auth.totp_settings"))


@bp.route("/account/tokens", methods=["GET", "POST"])
@own_account
def tokens() -> Any:
    max_days = current_app.config["API_TOKEN_MAX_DAYS"]
    form = ApiTokenForm(lifetime_days=max_days)
    form.lifetime_days.description = _("Paling lama %(days)d hari; token berhenti berlaku sesudahnya.",
                                       days=max_days)
    if form.validate_on_submit():
        try:
            token, secret = api_tokens.issue(
                current_user, form.name.data or "", form.lifetime_days.data,  # type: ignore[arg-type]
                max_days=max_days, second_factor_roles=current_app.config["TOTP_REQUIRED_ROLES"])
        except api_tokens.TokenRefused as refused:
            flash(str(refused), category="error")
        else:
            db.session.commit()
            # Shown once, in this response only: only its digest is kept.
            page = render_template("auth/token_issued.html", token=token, secret=secret)
            return page, 201, {"Cache-Control": "no-store"}
    return render_template("auth/tokens.html", form=form,
                           tokens=api_tokens.active_tokens(current_user))  # type: ignore[arg-type]


@bp.post("/account/tokens/<int:token_id>/revoke")
@own_account
def revoke_token(token_id: int) -> Any:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != current_user.id:
        abort(404)  # another user's token is not even acknowledged
    if not FlaskForm().validate_on_submit():
        abort(400)
    api_tokens.revoke(token, current_user)  # type: ignore[arg-type]
    db.session.commit()
    flash(_("Token %(name)s dicabut.", name=token.name), category="info")
    return redirect(url_for("auth.tokens"))
