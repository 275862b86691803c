"""Name -> implementation registries (STYLE.md #7). Checks, tasks, training methods, metrics and label models
register here under the name a config uses, so the registry is the one source of those names: config
validates against it, defaults come from it, and adding one touches one file.

A registry knows which modules hold its entries (``modules``: module names, or a package whose every module
is imported), so looking a name up never depends on what happened to be imported first.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from typing import Any, Callable, Iterable, TypeVar

from tunewright.errors import InputError

T = TypeVar("T")


def nearest(name: str, known: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest known name, or ''."""
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Registry(dict[str, Any]):
    def __init__(self, kind: str, config_key: str, modules: Iterable[str] = (), packages: Iterable[str] = ()):
        super().__init__()
        self.kind = kind
        self.config_key = config_key
        self._modules = list(modules)
        self._packages = list(packages)
        self._loaded = False
        self.order: dict[str, float] = {}
        self.defaults: set[str] = set()

    def _load(self) -> None:
        """Import the modules that register entries (once)."""
        if self._loaded:
            return
        self._loaded = True
        names = list(self._modules)
        for pkg in self._packages:
            p = importlib.import_module(pkg)
            names += [f"{pkg}.{m.name}" for m in pkgutil.iter_modules(p.__path__) if not m.name.startswith("_")]
        for m in names:
            importlib.import_module(m)

    def register(self, name: str, *, default: bool = False, order: float | None = None) -> Callable[[T], T]:
        """Register under ``name``; ``default`` entries make the config's default list, sorted by ``order``."""

        def deco(obj: T) -> T:
            if name in self:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self[name] = obj
            self.order[name] = len(self) if order is None else order
            if default:
                self.defaults.add(name)
            return obj

        return deco

    def names(self) -> list[str]:
        self._load()
        return sorted(self)

    def default_names(self) -> list[str]:
        """The default entries in their registered order (e.g. the checks an audit runs by default)."""
        self._load()
        return sorted(self.defaults, key=lambda n: self.order[n])

    def lookup(self, name: str) -> Any:
        self._load()
        if name not in self:
            raise InputError(f"{self.config_key}: unknown {self.kind} {name!r}{nearest(name, self)}; "
                             f"known: {sorted(self)}")
        return self[name]

    def validate(self, names: str | Iterable[str]) -> Any:
        """For config validators: raise InputError (a ValueError, so pydantic reports it) on an unknown name."""
        for n in [names] if isinstance(names, str) else names:
            self.lookup(n)
        return names
