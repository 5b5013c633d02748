"""`rrs report`: one self-contained HTML page per study (rrs/htmlreport.py, rrs/commands/report.py). The browser test
(a real headless Chromium) is tests/test_report_browser.py, behind the `browser` marker (`make report-test`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from synthetic import copy_result_dir

from rrs import htmlreport
from rrs.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "artifacts" / "smoke"


@pytest.fixture
def invoke(capsys):
    """Run the real entry point in-process: (exit code, stdout and stderr together)."""

    def run(*args: str) -> tuple[int, str]:
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out + out.err

    return run


def _verdict(result_dir: Path, **study) -> dict:
    """A verdict object as `rrs check --json` prints it (fields as of verdict_version 1), hand-made."""
    base = {"study": result_dir.name, "result_dir": str(result_dir), "ok": False, "summary": "two claims, one fails",
            "notes": [], "counts": {}, "references": [], "failures": [], "figures": [], "fresh": None,
            "claims": [{"id": "holds", "text": "A claim that holds.", "ok": True, "detail": "5 of 5 hold"},
                       {"id": "breaks", "text": "A <b>claim</b> & more.", "ok": False, "detail": "worst 0.3 > 0.2"}]}
    return {"verdict_version": 1, "ok": False, "report": "-", "notes": [], "studies": [base | study]}


def test_page_is_self_contained_and_shows_each_claim_and_figure():
    page = htmlreport.render(_verdict(SMOKE), SMOKE)
    assert "<script" not in page.lower()
    external = re.findall(r"""(?:src|href)\s*=\s*["']?(?!data:|#)([^"'\s>]+)""", page)
    assert external == []
    assert "url(" not in page and "@import" not in page
    pngs = sorted(p.stem for p in (SMOKE / "figures").glob("*.png"))
    assert len(pngs) == 8 and page.count('src="data:image/png;base64,') == len(pngs)
    for name in pngs:
        assert f'id="fig-{name}"' in page
    rows = re.findall(r'<tr data-claim="([^"]+)">.*?<td class="(PASS|FAIL)">\2</td></tr>', page)
    assert rows == [("holds", "PASS"), ("breaks", "FAIL")]
    assert "A &lt;b&gt;claim&lt;/b&gt; &amp; more." in page  # escaped, not markup


def test_page_shows_falsifier_categories_agreement_numerics_and_provenance():
    page = htmlreport.render(_verdict(SMOKE), SMOKE)
    manifest = json.loads((SMOKE / "manifest.json").read_text())
    assert manifest["spec_sha256"] in page and manifest["git"]["commit"] in page
    assert manifest["numerics"]["id"] in page
    assert "keyword:bigger-safer" in page and "keyword:gcg-29" in page  # the agreement table's pair
    ctx = htmlreport.context(_verdict(SMOKE), SMOKE)
    assert [r["category"] for r in ctx["categories"]["rows"]] == sorted({r["category"] for r in ctx["categories"]["rows"]})
    assert len(ctx["categories"]["rows"]) == 10 and ctx["categories"]["first"] == 0
    assert all(r["n_before"] > 0 and r["n_after"] > 0 for r in ctx["categories"]["rows"])
    assert len(ctx["agreement"]) == 1 and ctx["agreement"][0]["n"] > 0
    assert len(ctx["numerics"]["reproductions"]) >= 1
    from rrs.spec import load_spec

    claims = load_spec(SMOKE / "spec.resolved.yaml").claims
    verdict = _verdict(SMOKE, claims=[{"id": c.id, "text": c.text, "ok": True, "detail": "-"} for c in claims])
    shown = htmlreport.context(verdict, SMOKE)["claims"]
    assert {c["id"]: c["falsifier"] for c in shown} == {c.id: c.falsifier for c in claims}  # the spec's own, per claim
    assert all(c["check"] for c in shown)
    assert "not stated in the spec" in {c["falsifier"] for c in ctx["claims"]}  # a claim the spec does not hold


def test_unknown_verdict_fields_and_failure_kinds_are_shown_not_fatal(tmp_path):
    failure = {"file": "manifest.json", "column": "-", "row": "-", "value": "-", "rule": "a listed file",
               "kind": "inventory"}  # a failure kind (and field) the page does not know
    verdict = _verdict(SMOKE, failures=[failure], counts=None, figures="not a list", extra={"x": 1})
    page = htmlreport.render(verdict, SMOKE)
    assert "<th>kind</th>" in page and "inventory" in page
    verdict["studies"][0].pop("claims")
    assert "The verdict holds no claims." in htmlreport.render(verdict, SMOKE)


def test_one_size_study_says_why_it_has_no_scaling_figure(tmp_path):
    art = tmp_path / "one-size"
    (art / "figures").mkdir(parents=True)
    (art / "results_grid.csv").write_text("model,model_params,attack,steps,seed,judge,rrr\n"
                                          "m,1000,a,0,0,keyword:gcg-29,1\nm,1000,a,10,0,keyword:gcg-29,0.5\n")
    page = htmlreport.render(_verdict(art), art)
    assert "No scaling figure: the study has 1 model size" in page


def test_cli_writes_the_page_from_a_saved_verdict_and_defaults_to_the_check_folder(tmp_path, invoke):
    art = copy_result_dir(tmp_path / "artifacts" / "smoke")
    saved = tmp_path / "verdict.json"
    saved.write_text(json.dumps(_verdict(art)))
    code, out = invoke("report", str(art), "--verdict", str(saved), "--html", str(tmp_path / "r.html"))
    assert code == 0, out
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert out.splitlines()[-1] == f"report written to {tmp_path / 'r.html'}"
    before = sorted(p.relative_to(art) for p in art.rglob("*"))
    code, out = invoke("report", str(art), "--verdict", str(saved))
    assert code == 0, out
    assert (tmp_path / "artifacts" / ".check" / "smoke" / "report.html").is_file()
    assert sorted(p.relative_to(art) for p in art.rglob("*")) == before  # nothing written into the artifact


def test_cli_runs_the_checks_when_no_verdict_is_given(tmp_path, invoke):
    art = copy_result_dir(tmp_path / "smoke")
    code, out = invoke("report", str(art), "--html", str(tmp_path / "r.html"))
    assert code == 0, out
    assert out.splitlines()[0].startswith("PASS: ")
    page = (tmp_path / "r.html").read_text()
    assert page.count('<td class="PASS">PASS</td>') >= 1 and '<td class="FAIL">' not in page


def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path, invoke):
    art = copy_result_dir(tmp_path / "smoke")
    bad = tmp_path / "bad.json"
    for text, words in (("[1, 2]", "not a verdict"), ("{", "not JSON")):
        bad.write_text(text)
        code, out = invoke("report", str(art), "--verdict", str(bad), "--html", str(tmp_path / "r.html"))
        assert code == 2 and words in out and str(bad) in out
    code, out = invoke("report", str(tmp_path / "missing"), "--html", str(tmp_path / "r.html"))
    assert code == 2 and "no such result directory" in out
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"studies": [{"result_dir": "/a/x"}, {"result_dir": "/b/y"}]}))
    code, out = invoke("report", str(art), "--verdict", str(other), "--html", str(tmp_path / "r.html"))
    assert code == 2 and "no study for" in out
    assert not (tmp_path / "r.html").exists()


def test_check_writes_the_page_beside_its_markdown(tmp_path):
    """`rrs check` writes one HTML page per study next to its markdown report, never into the artifact."""
    from typer.testing import CliRunner

    from rrs.cli import app

    smollm2 = SMOKE.parent / "smollm2"
    before = sorted(p.name for p in smollm2.iterdir())
    result = CliRunner().invoke(app, ["check", str(smollm2), "--report", str(tmp_path / "r.md")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.smollm2.html").read_text(encoding="utf-8")
    assert 'id="claims-table"' in page and "<script" not in page.lower()
    assert f"HTML report: {tmp_path / 'r.smollm2.html'}" in result.output
    assert sorted(p.name for p in smollm2.iterdir()) == before
