"""`rrs figures DIR [--out DIR] [--judge NAME]`: redraw every figure of a result directory from its results grid."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rrs.artifact.contract import GRID
from rrs.errors import UserError


def register(app: typer.Typer) -> None:
    @app.command("figures", epilog="Example: rrs figures artifacts/smoke --out /tmp/figures")
    def figures_cmd(
        result_dir: Annotated[Path, typer.Argument(help=f"A result directory holding {GRID}.")],
        out: Annotated[Path | None, typer.Option("--out", help="Output directory; default DIR/figures.")] = None,
        judge: Annotated[
            str | None, typer.Option("--judge", help="Judge whose labels are drawn; default the grid's first.")
        ] = None,
    ) -> None:
        """Regenerate RRR_compare, CE_compare, RD_compare and scaling_rrr (.png, .pdf) from the results grid alone."""
        from rrs.preflight import out_dir

        out_dir(out if out is not None else result_dir / "figures", staging=False)  # before the grid is read
        from rrs.artifact.schemas import read_grid
        from rrs.figures.grid import make_figures

        grid_path = result_dir / GRID
        grid = read_grid(grid_path)
        try:
            paths = make_figures(grid, out if out is not None else result_dir / "figures", judge)
        except KeyError as exc:
            raise UserError(f"missing column {exc} (run `rrs check {result_dir}`)", where=str(grid_path)) from None
        except (TypeError, ValueError) as exc:
            raise UserError(f"cannot draw: {exc}", where=str(grid_path)) from None
        for p in paths:
            typer.echo(str(p))
