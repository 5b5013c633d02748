"""User-facing errors: one clear line, exit code 2, no traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (spec, data file, path). The CLI prints `str(err)` alone and exits 2."""

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)
