"""Progress of long loops on stderr: a tqdm bar on a terminal; plain lines elsewhere (CI logs, files, SLURM logs),
with no carriage returns: one when a loop starts, one at every quarter (every tenth with -v) and one when it ends.

Verbosity comes from the command line (`rrs -q` / `rrs -v`, rrs/cli.py) through the environment, so that executor
jobs inherit it: RRS_QUIET=1 shows nothing, RRS_VERBOSE=1 shows more lines.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


# With -q, the libraries' own progress bars and advisories are off too (read by tqdm, huggingface_hub and
# transformers when they are imported, which the CLI does only after its options are parsed).
QUIET_ENV = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error",
             "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1", "DATASETS_VERBOSITY": "error"}


def set_quiet() -> None:
    """-q: nothing but results and errors, in this process and the executor jobs it starts."""
    os.environ["RRS_QUIET"] = "1"
    os.environ.update(QUIET_ENV)


def quiet() -> bool:
    return os.environ.get("RRS_QUIET") == "1"


def verbose() -> bool:
    return os.environ.get("RRS_VERBOSE") == "1" and not quiet()


def progress(it: Iterable[T], desc: str, total: int | None = None) -> Iterable[T]:
    if quiet():
        return it
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        return tqdm(it, desc=desc, total=total, leave=False, dynamic_ncols=True, mininterval=0.5)
    return plain_lines(it, desc, total, parts=10 if verbose() else 4)


def plain_lines(it: Iterable[T], desc: str, total: int | None = None, parts: int = 4) -> Iterator[T]:
    """Yield from `it`, printing `rrs: DESC: i/total (p%)` lines on stderr at each 1/parts of the way."""
    if total is None:
        try:
            total = len(it)  # type: ignore[arg-type]
        except TypeError:
            total = None
    start, done, next_mark = time.perf_counter(), 0, 1
    _line(f"{desc}: 0/{total if total is not None else '?'}")
    for item in it:
        yield item
        done += 1
        if total and done < total and done * parts >= next_mark * total:
            _line(f"{desc}: {done}/{total} ({100 * done // total}%)")
            next_mark = done * parts // total + 1
    _line(f"{desc}: {done}/{total if total is not None else done} done in {time.perf_counter() - start:.1f} s")


def _line(text: str) -> None:
    print(f"rrs: {text}", file=sys.stderr, flush=True)
