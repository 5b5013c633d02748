"""The `rrs` command line. Each verb lives in rrs/commands/<verb>.py; user errors print one line, exit 2."""

from __future__ import annotations

import importlib
import os
import sys

import typer

from rrs.errors import UserError

VERBS = ("run", "score", "check", "figures", "fetch")  # modules in rrs.commands; each registers its verbs

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="rrs — reproducible refusal-robustness studies: spec → deterministic runner → checked artifacts.",
)
for _verb in VERBS:
    importlib.import_module(f"rrs.commands.{_verb}").register(app)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        rc = app(args=argv, standalone_mode=False)  # click returns a command's exit code here, not raise
    except UserError as err:
        print(f"rrs: error: {err}", file=sys.stderr)
        return UserError.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        print("rrs: interrupted; the stage caches keep what finished, rerun to resume", file=sys.stderr)
        return 130
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return 2
        if isinstance(exc, click.exceptions.Abort):
            return 130
        raise
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
