"""The judge interface and registry (imported by each judge module; rrs/judges/__init__.py registers them)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rrs.registry import Registry


class Judge:
    name: str = ""
    probabilistic: bool = False

    def labels(self, responses: Sequence[str]) -> list[bool]:
        raise NotImplementedError

    def marker_index(self, response: str) -> int | None:
        """Character index of the first refusal marker in `response.lower()`, or None (keyword judges)."""
        return None

    def proba(self, responses: Sequence[str]) -> list[float]:
        """P(refusal) per response (probabilistic judges only)."""
        raise NotImplementedError(f"judge {self.name} is not probabilistic")


JUDGES: Registry[Callable[[], Judge]] = Registry("judge")
_instances: dict[str, Judge] = {}


def get_judge(name: str) -> Judge:
    """The (cached) judge instance for a registered name; unknown names get a did-you-mean UserError."""
    if name not in _instances:
        _instances[name] = JUDGES.get(name)()
    return _instances[name]
