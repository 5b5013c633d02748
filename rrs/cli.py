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


def _version(value: bool) -> None:
    if value:
        import rrs

        typer.echo(f"rrs {rrs.__version__}")
        raise typer.Exit(0)


@app.callback(epilog="Example: rrs -q run spec/smoke.yaml && rrs check --all")
def _options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress output (errors and results only)."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="More progress lines, and library log messages."),
) -> None:
    """Global options come before the verb. Progress goes to stderr: bars on a terminal, plain lines otherwise."""
    if quiet and verbose:
        raise UserError("-q and -v exclude each other")
    # Through the environment, so that executor jobs (subprocesses, SLURM) inherit it (rrs/progress.py).
    if quiet:
        os.environ["RRS_QUIET"] = "1"
    if verbose:
        os.environ["RRS_VERBOSE"] = "1"
        import logging

        logging.basicConfig(level=logging.INFO, format="rrs: %(name)s: %(message)s")


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
