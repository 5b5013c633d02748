"""The `rrs` command line. Each verb lives in rrs/commands/<verb>.py; user errors print one line, exit 2."""

from __future__ import annotations

import errno
import importlib
import os
import sys

import typer

from rrs.errors import UserError

VERBS = ("run", "score", "check", "figures", "fetch", "report", "listing", "export", "data")  # modules in rrs.commands; each registers its verbs
# Verbs that load models, train or embed: they need the full environment (`make setup`: torch, transformers, peft).
# In the light environment of `make check` (.venv-check) they stop at once with one line instead of an ImportError.
FULL_VERBS = ("run", "reproduce", "score", "fetch")  # `rrs plan` imports no torch (tests/test_layering.py)
FULL_PACKAGES = ("torch", "transformers", "peft")

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


def _missing_package() -> str | None:
    """The first of FULL_PACKAGES this interpreter cannot import, or None."""
    import importlib.util

    for name in FULL_PACKAGES:
        if sys.modules.get(name, False) is None:  # blocked (as the tests simulate the light environment)
            return name
        try:
            if importlib.util.find_spec(name) is None:
                return name
        except (ImportError, ValueError):
            return name
    return None


def needs_full_environment(verb: str, missing: str) -> UserError:
    return UserError(f"`rrs {verb}` needs the full environment ({missing} is not installed here): make setup")


def _verb(argv: list[str]) -> tuple[str | None, list[str]]:
    """The verb of a command line (global options are flags and come first) and the arguments after it."""
    for i, arg in enumerate(argv):
        if not arg.startswith("-"):
            return arg, argv[i + 1:]
    return None, []


def _refuse_light(argv: list[str]) -> None:
    """Before anything runs: a verb of FULL_VERBS (other than its --help) where torch & co. are missing."""
    verb, rest = _verb(argv)
    if verb in FULL_VERBS and not {"--help", "-h"} & set(rest) and (missing := _missing_package()) is not None:
        raise needs_full_environment(verb, missing)


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
        from rrs.progress import set_quiet

        set_quiet()
    if verbose:
        os.environ["RRS_VERBOSE"] = "1"
        import logging

        logging.basicConfig(level=logging.INFO, format="rrs: %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    argv = list(argv if argv is not None else sys.argv[1:])
    try:
        _refuse_light(argv)
        rc = app(args=argv, standalone_mode=False)  # click returns a command's exit code here, not raise
    except UserError as err:
        print(f"rrs: error: {_clip(str(err))}", file=sys.stderr)
        return UserError.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f": {exc.filename}" if exc.filename else ""
        print(f"rrs: error: no space left on the device{where}; free some and rerun (finished stages are cached)",
              file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # a third-party package of the full environment, reached by another verb
        if exc.name is None or exc.name.split(".")[0] == "rrs":
            raise
        print(f"rrs: error: {needs_full_environment(_verb(argv)[0] or 'rrs', exc.name.split('.')[0])}", file=sys.stderr)
        return UserError.exit_code
    except KeyboardInterrupt:
        print("rrs: interrupted; the stage caches keep what finished, rerun to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        if not isinstance(exc, _click_errors()):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # `rrs` (or a verb) alone: its help, as asked for
            exc.show()
        else:  # a misspelt option or verb, a bad or missing value: one line
            ctx = getattr(exc, "ctx", None)
            where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            print(f"rrs: error: {exc.format_message()}{where}", file=sys.stderr)
        return 2
    return rc if isinstance(rc, int) else 0


def _clip(line: str, limit: int = 2000) -> str:
    """An error line, on one line and cut to `limit` characters (a field it quotes can be arbitrarily long)."""
    line = line.replace("\n", " ")
    return line if len(line) <= limit else f"{line[:limit]}… (cut)"


def _click_errors() -> tuple[type, ...]:
    """Usage errors as typer raises them: from its vendored click (typer._click) where it has one, else click's."""
    classes = []
    try:
        from typer._click.exceptions import ClickException as Vendored

        classes.append(Vendored)
    except ImportError:
        pass
    try:
        from click.exceptions import ClickException

        classes.append(ClickException)
    except ImportError:
        pass
    return tuple(classes)


if __name__ == "__main__":
    sys.exit(main())
