"""Named registries (judges, model kinds, metrics) that answer an unknown name with "did you mean"."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from rrs.errors import UserError

T = TypeVar("T")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        self.register(name)(obj)

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            shown = name if len(name) <= 80 else f"{name[:80]}…"
            raise UserError(
                f"unknown {self.kind} {shown!r}.{did_you_mean(name, self._items)} Known: {', '.join(self.names())}"
            ) from None
