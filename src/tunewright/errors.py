"""The errors a user can fix: bad config, bad data, a missing earlier stage, a failed gate, a missing package.

Every stage raises one of these (or a subclass defined beside its stage) for a problem in its inputs. The CLI
prints such an error as one line and exits with its ``exit_code`` (2, or 1 for a failed gate); any other
exception is a bug and keeps its traceback. ``--debug`` (or ``TUNEWRIGHT_DEBUG=1``) shows the traceback of
expected errors too.

Each class also derives from the builtin it replaces (ValueError, FileNotFoundError, ImportError), so code
that catches the builtin keeps working.
"""

from __future__ import annotations


class TunewrightError(Exception):
    """An expected failure, explained by its message."""

    exit_code = 2


class InputError(TunewrightError, ValueError):
    """A config value, data file or argument that cannot be used; the message names it."""


class MissingArtifact(TunewrightError, FileNotFoundError):
    """A run directory lacks what an earlier stage writes; the message says which command makes it."""


class MissingDependency(TunewrightError, ImportError):
    """An optional package the configured feature needs; the message gives the install command."""


class GateFailed(TunewrightError, RuntimeError):
    """A data or forgetting gate failed; the artifacts are written, the run is not handed over."""

    exit_code = 1
