"""The review app: FastAPI, server-rendered Jinja2 pages, one item per page, keyboard shortcuts.

Security model:
- every route but the sign-in page needs a reviewer token (cookie set at sign-in, or ``Authorization:
  Bearer``); without one the answer is 401;
- example text is untrusted: Jinja2 autoescape is on for every template, and the Content-Security-Policy
  allows scripts only from this server (an injected ``<script>`` would not run even if it were unescaped);
- every form carries a CSRF token: on item forms an HMAC of (reviewer, item, form key) under the store's
  secret, on the sign-in form a double-submit cookie; a forged or replayed-for-another-item form is refused;
- no request parameter reaches a filesystem path: templates and the one script are fixed names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from pathlib import Path
from typing import Callable

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader

from tunewright.review.store import Store

HERE = Path(__file__).parent
COOKIE = "tw_token"
LOGIN_CSRF_COOKIE = "tw_login_csrf"
SCRIPT = (HERE / "static" / "review.js").read_text(encoding="utf-8")
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Unauthorized(Exception):
    pass


def create_app(store: Store, validate_label: Callable[[str], str | None], secure_cookies: bool = False) -> FastAPI:
    """``validate_label(text)`` returns None for a usable label, else the reason it is not (shown to the reviewer)."""
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    secret = store.secret().encode("utf-8")
    app = FastAPI(title="tunewright review", docs_url=None, redoc_url=None, openapi_url=None)

    def page(name: str, status: int = 200, **ctx) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**ctx), status_code=status)

    def sign(*parts: object) -> str:
        msg = "|".join(str(p) for p in parts).encode("utf-8")
        return hmac.new(secret, msg, hashlib.sha256).hexdigest()

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        resp = await call_next(request)
        for k, v in HEADERS.items():
            resp.headers.setdefault(k, v)
        return resp

    @app.exception_handler(Unauthorized)
    async def _unauthorized(request: Request, exc: Unauthorized):
        return page("denied.html", 401, message="Sign in with your reviewer token")

    def reviewer(request: Request) -> str:
        token = request.cookies.get(COOKIE)
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        name = store.reviewer_for_token(token)
        if name is None:
            raise Unauthorized()
        return name

    def item_page(who: str, item, error: str | None = None, label_value: str | None = None, status: int = 200):
        form_key = secrets.token_urlsafe(18)  # one per render: the idempotency key of this form
        evidence = json.loads(item.evidence_json or "{}")
        evidence.setdefault("votes", {})
        evidence.setdefault("terms", {})
        return page("item.html", status, reviewer=who, item=item, evidence=evidence, form_key=form_key,
                    csrf=sign("judge", who, item.id, form_key), csrf_logout=sign("logout", who),
                    progress=store.progress(who), error=error,
                    label_value=item.suggested if label_value is None else label_value)

    @app.get("/login", response_class=HTMLResponse)
    def login_form():
        csrf = secrets.token_urlsafe(18)
        resp = page("login.html", csrf=csrf, error=None)
        resp.set_cookie(LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=secure_cookies)
        return resp

    @app.post("/login")
    def login(request: Request, token: str = Form(""), csrf: str = Form("")):
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not cookie or not hmac.compare_digest(cookie, csrf):
            return page("denied.html", 403, message="Sign-in form expired or forged; reload the sign-in page")
        if store.reviewer_for_token(token) is None:
            new = secrets.token_urlsafe(18)
            resp = page("login.html", 401, csrf=new, error="Unknown token")
            resp.set_cookie(LOGIN_CSRF_COOKIE, new, httponly=True, samesite="strict", secure=secure_cookies)
            return resp
        resp = RedirectResponse("/item", status_code=303)
        resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies)
        resp.delete_cookie(LOGIN_CSRF_COOKIE)
        return resp

    @app.post("/logout")
    def logout(who: str = Depends(reviewer), csrf: str = Form("")):
        if not hmac.compare_digest(sign("logout", who), csrf):
            raise HTTPException(403, "forged form")
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE)
        return resp

    @app.get("/")
    def root(who: str = Depends(reviewer)):
        return RedirectResponse("/item", status_code=303)

    @app.get("/item", response_class=HTMLResponse)
    def next_item(who: str = Depends(reviewer)):
        item = store.next_item(who)
        if item is None:
            return page("done.html", reviewer=who, progress=store.progress(who), csrf_logout=sign("logout", who))
        return item_page(who, item)

    @app.post("/judge")
    def judge(who: str = Depends(reviewer), item_id: int = Form(...), form_key: str = Form(...),
              csrf: str = Form(...), action: str = Form(...), label: str = Form("")):
        if len(form_key) > 64 or not hmac.compare_digest(sign("judge", who, item_id, form_key), csrf):
            raise HTTPException(403, "forged or stale form")
        item = store.item(item_id)
        if item is None:
            raise HTTPException(404, "no such item")
        if action not in ("accept", "correct", "skip"):
            raise HTTPException(400, f"unknown action {action!r}")
        after = item.suggested if action == "accept" else label.strip()
        if action == "correct":
            problem = validate_label(after)
            if problem:
                return item_page(who, item, error=problem, label_value=label, status=400)
            if after == item.suggested:
                action = "accept"  # "corrected" to the suggestion: record what actually happened
        store.record_judgment(item_id, who, action, after, form_key)  # committed before we answer
        return RedirectResponse("/item", status_code=303)

    @app.get("/static/review.js")
    def script(who: str = Depends(reviewer)):
        return Response(SCRIPT, media_type="application/javascript")

    @app.get("/api/progress")
    def progress(who: str = Depends(reviewer)):
        return JSONResponse({"reviewer": who, **store.progress(who)})

    return app
