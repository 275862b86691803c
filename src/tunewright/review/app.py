"""The review app: FastAPI, server-rendered Jinja2 pages, one item per page, keyboard and mouse span picking.

Security model:
- every request's Host header must name this server (127.0.0.1, localhost, ::1 or ``allowed_hosts``): a
  DNS-rebinding page cannot talk to it;
- every POST must come from a page of this server: ``Origin`` equal to ``scheme://Host`` and, where the
  browser sends it, ``Sec-Fetch-Site: same-origin``. A page on another port of 127.0.0.1 is same-*site* but
  not same-origin, and cookies do not separate ports, so this check is what stops it. Requests with an
  ``Authorization: Bearer`` header (scripts, the load test) are exempt: a page on another origin cannot add
  that header without a CORS preflight, which this server never grants;
- every request body is capped (``MAX_BODY`` bytes, read before any parsing), form text must be UTF-8, and a
  label is checked by a linear-time reader with its own length cap: no request makes the server work for long;
- every route but the sign-in page needs a session (cookie set at sign-in) or a reviewer token (``Authorization:
  Bearer``); without one the answer is 401. Signing out deletes the session; ``tunewright review revoke``
  retires a reviewer's token and all their sessions;
- the sign-in form's CSRF token is an HMAC (server secret) of a per-browser nonce cookie and the time it was
  issued, valid for ``LOGIN_TTL`` seconds; item forms carry an HMAC of (reviewer, item, form key, revised
  judgment); a forged or transplanted form is refused;
- example text is untrusted: Jinja2 autoescape is on for every template, and the Content-Security-Policy
  allows scripts only from this server (an injected ``<script>`` would not run even if it were unescaped);
- no request parameter reaches a filesystem path: templates and the one script are fixed names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path
from typing import Callable
from urllib.parse import unquote_to_bytes, urlsplit

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader

from tunewright.review.labels import MAX_LABEL_CHARS, Checked
from tunewright.review.store import Store

HERE = Path(__file__).parent
SCRIPT = (HERE / "static" / "review.js").read_text(encoding="utf-8")
MAX_BODY = 64 * 1024  # bytes of one request body; a label is at most MAX_LABEL_CHARS characters
LOGIN_TTL = 15 * 60  # seconds a sign-in form stays valid
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" with a form POST, and the
    # Origin check could not tell our own forms from anyone else's
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Unauthorized(Exception):
    pass


def host_name(host: str) -> str:
    """The name part of a Host header value ('127.0.0.1:8765' -> '127.0.0.1', '[::1]:80' -> '[::1]')."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0]


def origin_problem(headers: dict[str, str], host: str) -> str | None:
    """Why a POST does not come from a page of this server (None when it does)."""
    if headers.get("authorization", "").lower().startswith("bearer "):
        return None  # not a browser form: another origin cannot add this header without a CORS preflight
    site = headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return f"The form was sent from another site or port ({site}); open the review app itself and try again."
    origin = headers.get("origin")
    if not origin or origin == "null":
        return "The browser did not say which page sent this form (no Origin header), so it was refused."
    if urlsplit(origin).netloc.lower() != host.lower():
        return f"The form was sent from {origin}, not from this review app ({host}), so it was refused."
    return None


def form_encoding_problem(content_type: str, body: bytes) -> str | None:
    """Form text must be UTF-8: the form parsers would otherwise store undecodable bytes as Latin-1 or U+FFFD."""
    ct = content_type.split(";")[0].strip().lower()
    try:
        if ct == "multipart/form-data":
            body.decode("utf-8")  # this app takes no file uploads: the whole body is form text
        elif ct == "application/x-www-form-urlencoded":
            for field in body.split(b"&"):
                unquote_to_bytes(field.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return "The form was not sent as UTF-8 text; reload the page and type the label again."
    return None


class Guard:
    """ASGI middleware that runs before routing and parsing: Host check, POST origin check, body cap, UTF-8."""

    def __init__(self, app, allowed_hosts: set[str], render: Callable[[str, int], HTMLResponse]):
        self.app, self.allowed, self.render = app, allowed_hosts, render

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if host_name(host) not in self.allowed:
            return await self.render(f"This review app does not answer to the host name {host[:100]!r}.",
                                     400)(scope, receive, send)
        if scope["method"] not in ("GET", "HEAD"):
            problem = origin_problem(headers, host)
            if problem:
                return await self.render(problem, 403)(scope, receive, send)
            length = headers.get("content-length", "0")
            if not length.isdigit() or int(length) > MAX_BODY:
                return await self.render(f"The form is too large (the limit is {MAX_BODY // 1024} KiB).",
                                         413)(scope, receive, send)
            chunks, size = [], 0
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    return
                chunks.append(msg.get("body", b""))
                size += len(chunks[-1])
                if size > MAX_BODY:
                    return await self.render(f"The form is too large (the limit is {MAX_BODY // 1024} KiB).",
                                             413)(scope, receive, send)
                if not msg.get("more_body"):
                    break
            body = b"".join(chunks)
            problem = form_encoding_problem(headers.get("content-type", ""), body)
            if problem:
                return await self.render(problem, 400)(scope, receive, send)
            sent = False

            async def replay():
                nonlocal sent
                if sent:
                    return await receive()
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            return await self.app(scope, replay, send)
        return await self.app(scope, receive, send)


def create_app(store: Store, check_label: Callable[[str, str], Checked], secure_cookies: bool = False,
               allowed_hosts: list[str] | tuple[str, ...] = (), entity_types: list[str] | tuple[str, ...] = (),
               empty_answer: str = "No entities found") -> FastAPI:
    """``check_label(label, sentence)`` returns the canonical label to store, or why it cannot be stored.
    ``allowed_hosts``: host names besides loopback that this server answers to. ``entity_types``: the types
    the span picker offers (number keys 1..9), empty for a classification task."""
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    secret = store.secret().encode("utf-8")
    app = FastAPI(title="tunewright review", docs_url=None, redoc_url=None, openapi_url=None)
    # __Host- cookies need Secure (https); over plain http on loopback the Origin check carries the weight
    session_cookie = "__Host-tw_session" if secure_cookies else "tw_session"
    login_cookie = "__Host-tw_login" if secure_cookies else "tw_login"

    def page(name: str, status: int = 200, **ctx) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**ctx), status_code=status,
                            headers=HEADERS)

    def message_page(message: str, status: int) -> HTMLResponse:
        return page("denied.html", status, message=message, signin=status == 401)

    def sign(*parts: object) -> str:
        msg = "|".join(str(p) for p in parts).encode("utf-8")
        return hmac.new(secret, msg, hashlib.sha256).hexdigest()

    def set_cookie(resp: Response, name: str, value: str) -> None:
        resp.set_cookie(name, value, httponly=True, samesite="strict", secure=secure_cookies, path="/")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        resp = await call_next(request)
        for k, v in HEADERS.items():
            resp.headers.setdefault(k, v)
        return resp

    @app.exception_handler(Unauthorized)
    async def _unauthorized(request: Request, exc: Unauthorized):
        return message_page("Sign in with your reviewer token.", 401)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException):
        return message_page(str(exc.detail), exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _bad_form(request: Request, exc: RequestValidationError):
        fields = sorted({str(e["loc"][-1]) for e in exc.errors()})
        return message_page(f"The form was incomplete or garbled (field {', '.join(fields)}); reload the page.", 400)

    def reviewer(request: Request) -> str:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            name = store.reviewer_for_token(auth[7:].strip())
        else:
            name = store.reviewer_for_session(request.cookies.get(session_cookie))
        if name is None:
            raise Unauthorized()
        return name

    def item_page(who: str, item, error: str | None = None, label_value: str | None = None, status: int = 200,
                  supersedes=None, notice: str | None = None):
        form_key = secrets.token_urlsafe(18)  # one per render: the idempotency key of this form
        evidence = json.loads(item.evidence_json or "{}")
        evidence.setdefault("votes", {})
        evidence.setdefault("terms", {})
        others = [j for j in store.item_judgments(item.id) if j.reviewer != who and j.action != "skip"]
        adjudicate = others if len({j.after for j in others}) > 1 else []
        sup = "" if supersedes is None else str(supersedes.id)
        last = store.last_judgment(who)
        candidates = sorted({c for c in evidence["votes"] if c and c != "(example)"}, key=len, reverse=True)
        return page("item.html", status, reviewer=who, item=item, evidence=evidence, form_key=form_key,
                    csrf=sign("judge", who, item.id, form_key, sup), csrf_logout=sign("logout", who),
                    progress=store.progress(who), error=error, notice=notice, supersedes=supersedes,
                    supersedes_id=sup, adjudicate=adjudicate, last=last, max_label=MAX_LABEL_CHARS,
                    label_value=item.suggested if label_value is None else label_value,
                    entity_types=list(entity_types),
                    page_data=json.dumps({"candidates": candidates, "types": list(entity_types),
                                         "empty": empty_answer}))

    @app.get("/login", response_class=HTMLResponse)
    def login_form():
        return login_page()

    def login_page(error: str | None = None, status: int = 200) -> HTMLResponse:
        nonce, issued = secrets.token_urlsafe(18), int(time.time())
        resp = page("login.html", status, csrf=f"{issued}.{sign('login', nonce, issued)}", error=error)
        set_cookie(resp, login_cookie, nonce)
        return resp

    def login_csrf_ok(nonce: str, csrf: str) -> bool:
        issued, _, mac = csrf.partition(".")
        if not nonce or not issued.isdigit() or not 0 <= time.time() - int(issued) <= LOGIN_TTL:
            return False
        return hmac.compare_digest(sign("login", nonce, issued), mac)

    @app.post("/login")
    def login(request: Request, token: str = Form(""), csrf: str = Form("")):
        if not login_csrf_ok(request.cookies.get(login_cookie, ""), csrf):
            return message_page("The sign-in form expired or was not made by this app; reload the sign-in page.",
                                403)
        started = store.start_session(token)
        if started is None:
            return login_page("Unknown reviewer token.", 401)
        resp = RedirectResponse("/item", status_code=303)
        set_cookie(resp, session_cookie, started[1])
        resp.delete_cookie(login_cookie, path="/")
        return resp

    @app.post("/logout")
    def logout(request: Request, who: str = Depends(reviewer), csrf: str = Form("")):
        if not hmac.compare_digest(sign("logout", who), csrf):
            raise HTTPException(403, "The sign-out form was not made by this app; reload the page.")
        store.end_session(request.cookies.get(session_cookie))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(session_cookie, path="/")
        return resp

    @app.get("/")
    def root(who: str = Depends(reviewer)):
        return RedirectResponse("/item", status_code=303)

    @app.get("/item", response_class=HTMLResponse)
    def next_item(who: str = Depends(reviewer)):
        item = store.next_item(who)
        if item is None:
            return page("done.html", reviewer=who, progress=store.progress(who), csrf_logout=sign("logout", who),
                        last=store.last_judgment(who))
        return item_page(who, item)

    @app.get("/revise", response_class=HTMLResponse)
    def revise(who: str = Depends(reviewer), judgment: int | None = None):
        """Undo / revise: the reviewer's last judgment (or the one named), as a form whose answer supersedes it."""
        j = store.judgment(judgment) if judgment is not None else store.last_judgment(who)
        if j is None or j.reviewer != who:
            return message_page("You have no judgment to revise yet.", 404)
        cur = store.current_judgment(j.item_id, who)
        if cur is None or cur.id != j.id:
            return message_page("That judgment was revised already; revise the newer one.", 409)
        item = store.item(j.item_id)
        return item_page(who, item, supersedes=j, label_value=j.after if j.after is not None else item.suggested,
                         notice=f"Revising your judgment: you recorded {describe(j)}. Your new answer replaces it "
                                "(the old one is kept in the history).")

    def describe(j) -> str:
        when = j.created_at[:19].replace("T", " ")
        return f"a skip at {when}" if j.action == "skip" else f"{j.action} “{j.after}” at {when} UTC"

    @app.post("/judge")
    def judge(who: str = Depends(reviewer), item_id: int = Form(...), form_key: str = Form(...),
              csrf: str = Form(...), action: str = Form(...), label: str = Form(""), supersedes: str = Form("")):
        if len(form_key) > 64 or len(supersedes) > 20 or not hmac.compare_digest(
                sign("judge", who, item_id, form_key, supersedes), csrf):
            raise HTTPException(403, "This form was not made for you and this item (or it was changed); "
                                     "reload the page.")
        item = store.item(item_id)
        if item is None:
            raise HTTPException(404, "There is no such item.")
        if action not in ("accept", "correct", "skip"):
            raise HTTPException(400, f"Unknown action {action[:20]!r}: use Accept, Correct or Skip.")
        sup_j = store.judgment(int(supersedes)) if supersedes.isdigit() else None
        if action == "accept":
            after = item.suggested
        elif action == "correct":
            checked = check_label(label, item.text)
            if checked.error:
                return item_page(who, item, error=checked.error, label_value=label[:MAX_LABEL_CHARS], status=400,
                                 supersedes=sup_j)
            after = checked.label
            if after == item.suggested:
                action = "accept"  # "corrected" to the suggestion: record what actually happened
        else:
            after = None
        rec = store.record_judgment(item_id, who, action, after, form_key, sup_j.id if sup_j else None)
        if rec.created:  # committed before we answer
            return RedirectResponse("/item", status_code=303)
        cur = rec.current
        if cur is None or (rec.reason == "same_form" and (cur.action, cur.after) == (action, after)):
            return RedirectResponse("/item", status_code=303)  # the same form posted twice: a double click
        # a second tab, a replayed form or a stale revision: nothing was saved; say so and offer the revision
        return item_page(who, item, supersedes=cur, status=409,
                         label_value=after if after is not None else (cur.after or item.suggested),
                         notice=f"Already recorded: you gave this item {describe(cur)}. Your new answer was NOT "
                                "saved; press Revise below to replace the recorded one.")

    @app.get("/static/review.js")
    def script(who: str = Depends(reviewer)):
        return Response(SCRIPT, media_type="application/javascript")

    @app.get("/api/progress")
    def progress(who: str = Depends(reviewer)):
        return JSONResponse({"reviewer": who, **store.progress(who)})

    # added last, so outermost: it runs before routing, cookies and form parsing
    app.add_middleware(Guard, allowed_hosts={h.lower() for h in (*LOOPBACK, *allowed_hosts)}, render=message_page)
    return app
