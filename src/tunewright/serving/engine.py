"""Two models from one set of weights: the specialist (adapter on) and the generalist (the base, adapter off).

The adapter stays unmerged on a ``PeftModel``; the generalist runs inside peft's ``disable_adapter()``
context, so it costs no memory. Because that switch changes the shared model, generations never overlap: one
worker thread runs them one at a time (``Engine.generate`` holds a lock), and the endpoint puts requests in
an asyncio queue in front of it, so the event loop keeps serving other requests while a generation runs.

Work per request is bounded: prompt tokens and ``max_tokens`` are capped before anything runs, and
``max_seconds`` stops a generation that is still going (transformers' ``max_time``).
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable

import torch

SPECIALIST, GENERALIST, AUTO = "specialist", "generalist", "auto"


class RequestRejected(ValueError):
    """A request that cannot run as asked (too long, unknown model...): the endpoint answers 4xx with this text."""

    def __init__(self, message: str, param: str | None = None, status: int = 400, code: str = "invalid_request"):
        super().__init__(message)
        self.param, self.status, self.code = param, status, code


@dataclass
class Limits:
    max_prompt_tokens: int = 2048
    max_tokens: int = 256  # the largest max_tokens a request may ask for
    default_max_tokens: int = 128
    max_seconds: float = 60.0  # wall-clock cap of one generation
    max_request_bytes: int = 256 * 1024
    max_queue: int = 32  # requests waiting for the model beyond this get 503


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # stop or length
    model: str


class _Emitter:
    """Receives token ids from generate() and passes on text as it becomes final.

    Text that could still be the start of a stop string is held back until the next token decides it, so a
    streamed reply never shows a stop string and equals the non-streamed reply exactly."""

    def __init__(self, tokenizer, prompt_len: int, stops: list[str], on_text: Callable[[str], None] | None,
                 cancelled: Callable[[], bool]):
        self.tok, self.prompt_len, self.stops, self.on_text = tokenizer, prompt_len, stops, on_text
        self.cancelled = cancelled
        self.ids: list[int] = []
        self.sent = 0
        self.stopped = False
        self._skip_prompt = True

    def put(self, value: torch.Tensor) -> None:
        if self._skip_prompt:  # generate() first puts the prompt
            self._skip_prompt = False
            return
        self.ids.extend(int(x) for x in value.reshape(-1).tolist())
        self._flush(final=False)

    def end(self) -> None:
        self._flush(final=True)

    def text(self) -> str:
        text = self.tok.decode(self.ids, skip_special_tokens=True)
        cut = min((i for s in self.stops if (i := text.find(s)) >= 0), default=None)
        if cut is not None:
            self.stopped = True
            return text[:cut]
        return text

    def _flush(self, final: bool) -> None:
        text = self.text()
        if self.stopped or final:
            ready = len(text)
        else:
            hold = max((len(s) - 1 for s in self.stops), default=0)
            ready = max(self.sent, len(text) - hold)
            if text.endswith("\ufffd"):  # an incomplete UTF-8 sequence: wait for its last byte
                ready = min(ready, len(text) - 1)
        if ready > self.sent and self.on_text is not None:
            self.on_text(text[self.sent:ready])
        self.sent = max(self.sent, ready)


class _StopWhen:
    """A stopping criterion: a stop string has appeared, or the client went away."""

    def __init__(self, emitter: _Emitter):
        self.emitter = emitter

    def __call__(self, input_ids, scores, **kwargs) -> torch.Tensor:
        done = self.emitter.stopped or self.emitter.cancelled()
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


@dataclass
class Engine:
    model: object  # a PeftModel (adapter unmerged) or, for a full fine-tune, the tuned model alone
    tokenizer: object
    system_prompt: str | None = None
    limits: Limits = field(default_factory=Limits)
    router: object = None  # serving.router.Router, shipped only when it beat random mixing
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def has_adapter(self) -> bool:
        return hasattr(self.model, "disable_adapter")

    def model_names(self) -> list[str]:
        names = [SPECIALIST] + ([GENERALIST] if self.has_adapter else [])
        return names + ([AUTO] if self.router is not None and self.has_adapter else [])

    def resolve(self, name: str, prompt_text: str) -> str:
        if name not in self.model_names():
            hint = " (auto routing is off: no router, or it did not beat random mixing)" if name == AUTO else ""
            raise RequestRejected(f"model {name!r} does not exist{hint}; available: {', '.join(self.model_names())}",
                                  "model", 404, "model_not_found")
        return self.router.route(prompt_text) if name == AUTO else name

    def chat_ids(self, messages: list[dict]) -> list[int]:
        if self.system_prompt is not None and not any(m["role"] == "system" for m in messages):
            messages = [{"role": "system", "content": self.system_prompt}, *messages]
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return list(ids)

    def text_ids(self, prompt: str) -> list[int]:
        return self.tokenizer(prompt, add_special_tokens=False)["input_ids"]

    def check(self, prompt_ids: list[int], max_tokens: int | None) -> int:
        """The max_tokens to use; rejects an oversized prompt or max_tokens before any work."""
        L = self.limits
        if len(prompt_ids) > L.max_prompt_tokens:
            raise RequestRejected(f"the prompt is {len(prompt_ids)} tokens; the limit is {L.max_prompt_tokens}",
                                  "messages", 400, "context_length_exceeded")
        if max_tokens is None:
            return L.default_max_tokens
        if not 1 <= max_tokens <= L.max_tokens:
            raise RequestRejected(f"max_tokens must be between 1 and {L.max_tokens}, got {max_tokens}", "max_tokens")
        return max_tokens

    def generate(self, name: str, prompt_ids: list[int], max_tokens: int, temperature: float = 0.0,
                 top_p: float = 1.0, stop: list[str] | None = None, seed: int | None = None,
                 on_text: Callable[[str], None] | None = None,
                 cancelled: Callable[[], bool] = lambda: False) -> Generation:
        """Run one generation (blocking; call it from a worker thread). Greedy when temperature is 0."""
        stops = [s for s in (stop or []) if s]
        emitter = _Emitter(self.tokenizer, len(prompt_ids), stops, on_text, cancelled)
        sample = temperature > 0
        kw = {"do_sample": True, "temperature": temperature, "top_p": top_p} if sample else {"do_sample": False}
        if not sample:  # the model's generation_config may carry sampling defaults; greedy ignores them
            kw.update(temperature=None, top_p=None, top_k=None)
        device = next(self.model.parameters()).device
        ids = torch.tensor([prompt_ids], dtype=torch.long, device=device)
        with self._lock:
            if seed is not None:
                torch.manual_seed(seed)
            switch = self.model.disable_adapter() if name == GENERALIST else nullcontext()
            with switch, torch.no_grad():
                out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                          max_new_tokens=max_tokens, streamer=emitter,
                                          stopping_criteria=[_StopWhen(emitter)], max_time=self.limits.max_seconds,
                                          pad_token_id=self.tokenizer.pad_token_id,
                                          eos_token_id=self.tokenizer.eos_token_id, **kw)
        new = out[0, len(prompt_ids):].tolist()
        text = emitter.text()
        hit_eos = bool(new) and new[-1] == self.tokenizer.eos_token_id
        finish = "stop" if emitter.stopped or hit_eos or len(new) < max_tokens else "length"
        return Generation(text, len(prompt_ids), len(new), finish, name)


def load_engine(cfg, run, limits: Limits | None = None, router=None) -> Engine:
    """The run's base with its adapter, unmerged (or the full fine-tuned model), on the best device."""
    from peft import PeftModel

    from tunewright.models import ResolvedModel, load_model, load_tokenizer, resolve_model

    ref = resolve_model(cfg.model)
    tok = load_tokenizer(ref, cfg.model)
    if (run.model_dir / "adapter_config.json").is_file():
        model = PeftModel.from_pretrained(load_model(ref, cfg.model), str(run.model_dir)).eval()
    elif run.model_dir.is_dir():
        model = load_model(ResolvedModel(str(run.model_dir), str(run.model_dir)), cfg.model)
    else:
        raise FileNotFoundError(f"{run.model_dir}: no trained model; run 'tunewright train' first")
    return Engine(model, tok, cfg.data.system_prompt, limits or Limits(), router)
