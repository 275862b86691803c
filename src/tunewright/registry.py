"""Name -> implementation registries (STYLE.md #7): checks, tasks and training methods register here, so a
config can name them and adding one touches one place."""

from __future__ import annotations

from typing import Any, Callable, TypeVar
from tunewright.errors import InputError

T = TypeVar("T")


class Registry(dict[str, Any]):
    def __init__(self, kind: str, config_key: str):
        super().__init__()
        self.kind = kind
        self.config_key = config_key

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self[name] = obj
            return obj

        return deco

    def lookup(self, name: str) -> Any:
        if name not in self:
            raise InputError(f"{self.config_key}: unknown {self.kind} {name!r}; known: {sorted(self)}")
        return self[name]
