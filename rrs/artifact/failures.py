"""One failure of a table or file against the contract: (file, column, row, value, rule).

`row` is the line number in the file (the CSV header is line 1), "-" when the failure is about a whole file or
column. The schemas (rrs/artifact) produce them and the checks (rrs/checks) report them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Failure:
    file: str
    column: str
    row: str
    value: str
    rule: str


def _sort_key(f: Failure) -> tuple:
    return (f.file, f.rule, f.column, int(f.row) if f.row.isdigit() else -1, f.row, f.value)


def sort_failures(failures: Iterable[Failure]) -> list[Failure]:
    """Distinct failures by file, rule, column, then row number."""
    return sorted(set(failures), key=_sort_key)
