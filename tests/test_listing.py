"""`rrs list`: specs and published studies, each published study with its last check as `rrs report` recorded it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from synthetic import copy_result_dir

from rrs.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_shows_specs_and_artifacts_with_their_last_check(tmp_path, capsys):
    specs, arts = tmp_path / "spec", tmp_path / "artifacts"
    specs.mkdir()
    shutil.copy(ROOT / "spec" / "tiny.yaml", specs / "tiny.yaml")
    (specs / "broken.yaml").write_text("study: broken\nmodels: 3\n")
    art = copy_result_dir(arts / "smoke")
    (arts / "unfinished").mkdir()  # no results_grid.csv: not a published study

    code, out, err = _run(capsys, "list", "--specs", specs, "--artifacts", arts, "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert [(r["spec"], r["study"], r["cells"]) for r in listed["specs"]] == [
        (str(specs / "broken.yaml"), None, None), (str(specs / "tiny.yaml"), "tiny", 2)]
    assert listed["specs"][0]["error"]
    assert [(r["artifact"], r["check"], r["checked_at"]) for r in listed["artifacts"]] == [(str(art), None, None)]

    code, out, err = _run(capsys, "report", art, "--html", tmp_path / "page.html")
    assert code == 0, err
    assert (arts / ".check" / "smoke" / "last_check.json").is_file()
    code, out, err = _run(capsys, "list", "--specs", specs, "--artifacts", arts, "--json")
    [row] = json.loads(out)["artifacts"]
    assert row["check"] == "PASS" and row["checked_at"].endswith("Z")
    code, out, err = _run(capsys, "list", "--specs", specs, "--artifacts", arts)
    assert code == 0 and f"last check PASS at {row['checked_at']}" in out and "invalid: " in out


def test_list_of_a_missing_folder_is_one_line(tmp_path, capsys):
    code, out, err = _run(capsys, "list", "--artifacts", tmp_path / "nope")
    assert code == 2 and err.strip() == f"rrs: error: {tmp_path / 'nope'}: no such folder (--artifacts)"
