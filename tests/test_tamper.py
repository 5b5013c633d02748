"""A reviewer tampers with a sealed publication: every class of tampering FAILs `rrs check` with a one-line reason,
exit 1 and no traceback; the untouched copy PASSes. Tampering that also rewrites the manifest's hashes (syn.seal)
must still fail: the check re-derives every label and number from the stored texts."""

from __future__ import annotations

import json
import os
import shutil
import signal

import pandas as pd
import pytest
import synthetic as syn
import yaml
from synthetic import copy_result_dir, invoke, set_refusals

from rrs import results_json
from rrs.artifact.schemas import read_grid
from rrs.checks.replication import measure_variation
from rrs.hashing import sha256_file
from rrs.numerics import fingerprint_id

SAMPLE = "samples/organism-s/lora-r8/seed1/steps0.jsonl"


@pytest.fixture(scope="module")
def sealed(tmp_path_factory):
    """A publication with variation evidence: one variant run kept as evidence/variants/avx2/."""
    d = copy_result_dir(tmp_path_factory.mktemp("pub") / "smoke")
    grid = read_grid(d / "results_grid.csv")
    man = json.loads((d / "manifest.json").read_text())
    fp = man["numerics"]["fingerprint"] | {"knobs": {"ATEN_CPU_CAPABILITY": "avx2"}, "cpu_capability": "AVX2"}
    variant = d / "evidence" / "variants" / "avx2"
    variant.mkdir(parents=True)
    vman = {k: v for k, v in man.items() if k != "files"} | {"numerics": {"id": fingerprint_id(fp), "fingerprint": fp}}
    (variant / "manifest.json").write_text(json.dumps(vman))
    vgrid = set_refusals(grid, (grid["steps"] == 20) & (grid["model"] == "organism-m"), 3)
    syn.write_grid(vgrid, variant / "results_grid.csv")
    measure_variation(grid, [read_grid(variant / "results_grid.csv")]).to_csv(
        d / "variation.csv", index=False, float_format="%.6g", lineterminator="\n")
    return syn.seal(d)


def check(path, tmp_path, *extra) -> tuple[int, str]:
    def hang(*_):  # a FIFO or /dev/zero must never block the check
        raise TimeoutError("rrs check blocked")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(120)
    try:
        return invoke("check", path, "--report", tmp_path / "report.md", *extra)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_the_untouched_publication_passes(sealed, tmp_path):
    code, out = check(sealed, tmp_path)
    assert code == 0, out


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def _write_lines(path, rows):
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def refusal_rewritten(d):
    """A stored refusal rewritten into a compliant answer; its labels left as they were; hashes updated."""
    rows = _lines(d / SAMPLE)
    i = next(i for i, r in enumerate(rows) if r["set"] == "harmful" and r["refusal:keyword:bigger-safer"])
    rows[i]["response"] = "An overview of the topic (details intentionally omitted)."
    _write_lines(d / SAMPLE, rows)
    syn.seal(d)
    return f"{SAMPLE} line {i + 1} [refusal:keyword:bigger-safer]"


def refusal_rewritten_unsealed(d):
    rows = _lines(d / SAMPLE)
    i = next(i for i, r in enumerate(rows) if r["set"] == "harmful" and r["refusal:keyword:bigger-safer"])
    rows[i]["response"] = "An overview of the topic (details intentionally omitted)."
    _write_lines(d / SAMPLE, rows)
    return f"{SAMPLE}: has sha256"


def number_in_results_json(d):
    data = json.loads((d / "results.json").read_text())
    data["aggregates"][0]["metrics"]["rrr"]["mean"] = 0.123
    (d / "results.json").write_text(json.dumps(data))
    syn.seal(d)
    return "results.json [$.aggregates[0].metrics.rrr.mean]"


def number_in_curves(d):
    curves = pd.read_csv(d / "curves.csv")
    curves.loc[0, "s50"] = float(curves.loc[0, "s50"]) + 3
    curves.to_csv(d / "curves.csv", index=False)
    syn.seal(d)
    return "curves.csv"


def figure_pdfs_swapped(d):
    a, b = d / "figures" / "RRR_compare.pdf", d / "figures" / "CE_compare.pdf"
    data = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(data)
    syn.seal(d)
    return "figure RRR_compare: RRR_compare.pdf: 54 content streams, the redrawn figure has"


def figure_pngs_swapped(d):
    a, b = d / "figures" / "RRR_compare.png", d / "figures" / "RD_compare.png"
    data = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(data)
    syn.seal(d)
    return "figure RRR_compare: RMS"


def results_json_deleted(d):
    (d / "results.json").unlink()
    return "results.json: file or directory missing"


def results_json_deleted_and_unlisted(d):
    (d / "results.json").unlink()
    syn.seal(d)
    return "results.json: file or directory missing"


def grid_is_an_empty_directory(d):
    (d / "results_grid.csv").unlink()
    (d / "results_grid.csv").mkdir()
    return "results_grid.csv: a regular file (it is not one)"


def samples_is_a_plain_file(d):
    shutil.rmtree(d / "samples")
    (d / "samples").write_text("nothing\n")
    return "samples: a folder (it is not one)"


def figures_is_a_plain_file(d):
    shutil.rmtree(d / "figures")
    (d / "figures").write_text("nothing\n")
    return "figures: a folder (it is not one)"


def sample_is_a_symlink_outside(d):
    outside = d.parent / "elsewhere.jsonl"
    shutil.copy(d / SAMPLE, outside)
    (d / SAMPLE).unlink()
    (d / SAMPLE).symlink_to(outside)
    return f"{SAMPLE}: is a symlink"


def results_json_is_a_fifo(d):
    (d / "results.json").unlink()
    os.mkfifo(d / "results.json")
    return "results.json: a regular file (it is not one)"


def sample_is_dev_zero(d):
    (d / SAMPLE).unlink()
    (d / SAMPLE).symlink_to("/dev/zero")
    return f"{SAMPLE}: is a symlink"


def unlisted_file(d):
    (d / "samples" / "extra.jsonl").write_text("{}\n")
    return "samples/extra.jsonl: is not listed in manifest.json"


def unbacked_reproduction(d):
    rows = pd.read_csv(d / "reproductions.csv") if (d / "reproductions.csv").exists() else None
    man = json.loads((d / "manifest.json").read_text())
    fp = man["numerics"]["fingerprint"] | {"cpu": {"vendor": "GenuineIntel", "model": "Xeon", "flags": []}}
    row = {"fingerprint_id": fingerprint_id(fp), "platform": "GenuineIntel Xeon",
           "results_grid_sha256": sha256_file(d / "results_grid.csv"), "date": "2026-12-01",
           "rrs_commit": "0" * 40, "fingerprint": json.dumps(fp, sort_keys=True)}
    pd.concat([rows, pd.DataFrame([row])] if rows is not None else [pd.DataFrame([row])]).to_csv(
        d / "reproductions.csv", index=False, lineterminator="\n")
    syn.seal(d)
    return "reproductions.csv line 2 [fingerprint_id]"


def variation_inflated(d):
    v = pd.read_csv(d / "variation.csv")
    v["spread"] = 100
    v.to_csv(d / "variation.csv", index=False, lineterminator="\n")
    syn.seal(d)
    return "variation.csv line 2 [spread]: 100 vs recomputed"


def manifest_is_a_list(d):
    (d / "manifest.json").write_text("[1, 2, 3]\n")
    return "manifest.json: holds a JSON list, not the manifest's JSON object"


def manifest_is_empty(d):
    (d / "manifest.json").write_text("")
    return "manifest.json: not valid JSON"


def manifest_lists_no_files(d):
    man = json.loads((d / "manifest.json").read_text())
    del man["files"]
    (d / "manifest.json").write_text(json.dumps(man))
    return "manifest.json: has no list of files"


def no_claims(d):
    spec = yaml.safe_load((d / "spec.resolved.yaml").read_text())
    spec["claims"] = []
    (d / "spec.resolved.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (d / "results.json").write_text(json.dumps(results_json.build(d)))  # a careful tamperer rebuilds it
    syn.seal(d)
    return "spec.resolved.yaml [claims]: 0 evaluated"


TAMPERS = (refusal_rewritten, refusal_rewritten_unsealed, number_in_results_json, number_in_curves,
           figure_pdfs_swapped, figure_pngs_swapped, results_json_deleted, results_json_deleted_and_unlisted,
           grid_is_an_empty_directory, samples_is_a_plain_file, figures_is_a_plain_file, sample_is_a_symlink_outside,
           results_json_is_a_fifo, sample_is_dev_zero, unlisted_file, unbacked_reproduction, variation_inflated,
           manifest_is_a_list, manifest_is_empty, manifest_lists_no_files, no_claims)  # fmt: skip


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.__name__ for t in TAMPERS])
def test_each_tampering_fails_with_a_one_line_reason(sealed, tmp_path, tamper):
    d = shutil.copytree(sealed, tmp_path / "copy" / "smoke", symlinks=True)
    expected = tamper(d)
    code, out = check(d, tmp_path)
    reasons = [line for line in out.splitlines() if line.startswith("reason: ")]
    assert code == 1 and "Traceback" not in out, out[-3000:]
    assert len(reasons) == 1 and expected in reasons[0], (expected, reasons, out[-3000:])


def test_the_report_is_never_written_through_a_symlink_or_onto_a_special_file(sealed, tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep\n")
    link = tmp_path / "report.md"
    link.symlink_to(target)
    code, out = invoke("check", sealed, "--report", link)
    assert code == 2 and "is a symlink: the report is not written through it" in out and "Traceback" not in out
    assert target.read_text() == "keep\n" and link.is_symlink()
    fifo = tmp_path / "fifo.md"
    os.mkfifo(fifo)
    code, out = invoke("check", sealed, "--report", fifo)
    assert code == 2 and "exists and is not a regular file" in out
    (tmp_path / "dir.md").mkdir()
    assert invoke("check", sealed, "--report", tmp_path / "dir.md")[0] == 2
