"""``tunewright serve`` (an OpenAI-compatible endpoint of the run's specialist and generalist) and
``tunewright router`` (the router between them, trained on the run's own evaluation)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tunewright.cli.common import ConfigOpt, command, console, load, out

app = typer.Typer()


@command(app)
def serve(run: Annotated[Path, typer.Option("--run", help="Run directory with a trained model.")],
          host: Annotated[str, typer.Option("--host", help="Address to bind; anything but loopback needs an API key.")]
          = "127.0.0.1",
          port: Annotated[int, typer.Option("--port")] = 8000,
          api_key: Annotated[Optional[str], typer.Option("--api-key", envvar="TUNEWRIGHT_API_KEY",
                                                         help="Bearer token clients must send.")] = None,
          allow_origin: Annotated[Optional[list[str]], typer.Option("--allow-origin", help="Web origin allowed to "
                                                                    "POST (repeatable; default none).")] = None,
          max_tokens: Annotated[int, typer.Option("--max-tokens", help="Largest max_tokens a request may ask.")] = 256,
          max_prompt_tokens: Annotated[int, typer.Option("--max-prompt-tokens")] = 2048,
          router: Annotated[bool, typer.Option("--router/--no-router", help="Offer model 'auto' when the run's "
                                               "router shipped ('tunewright router').")] = True,
          config: ConfigOpt = None):
    """OpenAI-compatible endpoint: models 'specialist' (adapter on), 'generalist' (adapter off) and 'auto'."""
    from tunewright.pipeline import stage_serve
    from tunewright.serving.endpoint import ServeSettings
    from tunewright.serving.engine import Limits

    cfg, r = load(config, [], run)
    settings = ServeSettings(host, port, api_key, list(allow_origin or []))
    cap = cfg.task.max_new_tokens if isinstance(cfg.task.max_new_tokens, int) else max_tokens
    limits = Limits(max_prompt_tokens=max_prompt_tokens, max_tokens=max_tokens, default_max_tokens=min(cap, max_tokens))
    console.print(f"serving {run} on http://{host}:{port}/v1")
    stage_serve(cfg, r, settings, limits, router)


@command(app, "router")
def router_(run: Annotated[Path, typer.Option("--run", help="Run directory with base and tuned evaluations.")],
            config: ConfigOpt = None):
    """Train a specialist/generalist router on the run's own evaluation; report it against random mixing."""
    from tunewright.pipeline import stage_router

    cfg, r = load(config, [], run)
    out.print(stage_router(cfg, r).summary())
