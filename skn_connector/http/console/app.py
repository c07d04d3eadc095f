"""The console's routes: every page a read of the operations layer, every form a person's
action there, each guarded the same way.

A request goes through ``Console._guarded``: the session from its signed cookie (or the name
a trusted reverse proxy sets, for single sign-on), the account it names looked up on every
request (disabled, or its password changed: the session ends; its role as it is now), the
CSRF token of every POST checked, the role the route needs checked, and the page rendered
with autoescaping. Every response gets the security headers; pages with personal data are
never cached. A GET without a session leads to the login page; a POST without one, or
without its CSRF token, is refused (403) before anything is read.
"""

from __future__ import annotations

import contextvars
import hmac
import ipaddress
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from typing import Any, Final
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ...actor import Actor
from ...config import Settings
from ...operations import (
    AccountError,
    AccountRole,
    AccountView,
    AuditFilter,
    ConversationNotFound,
    ExplainNotFound,
    LoginOutcome,
    MessageFilter,
    MessageNotFound,
    Operations,
    QuarantineNotFound,
    RevealRefused,
    TaskError,
    TaskFilter,
    TaskNotFound,
    message_types,
)
from ...operations.accounts import console_session_key
from .chain import ToldExplanation, tell
from .sessions import COOKIE, Session, SessionCodec
from .texts import Texts, texts

#: the operations (the creditor) the request being answered in this thread works for
_DESK: contextvars.ContextVar[Operations | None] = contextvars.ContextVar(
    "skn_console_desk", default=None
)

log = logging.getLogger(__name__)

#: No script at all, styles from this console only, no framing, forms to this console only.
CSP: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
#: Pages may hold personal data: never kept by a browser or a proxy.
NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
#: Login attempts from one address: at most this many in this many seconds.
LOGIN_ATTEMPTS: Final = 10
LOGIN_WINDOW_SECONDS: Final = 300.0
MAX_NOTE: Final = 2000
#: ``/audit?spoor=installatie``: the deployment's own trail (accounts and logins)
DEPLOYMENT_TRAIL: Final = "installatie"
TASK_KINDS: Final = (
    "quarantined",
    "conflict",
    "unexpected_message",
    "processing_failed",
    "delivery_failed",
    "export_failed",
    "effect_failed",
    "beoordeling",
    "wsnp",
    "wsnp_einde",
    "bewind",
    "regeling",
    "hold_by_hand",
    "write_off",
    "deadline",
    "hold_not_applied",
    "backoffice_unavailable",
    "node_not_polled",
)
MESSAGE_STATES: Final = ("pending", "done", "failed", "unexpected", "sent")


class LoginLimiter:
    """At most LOGIN_ATTEMPTS logins per address in LOGIN_WINDOW_SECONDS (this process);
    the account's own lock after five failures lives in the store."""

    def __init__(self) -> None:
        self._attempts: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, address: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            attempts = self._attempts.setdefault(address, deque())
            while attempts and now - attempts[0] > LOGIN_WINDOW_SECONDS:
                attempts.popleft()
            if len(attempts) >= LOGIN_ATTEMPTS:
                return False
            attempts.append(now)
            if len(self._attempts) > 10_000:  # forget the quiet addresses
                for key in [k for k, v in self._attempts.items() if not v]:
                    del self._attempts[key]
            return True


@dataclass
class Visit:
    """Who asks, with their session (its CSRF token) and the message to show once."""

    session: Session
    account: AccountView | None
    secure: bool
    flash: str | None = None
    #: the creditors (participant id, name) the account sees, and the one worked for now
    creditors: list[tuple[str, str]] = field(default_factory=list)
    creditor: str | None = None

    @property
    def actor(self) -> Actor:
        assert self.account is not None
        return Actor.on_the_console(self.account.username)

    def may(self, role: AccountRole) -> bool:
        return self.account is not None and self.account.role.may(role)

    @property
    def may_admin(self) -> bool:
        return self.may(AccountRole.ADMIN)


class Refused(Exception):
    """A request refused with a status and a text key."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status = status
        self.key = key


View = Callable[[Request, Visit, FormData | None], Response]


def _page_number(request: Request) -> int:
    try:
        return max(1, int(request.query_params.get("pagina", "1")))
    except ValueError:
        return 1


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Refused(400, "errors.bad_date") from None


def _safe_next(value: str | None) -> str:
    """Where a login may lead: a path of this console, never another site."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


class Console:
    """The console on one configuration's store, for the HTTP face."""

    def __init__(
        self,
        settings: Settings,
        operations: Operations | None = None,
        *,
        creditors: Sequence[Settings] = (),
    ) -> None:
        self.settings = settings
        self._default = operations if operations is not None else Operations(settings)
        store = self._default.store  # opened now: the first page does not wait for it
        # one desk a creditor, on the one store: a visit works at the desk of a creditor its
        # account may see (``?creditor=ID``, else the first it may), and sees no other's
        self._desks = {settings.creditor_id: self._default} | {
            c.creditor_id: Operations(c, store=store)
            for c in creditors
            if c.creditor_id != settings.creditor_id
        }
        self._order = [c.creditor_id for c in creditors] or [settings.creditor_id]
        console = settings.console
        self.codec = SessionCodec(
            console_session_key(settings), idle_seconds=console.idle_timeout.total_seconds()
        )
        self.t: Texts = texts(console.language)
        self.idle_minutes = round(console.idle_timeout.total_seconds() / 60)
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in console.trusted_proxies]
        self.user_header = console.user_header
        self.limiter = LoginLimiter()
        self.env = Environment(
            loader=PackageLoader("skn_connector.http.console", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(t=self.t, label=self.t.label, day=self.t.day, at=self.t.moment)
        self.env.globals["several_creditors"] = len(self._order) > 1
        self.env.filters.update(day=self.t.day, at=self.t.moment)
        self._css = (
            (resources.files("skn_connector.http.console") / "static" / "console.css")
            .read_text(encoding="utf-8")
            .encode("utf-8")
        )

    @property
    def ops(self) -> Operations:
        """The operations of the creditor the current visit works for."""
        return _DESK.get() or self._default

    def _desk(self, request: Request, visit: Visit) -> Operations | None:
        """The desk of the creditor a visit asks for (``?creditor=``, then kept in the
        session), else the one its session keeps, else the first its account may see; None
        when it may see none, or not the one it asks for."""
        assert visit.account is not None
        allowed = [c for c in self._order if visit.account.may_see(c)]
        visit.creditors = [(c, self._desks[c].settings.creditor.name) for c in allowed]
        wanted = request.query_params.get("creditor")
        if wanted is not None:
            if wanted not in allowed:
                return None
            visit.session = visit.session.working_for(wanted)
        chosen = visit.session.creditor if visit.session.creditor in allowed else None
        chosen = chosen or (allowed[0] if allowed else None)
        if chosen is None:
            return None
        visit.creditor = chosen
        return self._desks[chosen]

    def close(self) -> None:
        self._default.close()

    # -- routes -------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        viewer, handler, admin = AccountRole.VIEWER, AccountRole.HANDLER, AccountRole.ADMIN
        return [
            Route("/", self._endpoint(self.overview, viewer), methods=["GET"]),
            Route("/login", self._login_endpoint, methods=["GET", "POST"]),
            Route("/logout", self._endpoint(self.logout, viewer), methods=["POST"]),
            Route("/taken", self._endpoint(self.tasks, viewer), methods=["GET"]),
            Route("/taken/{task_id:int}", self._endpoint(self.task, viewer), methods=["GET"]),
            Route(
                "/taken/{task_id:int}/besluit",
                self._endpoint(self.resolve, handler),
                methods=["POST"],
            ),
            Route("/opschortingen", self._endpoint(self.holds, viewer), methods=["GET"]),
            Route("/opschortingen/{hold_id}", self._endpoint(self.hold, viewer), methods=["GET"]),
            Route("/berichten", self._endpoint(self.messages, viewer), methods=["GET"]),
            Route(
                "/berichten/{referentienummer}",
                self._endpoint(self.message, viewer),
                methods=["GET"],
            ),
            Route(
                "/gesprekken/{conversation_id}",
                self._endpoint(self.conversation, viewer),
                methods=["GET"],
            ),
            Route(
                "/gesprekken/{conversation_id}/tonen",
                self._endpoint(self.reveal, admin),
                methods=["POST"],
            ),
            Route("/quarantaine", self._endpoint(self.quarantine, viewer), methods=["GET"]),
            Route(
                "/quarantaine/{quarantine_id:int}",
                self._endpoint(self.quarantine_entry, viewer),
                methods=["GET"],
            ),
            Route(
                "/quarantaine/{quarantine_id:int}/opnieuw",
                self._endpoint(self.quarantine_retry, handler),
                methods=["POST"],
            ),
            Route(
                "/quarantaine/{quarantine_id:int}/afgehandeld",
                self._endpoint(self.quarantine_handle, handler),
                methods=["POST"],
            ),
            Route("/audit", self._endpoint(self.audit, viewer), methods=["GET"]),
            Route("/audit/controle", self._endpoint(self.audit_verify, viewer), methods=["GET"]),
            Route("/beleid", self._endpoint(self.policy, viewer), methods=["GET"]),
            Route("/gebruikers", self._endpoint(self.users, admin), methods=["GET"]),
            Route(
                "/gebruikers/{username}",
                self._endpoint(self.user_change, admin),
                methods=["POST"],
            ),
            Route("/static/console.css", self._css_endpoint, methods=["GET"]),
        ]

    # -- the guard ----------------------------------------------------------------------

    def _endpoint(self, view: View, role: AccountRole) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            form = await self._form(request)
            return await run_in_threadpool(self._guarded, request, form, view, role)

        return endpoint

    async def _form(self, request: Request) -> FormData | None:
        if request.method != "POST":
            return None
        try:
            return await request.form(max_files=0, max_fields=20, max_part_size=64 * 1024)
        except Exception:  # a body that is no form: refused as one without its token
            return FormData()

    def _guarded(
        self, request: Request, form: FormData | None, view: View, role: AccountRole
    ) -> Response:
        visit = self._visit(request)
        try:
            if isinstance(visit, Response):
                return visit
            if visit.account is None:
                if request.method == "GET":
                    target = request.url.path + (
                        f"?{request.url.query}" if request.url.query else ""
                    )
                    return self._redirect(visit, "/login?" + urlencode({"next": target}))
                raise Refused(403, "errors.csrf")
            if form is not None and not self._csrf_ok(visit, form):
                raise Refused(403, "errors.csrf")
            if not visit.may(role):
                raise Refused(403, "errors.forbidden")
            desk = self._desk(request, visit)
            if desk is None:
                raise Refused(403, "errors.forbidden")
            working = _DESK.set(desk)
            try:
                return self._finish(view(request, visit, form), visit)
            finally:
                _DESK.reset(working)
        except Refused as refused:
            assert not isinstance(visit, Response)
            return self._error(visit, refused.status, refused.key)

    def _csrf_ok(self, visit: Visit, form: FormData) -> bool:
        token = form.get("csrf_token")
        return isinstance(token, str) and hmac.compare_digest(token, visit.session.csrf)

    def _client_is_proxy(self, request: Request) -> bool:
        if not self.proxies or request.client is None:
            return False
        try:
            address = ipaddress.ip_address(request.client.host)
        except ValueError:
            return False
        return any(address in network for network in self.proxies)

    def _address(self, request: Request) -> str:
        """Who asks: the peer, or behind the trusted proxy the client it names last in
        X-Forwarded-For (the address the proxy saw; the ones before it the client wrote)."""
        peer = request.client.host if request.client else "unknown"
        if self._client_is_proxy(request):
            forwarded = request.headers.get("x-forwarded-for", "").split(",")[-1].strip()
            if forwarded:
                return forwarded[:64]
        return peer

    def _visit(self, request: Request) -> Visit | Response:
        """The visit a request makes: its session and the account it names, as it is now."""
        from_proxy = self._client_is_proxy(request)
        secure = request.url.scheme == "https" or (
            from_proxy and request.headers.get("x-forwarded-proto", "").lower() == "https"
        )
        session = self.codec.load(request.cookies.get(COOKIE)) or Session()
        if from_proxy and self.user_header and (name := request.headers.get(self.user_header)):
            name = name.strip()
            if session.username != name:
                login = self.ops.trusted_login(name)
                if not login.ok or login.account is None:
                    visit = Visit(Session(), None, secure)
                    return self._error(visit, 403, "login.no_account", name=name)
                session = session.logged_in(name, login.account.session_epoch)
        account = None
        if session.username is not None:
            account = self.ops.user(session.username)
            if account is None or not account.enabled or account.session_epoch != session.epoch:
                account = None
                session = Session(csrf=session.csrf).with_flash("login.expired")
            else:
                session = session.touched()
        return Visit(session, account, secure)

    # -- responses ----------------------------------------------------------------------

    def _headers(self, response: Response, *, personal: bool = True) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        if personal:
            for name, value in NO_STORE.items():
                response.headers[name] = value
        return response

    def _finish(self, response: Response, visit: Visit) -> Response:
        response.set_cookie(
            COOKIE,
            self.codec.dump(visit.session),
            httponly=True,
            samesite="strict",
            secure=visit.secure,
            path="/",
        )
        return self._headers(response)

    def render(self, visit: Visit, template: str, *, status: int = 200, **values: Any) -> Response:
        if visit.session.flash is not None:  # shown once: on the first page rendered
            key, flashed = visit.session.flash
            try:
                visit.flash = self.t(key, **flashed)
            except (KeyError, IndexError, ValueError):
                visit.flash = None
            visit.session = visit.session.without_flash()
        page = self.env.get_template(template).render(
            visit=visit,
            csrf=visit.session.csrf,
            idle_minutes=self.idle_minutes,
            language=self.t.language,
            **values,
        )
        return HTMLResponse(page, status_code=status)

    def _redirect(self, visit: Visit, target: str) -> Response:
        return self._finish(RedirectResponse(target, status_code=303), visit)

    def _error(self, visit: Visit, status: int, key: str, **values: Any) -> Response:
        response = self.render(
            visit, "error.html", status=status, nav=None, message=self.t(key, **values)
        )
        return self._finish(response, visit)

    def _flash(self, visit: Visit, target: str, key: str, **values: Any) -> Response:
        visit.session = visit.session.with_flash(key, **values)
        return RedirectResponse(target, status_code=303)

    def _css_endpoint(self, _request: Request) -> Response:
        response = Response(self._css, media_type="text/css; charset=utf-8")
        response.headers["Cache-Control"] = "public, max-age=3600"
        return self._headers(response, personal=False)

    # -- login and logout ---------------------------------------------------------------

    async def _login_endpoint(self, request: Request) -> Response:
        form = await self._form(request)
        return await run_in_threadpool(self._login, request, form)

    def _login(self, request: Request, form: FormData | None) -> Response:
        visit = self._visit(request)
        if isinstance(visit, Response):
            return visit
        target = _safe_next(
            (form.get("next") if form is not None else None)  # type: ignore[arg-type]
            or request.query_params.get("next")
        )
        if visit.account is not None:
            return self._redirect(visit, target)
        if form is None:
            return self._finish(
                self.render(visit, "login.html", nav=None, error=None, next=target), visit
            )
        if not self._csrf_ok(visit, form):
            return self._error(visit, 403, "errors.csrf")
        if not self.limiter.allow(self._address(request)):
            response = self.render(
                visit, "login.html", status=429, nav=None, error=self.t("login.throttled"),
                next=target,
            )  # fmt: skip
            response.headers["Retry-After"] = str(int(LOGIN_WINDOW_SECONDS))
            return self._finish(response, visit)
        username = str(form.get("username") or "").strip()[:64]
        password = str(form.get("password") or "")[:1024]
        login = self.ops.login(username, password)
        if not login.ok or login.account is None:
            key = {
                LoginOutcome.LOCKED: "login.locked",
                LoginOutcome.DISABLED: "login.disabled",
            }.get(login.outcome, "login.refused")
            return self._finish(
                self.render(visit, "login.html", nav=None, error=self.t(key), next=target),
                visit,
            )
        visit.session = visit.session.logged_in(login.account.username, login.account.session_epoch)
        visit.account = login.account
        return self._redirect(visit, target)

    def logout(self, _request: Request, visit: Visit, _form: FormData | None) -> Response:
        visit.session = Session().with_flash("login.logged_out")
        return RedirectResponse("/login", status_code=303)

    # -- pages --------------------------------------------------------------------------

    def overview(self, _request: Request, visit: Visit, _form: FormData | None) -> Response:
        overview = self.ops.overview()
        kinds = sorted(
            ((kind, count) for kind, count in overview.status.tasks_open.items() if count),
            key=lambda item: (-item[1], item[0]),
        )
        return self.render(
            visit, "overview.html", nav="overview", o=overview, s=overview.status, kinds=kinds
        )

    def tasks(self, request: Request, visit: Visit, _form: FormData | None) -> Response:
        query = request.query_params
        kind = query.get("soort") or None
        state = query.get("status", "open") or None
        due = query.get("termijn") or None
        filters = TaskFilter(
            kind=kind if kind in TASK_KINDS else None,
            state=state if state in ("open", "resolved") else None,
            due=due if due in ("overdue", "soon") else None,
        )
        page = self.ops.task_page(filters, page=_page_number(request))
        return self.render(
            visit,
            "tasks.html",
            nav="tasks",
            page=page,
            filters=filters,
            kinds=TASK_KINDS,
            link=self._pager(request),
        )

    def task(self, request: Request, visit: Visit, _form: FormData | None) -> Response:
        return self._task_page(visit, int(request.path_params["task_id"]))

    def _task_page(
        self, visit: Visit, task_id: int, *, status: int = 200, error: str | None = None
    ) -> Response:
        try:
            detail = self.ops.task(task_id)
        except TaskNotFound:
            raise Refused(404, "errors.not_found") from None
        return self.render(
            visit,
            "task.html",
            status=status,
            nav="tasks",
            d=detail,
            error=error,
            may_decide=visit.may(AccountRole.HANDLER),
        )

    def resolve(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        assert form is not None
        task_id = int(request.path_params["task_id"])
        choice = str(form.get("choice") or "")
        note = str(form.get("note") or "").strip()[:MAX_NOTE] or None
        try:
            detail = self.ops.task(task_id)
        except TaskNotFound:
            raise Refused(404, "errors.not_found") from None
        chosen = next((c for c in detail.choices if c.value == choice), None)
        if chosen is None:
            return self._task_page(visit, task_id, status=400, error=self.t("errors.bad_request"))
        if chosen.note_required and not note:
            return self._task_page(visit, task_id, status=400, error=self.t("task.note_required"))
        try:
            self.ops.resolve_task(task_id, choice=choice, note=note, actor=visit.actor)
        except TaskError as exc:
            return self._task_page(visit, task_id, status=409, error=str(exc))
        key = "task.done_answer" if chosen.answer else "task.done"
        return self._flash(visit, f"/taken/{task_id}", key, id=task_id)

    def holds(self, request: Request, visit: Visit, _form: FormData | None) -> Response:
        klantnummer = (request.query_params.get("klantnummer") or "").strip()[:64]
        if klantnummer:
            # the chains themselves are on each conversation's page: each is a pass over the
            # audit trail, which has no index by conversation (docs/benchmarks.md, Console)
            debtor = self.ops.debtor_holds(klantnummer)
            return self.render(visit, "debtor.html", nav="holds", debtor=debtor)
        page = self.ops.debtors_with_holds(page=_page_number(request))
        return self.render(visit, "holds.html", nav="holds", page=page, link=self._pager(request))

    def hold(self, request: Request, visit: Visit, _form: FormData | None) -> Response:
        hold_id = str(request.path_params["hold_id"])[:64]
        why = self._explained(hold_id)
        told = [
            step
            for chain in (why.chains if why is not None else ())
            for step in chain.steps
            if step.hold_id == hold_id
        ]
        if why is None or not told:
            raise Refused(404, "errors.not_found")
        return self.render(visit, "hold.html", nav="holds", hold_id=hold_id, why=why)

    def _explained(
        self, reference: str | None = None, *, debtor: str | None = None
    ) -> ToldExplanation | None:
        try:
            return tell(self.ops.explain(reference, debtor=debtor), self.t)
        except ExplainNotFound:
            return None

    def messages(self, request: Request, visit: Visit, _form: FormData | None) -> Response:
        query = request.query_params
        kinds = message_types()
        kind = query.get("type") or None
        state = query.get("status") or None
        direction = query.get("richting") or None
        filters = MessageFilter(
            berichttype=kind if kind in kinds else None,
            status=state if state in MESSAGE_STATES else None,
            direction=direction if direction in ("in", "out") else None,
            since=_day(query.get("van")),
            until=_day(query.get("tot")),
            conversation_id=(query.get("gesprek") or "").strip()[:36] or None,
            referentienummer=(query.get("referentienummer") or "").strip()[:36] or None,
        )
        page = self.ops.message_page(filters, page=_page_number(request))
        return self.render(
            visit,
            "messages.html",
            nav="messages",
            page=page,
            filters=filters,
            kinds=kinds,
            states=MESSAGE_STATES,
            link=self._pager(request),
        )

    def message(self, request: Request, visit: Visit, _form: FormData | None) -> Response:
        referentienummer = str(request.path_params["referentienummer"])
        try:
            found = self.ops.message(referentienummer)
        except MessageNotFound:
            raise Refused(404, "errors.not_found") from None
        conversation = quote(str(found["ConversatieReferentienummer"]), safe="")
        return RedirectResponse(
            f"/gesprekken/{conversation}#m-{quote(referentienummer, safe='')}", status_code=303
        )

    def conversation(self, request: Request, visit: Visit, _form: FormData | None) -> Response:
        return self._conversation_page(visit, str(request.path_params["conversation_id"]))

    def _conversation_page(
        self,
        visit: Visit,
        conversation_id: str,
        *,
        reason: str | None = None,
        status: int = 200,
        error: str | None = None,
    ) -> Response:
        try:
            found = self.ops.conversation(
                conversation_id,
                reveal=visit.actor if reason is not None else None,
                reason=reason,
            )
        except ConversationNotFound:
            raise Refused(404, "errors.not_found") from None
        except RevealRefused:
            return self._conversation_page(
                visit, conversation_id, status=400, error=self.t("conversation.reason_required")
            )
        return self.render(
            visit,
            "conversation.html",
            status=status,
            nav="messages",
            c=found,
            why=self._explained(conversation_id),
            error=error,
            may_reveal=visit.may(AccountRole.ADMIN),
        )

    def reveal(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        assert form is not None
        reason = str(form.get("reason") or "").strip()[:500]
        return self._conversation_page(
            visit, str(request.path_params["conversation_id"]), reason=reason
        )

    def quarantine(self, request: Request, visit: Visit, _form: FormData | None) -> Response:
        state = request.query_params.get("status", "open") or None
        state = state if state in ("open", "resolved") else None
        page = self.ops.quarantine_page(state=state, page=_page_number(request))
        return self.render(
            visit,
            "quarantine.html",
            nav="quarantine",
            page=page,
            state=state,
            link=self._pager(request),
        )

    def quarantine_entry(self, request: Request, visit: Visit, _form: FormData | None) -> Response:
        return self._quarantine_page(visit, int(request.path_params["quarantine_id"]))

    def _quarantine_page(
        self, visit: Visit, quarantine_id: int, *, status: int = 200, error: str | None = None
    ) -> Response:
        try:
            entry = self.ops.quarantine_entry(quarantine_id)
        except QuarantineNotFound:
            raise Refused(404, "errors.not_found") from None
        return self.render(
            visit,
            "quarantine_entry.html",
            status=status,
            nav="quarantine",
            q=entry,
            error=error,
            may_handle=visit.may(AccountRole.HANDLER),
        )

    def quarantine_retry(self, request: Request, visit: Visit, _form: FormData | None) -> Response:
        quarantine_id = int(request.path_params["quarantine_id"])
        try:
            outcome = self.ops.retry_quarantined(quarantine_id, actor=visit.actor)
        except TaskError as exc:
            return self._quarantine_page(visit, quarantine_id, status=409, error=str(exc))
        return self._flash(
            visit, f"/quarantaine/{quarantine_id}", "quarantine.retried", outcome=outcome
        )

    def quarantine_handle(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        assert form is not None
        quarantine_id = int(request.path_params["quarantine_id"])
        reason = str(form.get("reason") or "").strip()[:MAX_NOTE]
        try:
            self.ops.handle_quarantined(quarantine_id, reason=reason, actor=visit.actor)
        except TaskError as exc:
            return self._quarantine_page(visit, quarantine_id, status=400, error=str(exc))
        return self._flash(visit, f"/quarantaine/{quarantine_id}", "quarantine.handled")

    def audit(self, request: Request, visit: Visit, _form: FormData | None) -> Response:
        query = request.query_params
        filters = AuditFilter(
            person=(query.get("persoon") or "").strip()[:64] or None,
            since=_day(query.get("van")),
            until=_day(query.get("tot")),
            deployment=self._deployment_trail(request, visit),
        )
        page = self.ops.audit_page(filters, page=_page_number(request))
        return self.render(
            visit,
            "audit.html",
            nav="audit",
            page=page,
            filters=filters,
            link=self._pager(request),
            deployment_trail=self._sees_the_deployment(visit),
        )

    def audit_verify(self, request: Request, visit: Visit, _form: FormData | None) -> Response:
        deployment = self._deployment_trail(request, visit)
        report = self.ops.verify_audit(deployment=deployment)
        return self.render(
            visit, "audit_verify.html", nav="audit", report=report, deployment=deployment
        )

    def _sees_the_deployment(self, visit: Visit) -> bool:
        """Whether the visit may read the deployment's own trail (accounts and logins): it
        names the people of every creditor, so only an account that sees them all may, and
        only a deployment of several creditors has one."""
        account = visit.account
        return len(self._order) > 1 and account is not None and account.creditors is None

    def _deployment_trail(self, request: Request, visit: Visit) -> bool:
        asked = request.query_params.get("spoor") == DEPLOYMENT_TRAIL
        return asked and self._sees_the_deployment(visit)

    def policy(self, _request: Request, visit: Visit, _form: FormData | None) -> Response:
        return self.render(visit, "policy.html", nav="policy", p=self.ops.policy_view())

    def users(self, _request: Request, visit: Visit, _form: FormData | None) -> Response:
        return self.render(
            visit, "users.html", nav="users", users=self.ops.users(), roles=list(AccountRole)
        )

    def user_change(self, request: Request, visit: Visit, form: FormData | None) -> Response:
        """Disable, enable or give another role to an account (never one's own: an admin
        does not lock themselves out). Passwords are set at the command line."""
        assert form is not None
        username = str(request.path_params["username"])
        action = str(form.get("action") or "")
        if visit.account is not None and username == visit.account.username:
            raise Refused(403, "users.not_yourself")
        try:
            if action == "disable":
                self.ops.disable_user(username, actor=visit.actor)
            elif action == "enable":
                self.ops.enable_user(username, actor=visit.actor)
            elif action == "role" and str(form.get("role")) in {r.value for r in AccountRole}:
                role = AccountRole(str(form.get("role")))
                self.ops.set_role(username, role=role, actor=visit.actor)
            else:
                raise Refused(400, "errors.bad_request")
        except AccountError:
            raise Refused(404, "errors.not_found") from None
        return self._flash(visit, "/gebruikers", "users.changed", name=username)

    # -- helpers ------------------------------------------------------------------------

    @staticmethod
    def _pager(request: Request) -> Callable[[int], str]:
        """The link to another page of the same list, with the same filters."""

        def link(number: int) -> str:
            values = {k: v for k, v in request.query_params.items() if k != "pagina" and v}
            values["pagina"] = str(number)
            return f"{request.url.path}?{urlencode(values)}"

        return link
