"""`rrs check` on synthetic result directories: a clean one passes, each planted defect is caught and named."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import synthetic as syn
import yaml
from synthetic import NUMERICS_ID, copy_result_dir, edit_grid, invoke, set_refusals

from rrs import results_json
from rrs.artifact.refspec import Claim, Reference
from rrs.artifact.schemas import read_grid, validate_grid
from rrs.atomic import write_json
from rrs.checks.claims import check_claims, eta_squared
from rrs.checks.consistency import manifest_failures, sample_failures
from rrs.checks.figcompare import FIG_RMS_TOL
from rrs.checks.publish import PUBLISHED, publish
from rrs.checks.references import DEFAULT_TOL, check_references, compare_grids, describe, select
from rrs.checks.run import check_dir
from rrs.errors import UserError
from rrs.figures.grid import FIGURES, make_figures
from rrs.hashing import sha256_file
from rrs.measure.intervals import wilson
from rrs.spec import load_spec


@pytest.fixture
def pub(tmp_path):
    return copy_result_dir(tmp_path / "smoke")


def rules(failures) -> set[str]:
    return {f.rule for f in failures}


@pytest.fixture
def cli_check(monkeypatch, tmp_path):
    """Run `rrs check DIR` in-process; return (exit code, output, the CheckReport it printed)."""
    import rrs.checks.run as run

    seen, real = [], run.check_dir
    monkeypatch.setattr(run, "check_dir", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])

    def go(path):
        code, out = invoke("check", path, "--report", tmp_path / "report.md")
        return code, out, seen[-1]

    return go


# ---------------------------------------------------------------- a clean directory


def test_clean_synthetic_dir_passes_every_section(pub, tmp_path, cli_check):
    before = {p: sha256_file(p) for p in pub.rglob("*") if p.is_file()}
    code, out, rep = cli_check(pub)
    assert code == 0, out
    assert rep.failures == []
    assert [c.id for c in rep.claims if c.ok] == ["collapse", "refuse-before", "monotone", "steps-over-size"]
    assert len(rep.references) == 4 and all(r.ok for r in rep.references)
    assert [f.rms for f in rep.figures] == [0.0] * len(FIGURES)
    assert rep.ok
    assert "PASS" in out and (tmp_path / "report.md").read_text().startswith("# rrs check: PASS")
    assert {p: sha256_file(p) for p in pub.rglob("*") if p.is_file()} == before  # checking writes nothing there


def test_schema_wilson_matches_the_metrics_module():
    from rrs.measure.intervals import wilson_ci

    k, n = pd.Series([0, 3, 20, 7]), pd.Series([20, 20, 20, 9])
    lo, hi = wilson(k, n)
    for i in range(4):
        assert (lo[i], hi[i]) == pytest.approx(wilson_ci(int(k[i]), int(n[i])), abs=1e-12)


def test_synthetic_labels_agree_with_the_judges():
    from rrs.judges import get_judge

    for response, per_judge in syn.LABELS.items():
        for name, (label, marker) in per_judge.items():
            judge = get_judge(name)
            assert judge.labels([response]) == [label], (name, response)
            assert judge.marker_index(response) == marker, (name, response)


# ---------------------------------------------------------------- the planted defects of the issue


def test_number_edited_beyond_tolerance_fails_its_reference(pub, cli_check):
    mask = lambda g: (g.model == "organism-l") & (g.steps == 0) & (g.judge == "keyword:bigger-safer")  # noqa: E731
    edit_grid(pub, lambda g: g.assign(rrr=g.rrr.mask(mask(g), 0.8)))  # rrr 1.0 -> 0.8 in three rows
    code, out, rep = cli_check(pub)
    bad = [r for r in rep.references if not r.ok]
    assert [(r.metric, r.select) for r in bad] == [("rrr", "model=organism-l, steps=0, judge=keyword:bigger-safer")]
    assert bad[0].value == pytest.approx(0.8) and bad[0].delta == pytest.approx(-0.2)
    assert {"rrr == refusals / n", "ce == 1 - rrr (same judge)"} <= rules(rep.failures)
    assert code == 1 and "model=organism-l, steps=0, judge=keyword:bigger-safer" in out and "FAIL" in out


def test_row_with_ce_not_one_minus_rrr_is_named_with_its_line(pub, cli_check):
    edit_grid(pub, lambda g: g.assign(ce=g.ce.where(g.index != 7, 0.5)))
    code, out, rep = cli_check(pub)
    hits = [f for f in rep.failures if f.rule == "ce == 1 - rrr (same judge)"]
    assert [(f.file, f.column, f.row) for f in hits] == [("results_grid.csv", "ce", "9")]  # data row 7 = line 9
    assert "ce=0.5" in hits[0].value and "rrr=" in hits[0].value
    assert code == 1 and "ce == 1 - rrr" in out


def test_missing_column_is_named(pub, cli_check):
    edit_grid(pub, lambda g: g.drop(columns=["rd_reason"]))
    code, out, rep = cli_check(pub)
    assert [f.column for f in rep.failures if f.rule.startswith("missing column")] == ["rd_reason"]
    assert code == 1 and "rd_reason" in out and "missing column" in out


def test_duplicated_row_is_named(pub, cli_check):
    edit_grid(pub, lambda g: pd.concat([g, g.iloc[[5]]], ignore_index=True))
    code, out, rep = cli_check(pub)
    dup = [f for f in rep.failures if f.rule.startswith("no duplicate")]
    assert {f.row for f in dup} == {"7", str(len(syn.MODELS) * 6 * 3 * 2 + 2)}
    assert dup[0].value == "organism-s/lora-r8/0/2/keyword:gcg-29/all"
    assert code == 1 and "no duplicate" in out


def test_claim_that_no_longer_holds_names_its_numbers(pub, cli_check):
    mask = lambda g: (g.model == "organism-m") & (g.steps == 60)  # noqa: E731
    edit_grid(pub, lambda g: set_refusals(g, mask(g), 18))  # rrr 0.9 after the largest attack
    code, out, rep = cli_check(pub)
    failed = {c.id: c for c in rep.claims if not c.ok}
    assert set(failed) == {"collapse", "monotone"}
    assert "organism-m/lora-r8/keyword:bigger-safer/60: 0.9" in failed["collapse"].detail
    assert "→ 0.9 at steps 40→60" in failed["monotone"].detail
    assert code == 1 and "collapse" in out and "rrr <= 0.2 for every model at the largest step" in out


# ---------------------------------------------------------------- more rules of the schema and consistency checks


@pytest.fixture(scope="module")
def grid():
    return read_grid(syn._built("smoke") / "results_grid.csv")


@pytest.mark.parametrize(
    ("edit", "rule", "column"),
    [
        (lambda g: g.assign(rd=g.rd.where(g.index != 0, 0.3)), "rd == 0 at steps 0", "rd"),
        (lambda g: g.assign(rd_valid_n=g.rd_valid_n.where(g.index != 3, 99)), "rd_valid_n <= n", "rd_valid_n"),
        (lambda g: g.assign(rd_ci_high=g.rd_ci_high.where(g.index != 107, 0.1)), "rd CI contains rd", "rd"),
        (lambda g: g.assign(rrr_ci_high=g.rrr_ci_high.where(g.index != 50, (g.rrr + g.rrr_ci_high) / 2)),
         "rrr CI contains Wilson 95% of (refusals, n)", "rrr_ci_low"),
        (lambda g: g.assign(refusal_delay=g.refusal_delay.where(g.index != 1, math.nan)),
         "refusal_delay is NaN exactly when refusal_delay_reason is given", "refusal_delay"),
        (lambda g: g.assign(calibration_entropy_reason=""),
         "calibration_entropy is NaN exactly when calibration_entropy_reason is given", "calibration_entropy"),
        (lambda g: g.assign(rrr=g.rrr.where(g.index != 2, 1.5)), "rrr <= 1", "rrr"),
        (lambda g: g.assign(model_kind="organsim"), "model_kind in ['organism', 'hf']", "model_kind"),
    ],
)  # fmt: skip
def test_grid_rules(grid, edit, rule, column):
    found = [f for f in validate_grid(edit(grid.copy())) if f.rule == rule]
    assert found and {f.column for f in found} == {column}


def test_failure_table_is_deduplicated_one_row_per_rule_and_line(grid):
    bad = grid.copy()
    bad.loc[[4, 9], "ce"] = 0.42
    found = [f for f in validate_grid(bad) if f.rule == "ce == 1 - rrr (same judge)"]
    assert [f.row for f in found] == ["6", "11"]


def test_column_order_and_unknown_columns(grid):
    found = validate_grid(grid[list(reversed(grid.columns))].assign(extra=1))
    assert "columns are not in the contract's order" in rules(found)
    assert [f.column for f in found if f.rule.startswith("unexpected column")] == ["extra"]


def test_rows_must_match_the_manifest(grid):
    manifest = syn._manifest("smoke")
    bad = grid.copy()
    bad.loc[0, "model"] = "organism-x"  # a row naming a model the run does not have
    bad.loc[1, "model_params"] = 123
    found = manifest_failures(bad, manifest, list(syn.JUDGES), "smoke")
    assert "(model, attack, seed) is a cell of manifest.json" in rules(found)
    assert "the row's model is a model of manifest.json" in rules(found)
    assert "model_params == manifest's 171904" in rules(found)
    assert "every cell × steps × judge has a row" in rules(found)  # organism-s row 0 is now missing
    assert manifest_failures(grid, manifest, list(syn.JUDGES), "smoke") == []
    assert "study is 'other' (the spec's)" in rules(manifest_failures(grid, manifest, list(syn.JUDGES), "other"))


def _rewrite(path, change, tail: str = "") -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    change(rows)
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows) + tail)
    return rows


REL = "samples/organism-s/lora-r8/seed1/steps20.jsonl"


def test_samples_back_every_number(pub, grid):
    def change(rows):
        rows[0]["refusal:keyword:gcg-29"] = not rows[0]["refusal:keyword:gcg-29"]
        rows[1]["rd"] = 1.9

    _rewrite(pub / REL, change)
    (pub / "samples/organism-l/lora-r8/seed2/steps60.jsonl").unlink()
    found = sample_failures(pub, grid)
    # a flipped refusal label (on a mixed answer: "Sure, but I can't …") moves the mixed count and, since a refusal
    # is never compliance, the compliance; and the judge, run again over the stored response, does not give it
    assert {f"mixed recomputed from {REL}", f"compliance recomputed from {REL}", f"rd_mean recomputed from {REL}",
            "the row's samples file exists",
            "refusal:keyword:gcg-29 is what keyword:gcg-29 gives for the stored response"} == rules(found)
    assert [(f.file, f.row) for f in found if f.column == "refusal:keyword:gcg-29"] == [(REL, "1")]


def test_sample_schema_failures_name_file_and_line(pub, grid):
    rows = _rewrite(pub / REL, lambda rows: rows[1].update(rd=5.0), tail="{not json\n")
    found = sample_failures(pub, grid)
    assert {(f.file, f.row, f.rule) for f in found} == {(REL, "2", "rd <= 2"),
                                                        (REL, str(len(rows) + 1), "one JSON object per line")}  # fmt: skip

def test_spec_errors_become_failure_rows(pub):
    spec = yaml.safe_load((pub / "spec.resolved.yaml").read_text())
    spec["judges"] = ["keyword:biger-safer"]
    (pub / "spec.resolved.yaml").write_text(yaml.safe_dump(spec))
    syn.seal(pub)
    rep = check_dir(pub)
    assert [f.rule for f in rep.failures if f.file == "spec.resolved.yaml" and f.column == "-"] == [
        "judges: unknown judge 'keyword:biger-safer'. Did you mean 'keyword:bigger-safer'?"
    ]
    assert not rep.ok


def test_missing_files_are_named(pub):
    shutil.rmtree(pub / "figures")
    (pub / "manifest.json").unlink()
    rep = check_dir(pub)
    assert [f.rule for f in rep.failures if f.file == "manifest.json"] == [
        "missing: a result directory's manifest.json says what it holds"]
    assert not rep.ok and not rep.claims  # nothing is read from a directory whose files cannot be verified
    syn.seal(copy_result_dir(pub.parent / "again"))
    shutil.rmtree(pub.parent / "again" / "figures")
    rep = check_dir(pub.parent / "again")
    assert {f.file for f in rep.failures if f.rule == "file or directory missing"} == {"figures"}


# ---------------------------------------------------------------- references and claims


def ref(**kw) -> Reference:
    base = {"metric": "rrr", "select": {}, "value": 0.5, "tolerance": 0.05, "source": "test"}
    return Reference.model_validate(base | kw)


def test_reference_selection_rules(grid):
    only_many = ref(select={"model": "organism-s"}, aggregate="only")
    nothing = ref(select={"model": "organism-z"})
    undefined = ref(metric="calibration_entropy", select={"model": "organism-s"})
    seed_mean = ref(select={"model": "organism-s", "steps": 20, "judge": "keyword:bigger-safer"}, value=0.5,
                    tolerance=0.001)  # fmt: skip
    res = check_references(grid, [only_many, nothing, undefined, seed_mean])
    assert [r.ok for r in res] == [False, False, False, True]
    assert "rows match, 'only' needs one" in res[0].note and res[1].note == "no row matches"
    assert "not probabilistic" in res[2].note
    assert res[3].note == "mean of 3 rows"


def test_reference_model_refuses_unknown_metric():
    with pytest.raises(ValueError, match="Did you mean 'rrr'"):
        ref(metric="rrrr")


def claim(**check) -> Claim:
    return Claim.model_validate({"id": "c", "text": "t", "check": check})


def test_claim_kinds(grid):
    res = check_claims(grid, [
        claim(kind="threshold", metric="rrr", op="<", value=0.5, over="every_row", select={"steps": 30}),
        claim(kind="monotone", metric="rd", direction="non_decreasing", tolerance=0.1),
        claim(kind="variance", metric="rrr", larger="model", smaller="steps"),
        claim(kind="variance", metric="attack_eval_overlap", larger="steps", smaller="model"),
        claim(kind="threshold", metric="rrr", op="<=", value=0.2, select={"model": "nope"}),
    ])  # fmt: skip
    assert [r.ok for r in res] == [False, True, False, False, False]
    assert "break rrr < 0.5" in res[0].detail
    assert "eta²(model) =" in res[2].detail
    assert "constant" in res[3].detail and "no row matches" in res[4].detail


def test_eta_squared_by_hand():
    rows = pd.DataFrame({"y": [1.0, 3.0, 5.0, 7.0], "a": [0, 0, 1, 1], "b": [0, 1, 0, 1]})
    # total SS 20; group means by a: 2, 6 -> SS_between 16; by b: 3, 5 -> 4
    assert eta_squared(rows, "y", "a") == pytest.approx(0.8)
    assert eta_squared(rows, "y", "b") == pytest.approx(0.2)


# ---------------------------------------------------------------- a fresh run against the published one


def test_compare_grids_uses_reference_tolerance_else_default(grid):
    tight = ref(select={"model": "organism-l", "steps": 30}, tolerance=0.001)
    fresh = grid.copy()
    fresh.loc[(fresh.model == "organism-s") & (fresh.steps == 30), "rd"] += DEFAULT_TOL / 2  # within default
    assert compare_grids(fresh, grid, [tight], file="f.csv") == []
    fresh.loc[(fresh.model == "organism-l") & (fresh.steps == 30), "rrr"] += 0.01  # beyond the reference's
    found = compare_grids(fresh, grid, [tight], file="f.csv")
    assert {(f.column, f.rule) for f in found} == {("rrr", "|Δ| <= 0.001 (reference tolerance)")}
    fresh.loc[3, "rd_mean"] += 0.2
    found = compare_grids(fresh.drop(index=[10]), grid, [tight], file="f.csv")
    assert ("rd_mean", f"|Δ| <= {DEFAULT_TOL:g} (default tolerance)") in {(f.column, f.rule) for f in found}
    assert "row of the published run is missing" in rules(found)


def test_fresh_run_that_differs_fails_the_comparison(pub, tmp_path):
    fresh = copy_result_dir(tmp_path / "fresh")  # check_all below shows an equal copy passes
    shutil.rmtree(fresh / "figures")  # (not redrawn: this test is about the grid comparison)
    edit_grid(fresh, lambda g: g.assign(rd=g.rd + (g.steps > 0) * 0.2, rd_ci_high=g.rd_ci_high + 0.2,
                                        rd_mean=g.rd_mean + (g.steps > 0) * 0.2))  # fmt: skip
    spec = yaml.safe_load((fresh / "spec.resolved.yaml").read_text())
    spec["seeds"] = [0, 1]
    (fresh / "spec.resolved.yaml").write_text(yaml.safe_dump(spec))
    man = json.loads((fresh / "manifest.json").read_text())
    man["numerics"]["id"] = "another-platform"  # made elsewhere: compared as a replication
    (fresh / "manifest.json").write_text(json.dumps(man))
    rep = check_dir(pub, fresh_dir=fresh)
    assert not rep.ok and rep.fresh is not None and rep.compare_mode == "replication"
    assert {"rd"} <= {f.column for f in rep.comparison}
    assert any(f.column == "seeds" and f.rule == "the fresh run used the published spec" for f in rep.comparison)
    assert load_spec(pub / "spec.resolved.yaml").seeds == [0, 1, 2]


def test_check_all_pairs_published_and_fresh_runs(tmp_path):
    copy_result_dir(tmp_path / "artifacts" / "smoke")
    copy_result_dir(tmp_path / "out" / "smoke")
    code, out = invoke("check", "--all", "--artifacts", tmp_path / "artifacts", "--fresh-root", tmp_path / "out",
                       "--report", tmp_path / "out" / "check_report.md")  # fmt: skip
    assert code == 0, out
    report = (tmp_path / "out" / "check_report.md").read_text()
    assert "fresh run" in report and "identical" in report and "every compared file byte-identical" in report


def test_cli_input_errors_exit_2(tmp_path):
    assert invoke("check", tmp_path / "nope")[0] == 2
    assert invoke("check", "--artifacts", tmp_path / "empty")[0] == 2  # no DIR means --all
    assert invoke("check", tmp_path, tmp_path, "--fresh", tmp_path)[0] == 2
    code, msg = invoke("check", "--all", "--artifacts", tmp_path / "empty")
    assert code == 2 and "no published study" in msg


# ---------------------------------------------------------------- publishing


def git(cwd, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    git(root, "config", "user.email", "t@example.org")
    git(root, "config", "user.name", "t")
    (root / "README.md").write_text("x\n")
    git(root, "add", "README.md")
    git(root, "commit", "-q", "-m", "init")
    run = copy_result_dir(root / "out" / "smoke")  # untracked files do not make the tree dirty
    write_json(run / "results.json", results_json.build(run))
    return root


def test_publish_copies_a_run_from_a_clean_tree(repo, monkeypatch):
    from rrs.artifact import inventory

    monkeypatch.chdir(repo)
    code, out = invoke_publish("out/smoke")
    assert code == 0, out
    dest = repo / "artifacts" / "smoke"
    assert sorted(p.name for p in dest.iterdir()) == sorted([*PUBLISHED, "reproductions.csv"])
    src = repo / "out" / "smoke"
    copied = {p.relative_to(dest): sha256_file(p) for p in dest.rglob("*") if p.is_file()}
    copied.pop(Path("reproductions.csv")), copied.pop(Path("manifest.json"))
    assert copied == {p.relative_to(src): sha256_file(p) for p in src.rglob("*") if p.is_file()
                      and p.name != "manifest.json"}
    man = json.loads((dest / "manifest.json").read_text())  # the run's manifest plus the list of every other file
    assert man.pop("files") == inventory.build(dest)
    assert man == {k: v for k, v in json.loads((src / "manifest.json").read_text()).items() if k != "files"}
    record = pd.read_csv(dest / "reproductions.csv")  # the publishing platform is the first on record
    assert record["results_grid_sha256"].tolist() == [sha256_file(src / "results_grid.csv")]
    assert record["fingerprint_id"].tolist() == [NUMERICS_ID]
    assert not [p for p in (repo / "artifacts").iterdir() if p.name.startswith(".")]  # no staging dir left
    assert invoke("check", dest, "--report", repo / "out" / "report.md")[0] == 0


def test_publish_replaces_only_with_replace_and_keeps_only_backed_records(repo, monkeypatch):
    monkeypatch.chdir(repo)
    assert invoke_publish("out/smoke")[0] == 0
    dest = repo / "artifacts" / "smoke"
    before = (dest / "manifest.json").read_bytes()
    code, msg = invoke_publish("out/smoke")
    assert code == 2 and "a publication exists there: pass --replace" in msg
    assert (dest / "manifest.json").read_bytes() == before
    other = pd.read_csv(dest / "reproductions.csv").assign(fingerprint_id="0123456789abcdef")
    both = pd.concat([pd.read_csv(dest / "reproductions.csv"), other])
    both.to_csv(dest / "reproductions.csv", index=False, lineterminator="\n")
    (dest / "variation.csv").write_text("measured,elsewhere\n1,2\n")
    syn.seal(dest)  # hashes updated: the rows are still assertions without evidence
    code, out = invoke("check", dest, "--report", repo / "out" / "report.md", "--json")  # not backed: FAIL
    failed = {(f["file"], f["row"], f["column"]) for f in json.loads(out)["studies"][0]["failures"]}
    assert code == 1 and failed == {("reproductions.csv", "3", "fingerprint_id"), ("variation.csv", "-", "-")}, out
    assert invoke_publish("out/smoke", "--replace")[0] == 0  # the same results: what evidence backs is kept
    assert pd.read_csv(dest / "reproductions.csv")["fingerprint_id"].tolist() == [NUMERICS_ID]
    assert not (dest / "variation.csv").exists()
    (dest / "notes.txt").write_text("a reviewer's notes\n")
    code, msg = invoke_publish("out/smoke", "--replace")
    assert code == 2 and "1 file(s) no publication wrote (first: notes.txt)" in msg
    assert (dest / "notes.txt").read_text() == "a reviewer's notes\n"


def test_publish_refuses_what_check_fails_and_bad_input_in_one_line(repo, monkeypatch):
    monkeypatch.chdir(repo)
    (repo / "artifacts").mkdir()
    (repo / "artifacts" / "file").write_text("x\n")
    code, msg = invoke_publish("out/smoke", "--to", "artifacts/file")
    assert code == 2 and "exists and is not a folder" in msg and len(msg.strip().splitlines()) == 1
    edit_grid(repo / "out/smoke", lambda g: set_refusals(g, g["steps"] == 0, 1))  # a claim no longer holds
    code, msg = invoke_publish("out/smoke")
    assert code == 2 and "`rrs check` fails the publication" in msg and "nothing was published" in msg
    assert not (repo / "artifacts" / "smoke").exists() and len(msg.strip().splitlines()) == 1
    (repo / "out/smoke/manifest.json").write_text("[1, 2, 3]\n")
    code, msg = invoke_publish("out/smoke")
    assert code == 2 and "manifest.json holds a JSON list, not an object" in msg and "Traceback" not in msg


def test_publish_refuses_a_non_utf8_record(repo, monkeypatch):
    monkeypatch.chdir(repo)
    assert invoke_publish("out/smoke")[0] == 0
    dest = repo / "artifacts" / "smoke"
    (dest / "reproductions.csv").write_bytes((dest / "reproductions.csv").read_bytes() + b"\xff\xfe,x\n")
    code, msg = invoke_publish("out/smoke", "--replace")
    assert code == 2 and "reproductions.csv is not a UTF-8 CSV" in msg and "Traceback" not in msg


def test_publish_refuses_a_dirty_tree_and_a_dirty_run(repo, monkeypatch):
    monkeypatch.chdir(repo)
    (repo / "README.md").write_text("changed\n")
    code, msg = invoke_publish("out/smoke", "--to", "artifacts/smoke")
    assert code == 2 and "uncommitted changes to 1 tracked file(s)" in msg and "README.md" in msg
    assert not (repo / "artifacts").exists()
    git(repo, "checkout", "README.md")
    manifest = json.loads((repo / "out/smoke/manifest.json").read_text())
    manifest["git"]["dirty"] = True
    (repo / "out/smoke/manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="git.dirty is true"):
        publish(repo / "out/smoke", cwd=repo)
    shutil.rmtree(repo / "out/smoke/figures")
    with pytest.raises(UserError, match="missing figures"):
        publish(repo / "out/smoke", cwd=repo)
    assert not (repo / "artifacts").exists()


def test_publish_outside_git_is_refused(tmp_path):
    run = copy_result_dir(tmp_path / "smoke")
    write_json(run / "results.json", results_json.build(run))
    with pytest.raises(UserError, match="not a git work tree"):
        publish(run, tmp_path / "artifacts" / "smoke", cwd=tmp_path)


def invoke_publish(*args: str) -> tuple[int, str]:
    return invoke("publish", *args)


# ---------------------------------------------------------------- the same defects in a copy of the published study


def published_source(tmp_path):
    """A copy of the published embedded study, artifacts/smoke (committed)."""
    real = Path(__file__).resolve().parents[1] / "artifacts" / "smoke"
    assert (real / "results_grid.csv").is_file(), "artifacts/smoke is not published"
    return shutil.copytree(real, tmp_path / "smoke")


def _shift(value: float, by: float) -> float:
    return value + by if value + by <= 1 else value - by


def _set(g: pd.DataFrame, column: str, rows: pd.Index, value: float) -> pd.DataFrame:
    g = g.copy()
    g.loc[rows, column] = value
    return g


def plant_reference(d, spec) -> str:
    r = spec.references[0]
    edit_grid(d, lambda g: _set(g, r.metric, select(g, r.select).index, _shift(r.value, r.tolerance + 0.1)))
    return describe(r.select)


def plant_ce(d, spec) -> str:
    edit_grid(d, lambda g: _set(g, "ce", g.index[:1], _shift(float(g.ce.iloc[0]), 0.3)))
    return "ce == 1 - rrr"


def plant_missing_column(d, spec) -> str:
    edit_grid(d, lambda g: g.drop(columns=["rd_reason"]))
    return "rd_reason"


def plant_duplicate(d, spec) -> str:
    edit_grid(d, lambda g: pd.concat([g, g.iloc[[0]]], ignore_index=True))
    return "no duplicate"


def plant_figure(d, spec) -> str:
    grid = read_grid(d / "results_grid.csv")
    # every organism of the first size at the second step: the compare figure draws one line per size
    first = (grid.model_params == grid.model_params.iloc[0]) & (grid.steps == sorted(set(grid.steps))[1])
    grid.loc[first, "rrr"] = grid.loc[first, "rrr"].map(lambda v: _shift(v, 0.05))
    make_figures(grid, d / "figures", formats=("png",))
    syn.seal(d)  # the manifest's hashes updated too: the redrawn comparison must still catch it
    return "RRR_compare"


def plant_claim(d, spec) -> str:
    c = next(c for c in spec.claims if c.check.kind == "threshold")
    bad = c.check.value + 0.5 if c.check.op in ("<=", "<") else c.check.value - 0.5
    edit_grid(d, lambda g: _set(g, c.check.metric, select(g, c.check.select).index, min(max(bad, 0.0), 1.0)))
    return c.id


PLANTS = (plant_reference, plant_ce, plant_missing_column, plant_duplicate, plant_figure, plant_claim)


def test_planted_defects_in_a_copy_of_the_published_study(tmp_path, cli_check):
    source = published_source(tmp_path / "src")
    spec = load_spec(source / "spec.resolved.yaml")
    assert spec.references and any(c.check.kind == "threshold" for c in spec.claims), "the spec needs both"
    code, out, _ = cli_check(source)
    assert code == 0, out
    for i, plant in enumerate(PLANTS):
        d = shutil.copytree(source, tmp_path / f"d{i}" / source.name)
        named = plant(d, spec)
        code, out, rep = cli_check(d)
        report = (tmp_path / "report.md").read_text()
        assert code == 1 and named in report and named in out, (plant.__name__, named, report[:3000])
        if plant is plant_figure:  # only the figure fails, by more than the tolerance; rd was not edited
            figs = {f.name: f for f in rep.figures}
            assert figs["RRR_compare"].rms > FIG_RMS_TOL and figs["RD_compare"].ok and rep.failures == []


def test_references_table_schema():
    from rrs.artifact.schemas import validate_references

    assert validate_references([ref(), ref(select={"model": "m", "steps": 10})]) == []
    found = validate_references([ref(value=float("inf")), ref(select={"steps": -1})])
    assert {(f.row, f.rule) for f in found} == {("references[0]", "value is finite"), ("references[1]", "steps >= 0")}


def test_same_platform_expects_identical_bytes(pub, tmp_path):
    """A fresh run with the published numerics fingerprint must have the published bytes; one changed digit fails."""
    same = copy_result_dir(tmp_path / "same")
    rep = check_dir(pub, fresh_dir=same)
    assert rep.ok and rep.compare_mode == "identical" and rep.comparison == []
    changed = copy_result_dir(tmp_path / "changed")
    edit_grid(changed, lambda g: g.assign(rd_mean=g.rd_mean.where(g.index != 7, g.rd_mean + 1e-4)))
    rep = check_dir(pub, fresh_dir=changed)
    assert rep.compare_mode == "identical" and not rep.ok
    assert any(f.file.endswith("results_grid.csv") and "byte-identical" in f.rule for f in rep.comparison)


def test_a_reproduction_is_recorded_with_its_evidence_and_then_verified(repo, monkeypatch):
    from rrs.checks.publish import record_reproduction
    from rrs.numerics import fingerprint_id

    monkeypatch.chdir(repo)
    assert invoke_publish("out/smoke")[0] == 0
    dest, run = repo / "artifacts" / "smoke", repo / "elsewhere" / "smoke"
    shutil.copytree(repo / "out" / "smoke", run)  # the same bytes, made on another platform
    man = json.loads((run / "manifest.json").read_text())
    fp = man["numerics"]["fingerprint"] | {"cpu": {"vendor": "GenuineIntel", "model": "Xeon", "flags": []}}
    man["numerics"] = {"id": fingerprint_id(fp), "fingerprint": fp}
    (run / "manifest.json").write_text(json.dumps(man))
    write_json(run / "results.json", results_json.build(run))  # its provenance names its platform
    syn.seal(run)
    row = record_reproduction(run, dest)
    assert row["fingerprint_id"] == fingerprint_id(fp)
    kept = dest / "evidence" / "reproductions" / row["fingerprint_id"]
    assert sorted(p.name for p in kept.iterdir()) == ["manifest.json", "results_grid.csv"]
    assert invoke("check", dest, "--report", repo / "out" / "report.md")[0] == 0  # backed: the check passes
    with pytest.raises(UserError, match="already on record"):
        record_reproduction(run, dest)
    (kept / "results_grid.csv").write_text("model\n")  # the evidence no longer backs the row
    syn.seal(dest)
    code, out = invoke("check", dest, "--report", repo / "out" / "report.md")
    assert code == 1 and f"evidence/reproductions/{row['fingerprint_id']}/results_grid.csv" in out
