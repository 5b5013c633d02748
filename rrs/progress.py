"""Progress bars on stderr (tqdm), quiet when RRS_QUIET=1 or stderr is not a terminal and RRS_PROGRESS=0."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(it: Iterable[T], desc: str, total: int | None = None) -> Iterable[T]:
    disable = os.environ.get("RRS_QUIET") == "1"
    return tqdm(it, desc=desc, total=total, disable=disable, leave=False, dynamic_ncols=True, mininterval=0.5)
