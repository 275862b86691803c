"""The command line, ``tunewright <command>``: one module per command group. A command parses its options,
calls one stage function (tunewright.pipeline, tunewright.labeling.stage, tunewright.cost.estimate) and
renders the typed result it returns (tunewright.results, cli/render.py). Errors follow cli/common.py:
expected ones are one line and exit code 2 (1 for a failed gate), bugs keep their traceback; ``--debug`` or
TUNEWRIGHT_DEBUG=1 shows the traceback of expected errors too."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tunewright.cli import cost, data, evaluate, labeling, project, review, serving, studies, train
from tunewright.cli.common import set_debug

app = typer.Typer(help="tunewright: make a domain fine-tune succeed, and prove that it did.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of expected errors too "
                                              "(same as TUNEWRIGHT_DEBUG=1).")] = False):
    set_debug(debug)


# Order is the order of `tunewright --help`: the flow of a project.
for _group in (project.app, data.stages, train.app, evaluate.reports, studies.app, serving.app, labeling.app):
    for _cmd in _group.registered_commands:
        app.registered_commands.append(_cmd)
app.add_typer(data.app, name="data")
app.add_typer(evaluate.app, name="eval")
app.add_typer(review.review_app, name="review")
app.add_typer(cost.app, name="cost")


def main():  # pragma: no cover
    sys.exit(app())
