"""``tunewright serve``: an OpenAI-compatible endpoint on FastAPI + uvicorn.

    GET  /v1/models                  specialist, generalist, and auto where a router shipped
    POST /v1/chat/completions        chat messages through the chat template (streaming with "stream": true)
    POST /v1/completions             a raw text prompt

Safe by default: bound to 127.0.0.1; any other address needs an API key (``Authorization: Bearer KEY``); a
POST carrying an ``Origin`` header must come from an allowed origin (a web page cannot drive the model); the
body is size-capped before it is parsed; prompt tokens and ``max_tokens`` are capped before any work. Every
error is an OpenAI-shaped JSON body with a 4xx status (invalid JSON, bad fields, unknown model, oversized
prompt), and an unexpected failure is a 500 that says "internal error" and nothing else: the traceback goes to
the server log, never to the client.

Generation runs in one worker thread (``Engine.generate`` is blocking); requests wait in an asyncio queue of
bounded depth (503 beyond it), so the event loop answers /v1/models and queues new requests meanwhile.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tunewright.serving.engine import Engine, RequestRejected

log = logging.getLogger(__name__)

MAX_MESSAGES = 256
MAX_CONTENT_CHARS = 100_000


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=MAX_CONTENT_CHARS)


class _Common(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str = Field(max_length=200)
    max_tokens: int | None = None
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = 1
    stream: bool = False
    stop: str | list[str] | None = None
    seed: int | None = None

    def stops(self) -> list[str]:
        s = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(s) > 4 or any(len(x) > 64 for x in s):
            raise RequestRejected("stop: at most 4 strings of at most 64 characters", "stop")
        return s


class ChatRequest(_Common):
    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_completion_tokens: int | None = None


class CompletionRequest(_Common):
    prompt: str | list[str] = Field(max_length=MAX_CONTENT_CHARS)


@dataclass
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    allowed_origins: list[str] = field(default_factory=list)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(settings: ServeSettings) -> None:
    if not is_loopback(settings.host) and not settings.api_key:
        raise ValueError(f"--host {settings.host}: serving beyond this machine needs an API key "
                         "(--api-key, or the TUNEWRIGHT_API_KEY environment variable)")


def _error(status: int, message: str, type_: str = "invalid_request_error", param: str | None = None,
           code: str | None = None):
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": {"message": message, "type": type_, "param": param, "code": code}}, status_code=status)


def _validation_message(e: ValidationError) -> tuple[str, str | None]:
    first = e.errors()[0]
    where = ".".join(str(x) for x in first.get("loc", ()))
    return f"{where or 'body'}: {first.get('msg')}", where or None


class _Queue:
    """Admits at most ``depth`` waiting requests and runs them one at a time on one worker thread."""

    def __init__(self, depth: int):
        self.depth, self.waiting = depth, 0
        self.lock = asyncio.Lock()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tunewright-generate")

    def admit(self) -> None:
        if self.waiting >= self.depth:
            raise RequestRejected(f"the server is busy ({self.waiting} requests queued); retry later", None, 503,
                                  "server_busy")
        self.waiting += 1


def create_app(engine: Engine, settings: ServeSettings | None = None):
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    settings = settings or ServeSettings()
    app = FastAPI(title="tunewright", docs_url=None, redoc_url=None, openapi_url=None)
    queue = _Queue(engine.limits.max_queue)
    app.state.engine, app.state.queue = engine, queue

    @app.exception_handler(StarletteHTTPException)
    async def _http(request, exc):
        return _error(exc.status_code, str(exc.detail), "invalid_request_error")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc):
        return _error(400, "invalid request")

    @app.exception_handler(RequestRejected)
    async def _rejected(request, exc: RequestRejected):
        return _error(exc.status, str(exc), "invalid_request_error" if exc.status < 500 else "server_error",
                      exc.param, exc.code)

    @app.exception_handler(Exception)
    async def _crash(request, exc):
        log.exception("request failed")
        return _error(500, "internal error", "server_error")

    def _guard(request: Request) -> None:
        if settings.api_key:
            got = request.headers.get("authorization", "")
            if not hmac.compare_digest(got.encode(), f"Bearer {settings.api_key}".encode()):
                raise RequestRejected("missing or wrong API key (Authorization: Bearer KEY)", None, 401,
                                      "invalid_api_key")
        origin = request.headers.get("origin")
        if request.method == "POST" and origin is not None and origin not in settings.allowed_origins:
            raise RequestRejected(f"origin {origin!r} is not allowed", None, 403, "origin_not_allowed")

    async def _body(request: Request, schema):
        _guard(request)
        limit = engine.limits.max_request_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestRejected(f"request body is {declared} bytes; the limit is {limit}", None, 413,
                                  "request_too_large")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestRejected(f"request body is over the limit of {limit} bytes", None, 413, "request_too_large")
            chunks.append(chunk)
        try:
            data = json.loads(b"".join(chunks))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RequestRejected(f"the body is not valid JSON ({e.__class__.__name__}: {e})", None, 400,
                                  "invalid_json") from None
        if not isinstance(data, dict):
            raise RequestRejected("the body must be a JSON object", None, 400, "invalid_json")
        try:
            req = schema.model_validate(data)
        except ValidationError as e:
            msg, param = _validation_message(e)
            raise RequestRejected(msg, param) from None
        if req.n != 1:
            raise RequestRejected("n: only n=1 is supported", "n")
        return req

    @app.get("/v1/models")
    async def models(request: Request):
        _guard(request)
        now = int(time.time())
        return {"object": "list", "data": [{"id": n, "object": "model", "created": now, "owned_by": "tunewright"}
                                           for n in engine.model_names()]}

    async def _run(req, prompt_ids: list[int], prompt_text: str, kind: str):
        name = engine.resolve(req.model, prompt_text)
        max_tokens = engine.check(prompt_ids, getattr(req, "max_completion_tokens", None) or req.max_tokens)
        stops = req.stops()
        queue.admit()
        rid = f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        loop = asyncio.get_running_loop()
        args = dict(max_tokens=max_tokens, temperature=req.temperature, top_p=req.top_p, stop=stops, seed=req.seed)
        headers = {"x-tunewright-model": name}
        if not req.stream:
            try:
                async with queue.lock:
                    gen = await loop.run_in_executor(queue.pool, lambda: engine.generate(name, prompt_ids, **args))
            finally:
                queue.waiting -= 1
            return JSONResponse(_final(kind, rid, created, gen), headers=headers)
        return StreamingResponse(_stream(kind, rid, created, name, prompt_ids, args, loop), headers=headers,
                                 media_type="text/event-stream")

    async def _stream(kind, rid, created, name, prompt_ids, args, loop):
        pieces: asyncio.Queue = asyncio.Queue()
        gone = False
        done = object()
        try:
            async with queue.lock:
                if kind == "chat":
                    yield _sse(_chunk(kind, rid, created, name, {"role": "assistant", "content": ""}, None))
                fut = loop.run_in_executor(queue.pool, lambda: engine.generate(
                    name, prompt_ids, **args, on_text=lambda t: loop.call_soon_threadsafe(pieces.put_nowait, t),
                    cancelled=lambda: gone))
                fut.add_done_callback(lambda f: loop.call_soon_threadsafe(pieces.put_nowait, done))
                while (piece := await pieces.get()) is not done:
                    yield _sse(_chunk(kind, rid, created, name, piece, None))
                gen = fut.result()
                yield _sse(_chunk(kind, rid, created, name, "" if kind == "text" else {}, gen.finish_reason))
                yield "data: [DONE]\n\n"
        except asyncio.CancelledError:  # the client went away: stop the generation at the next token
            gone = True
            raise
        except Exception:
            log.exception("streamed request failed")
            gone = True
            yield _sse({"error": {"message": "internal error", "type": "server_error"}})
        finally:
            queue.waiting -= 1

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        req = await _body(request, ChatRequest)
        messages = [m.model_dump() for m in req.messages]
        ids = engine.chat_ids(messages)
        last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), messages[-1]["content"])
        return await _run(req, ids, last_user, "chat")

    @app.post("/v1/completions")
    async def completions(request: Request):
        req = await _body(request, CompletionRequest)
        prompt = req.prompt
        if isinstance(prompt, list):
            if len(prompt) != 1:
                raise RequestRejected("prompt: exactly one prompt per request", "prompt")
            prompt = prompt[0]
        return await _run(req, engine.text_ids(prompt), prompt, "text")

    return app


def _sse(obj: dict) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


def _chunk(kind: str, rid: str, created: int, model: str, piece, finish: str | None) -> dict:
    if kind == "chat":
        delta = piece if isinstance(piece, dict) else {"content": piece}
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [choice]}
    choice = {"index": 0, "text": piece, "logprobs": None, "finish_reason": finish}
    return {"id": rid, "object": "text_completion", "created": created, "model": model, "choices": [choice]}


def _final(kind: str, rid: str, created: int, gen) -> dict:
    usage = {"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens,
             "total_tokens": gen.prompt_tokens + gen.completion_tokens}
    if kind == "chat":
        choice = {"index": 0, "message": {"role": "assistant", "content": gen.text}, "finish_reason": gen.finish_reason}
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": gen.text, "logprobs": None, "finish_reason": gen.finish_reason}
        obj = "text_completion"
    return {"id": rid, "object": obj, "created": created, "model": gen.model, "choices": [choice], "usage": usage}


def serve(engine: Engine, settings: ServeSettings) -> None:
    """Run uvicorn in this process until interrupted."""
    import uvicorn

    check_bind(settings)
    uvicorn.run(create_app(engine, settings), host=settings.host, port=settings.port, log_level="info",
                limit_concurrency=engine.limits.max_queue + 16, timeout_keep_alive=5)
