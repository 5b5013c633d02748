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
