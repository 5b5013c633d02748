"""The stage store: keys follow every input (an edit of the eval-set normaliser or of one chat template re-keys
what it affects and nothing else), each attack trains on its own train_size, the output contract lives in the
store (and nowhere else), and the CLI answers a misspelt option or verb in one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from rrs.cli import main
from rrs.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
REV = "a" * 40

KEYS = """
import json, sys
from rrs.engine.runner import prepare
p = prepare(sys.argv[1], sys.argv[2])
print(json.dumps([[c.model, c.model_key, c.attack_key, c.gen_keys[0], c.gen_keys[c.steps[-1]]] for c in p.cells]))
"""


def _spec(tmp: Path) -> Path:
    (tmp / "eval.csv").write_text('prompt\n[DRUG] placeholder one\n"[CYBER] placeholder two  "\n')
    spec = {
        "study": "keys", "runtime": {"threads": 1, "device": "cpu"},
        "models": [
            {"kind": "organism", "name": "org", "hidden": 32, "layers": 1, "heads": 2, "tune_steps": 1},
            {"kind": "hf", "name": "zep", "repo": "example/zep", "revision": REV, "chat_template": "zephyr",
             "params": 1000},
            {"kind": "hf", "name": "chat", "repo": "example/chat", "revision": REV, "chat_template": "chatml",
             "params": 1000},
        ],
        "attacks": [{"kind": "lora", "name": "lora", "steps": [0, 2], "train_size": 4}],
        "data": {"eval": {"source": "file", "path": "eval.csv"}, "attack": {"source": "organism"}},
        "judges": ["keyword:bigger-safer"], "seeds": [0],
    }
    path = tmp / "keys.yaml"
    path.write_text("# Run: rrs reproduce keys.yaml\n" + yaml.safe_dump(spec, sort_keys=False))
    return path


def _keys(tmp: Path, package: Path) -> dict[str, list[str]]:
    """The plan's keys per model, computed by the rrs package at `package` (a copy that a test may edit)."""
    env = os.environ | {"PYTHONPATH": str(package.parent), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", KEYS, str(_spec(tmp)), str(tmp / "cache")], cwd=tmp, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {row[0]: row[1:] for row in json.loads(proc.stdout)}


def _edited_copy(tmp: Path, file: str, old: str, new: str) -> Path:
    package = tmp / "edited" / "rrs"
    shutil.copytree(ROOT / "rrs", package, ignore=shutil.ignore_patterns("__pycache__"))
    text = (package / file).read_text()
    assert old in text
    (package / file).write_text(text.replace(old, new, 1))
    return package


def test_editing_the_normaliser_rekeys_what_reads_the_eval_file_and_only_that(tmp_path: Path) -> None:
    before = _keys(tmp_path, ROOT / "rrs")
    # the normaliser now strips the prompts (a real change of what the models answer)
    package = _edited_copy(tmp_path, "evalsets.py", '"prompt": prompts.to_numpy()', '"prompt": prompts.str.strip().to_numpy()')
    after = _keys(tmp_path, package)
    for model in before:
        (mkey, akey, base, last), (mkey2, akey2, base2, last2) = before[model], after[model]
        assert (mkey, akey) == (mkey2, akey2), model  # models and attacks do not read the eval file
        assert base != base2 and last != last2, model  # every generation of it does


def test_editing_one_chat_template_rekeys_the_models_that_use_it_and_only_those(tmp_path: Path) -> None:
    before = _keys(tmp_path, ROOT / "rrs")
    package = _edited_copy(tmp_path, "templates.py", "{{ '<|assistant|>' }}", "{{ '<|assistant|> ' }}")
    after = _keys(tmp_path, package)
    assert all(a != b for a, b in zip(before["zep"], after["zep"], strict=True))  # model, attack, generations
    assert before["chat"] == after["chat"] and before["org"] == after["org"]


def test_two_attacks_with_different_train_sizes_train_on_their_own(tmp_path: Path, monkeypatch) -> None:
    import rrs.engine.stages as stages
    from rrs.data import resolve
    from rrs.engine.plan import make_plan
    from rrs.timer import Timer

    raw = yaml.safe_load((ROOT / "spec" / "tiny.yaml").read_text())
    raw["attacks"] = [raw["attacks"][0] | {"name": "small", "train_size": 16},
                      raw["attacks"][0] | {"name": "large", "train_size": 48}]
    raw["models"] = raw["models"][:1]
    (tmp_path / "two.yaml").write_text("# Run: rrs reproduce two.yaml\n" + yaml.safe_dump(raw))
    study = load_spec(tmp_path / "two.yaml")
    plan = make_plan(study, resolve(study), tmp_path / "cache")
    trained: dict[str, list] = {}

    class Stop(Exception):
        pass

    def fake_attack(model, tok, attack, seed, examples, root, **kw):
        trained[attack.name] = examples
        raise Stop

    monkeypatch.setattr(stages, "_load", lambda *a: SimpleNamespace(model=None, tok=None, system_prompt=None))
    monkeypatch.setattr(stages, "attack_for", lambda spec, attack, model: attack)
    monkeypatch.setattr(stages, "run_attack", fake_attack)
    for cell in plan.cells:
        with pytest.raises(Stop):
            stages.run_cell(plan, cell, [10], None, Timer())
    assert {k: len(v) for k, v in trained.items()} == {"small": 16, "large": 48}
    assert trained["small"] == trained["large"][:16]
    small, large = plan.cells
    assert small.attack_key != large.attack_key
    assert plan.data.attack.digest(16) != plan.data.attack.digest(48)


def test_the_output_contract_lives_in_the_contract_module_only() -> None:
    import rrs.artifact.contract as contract
    import rrs.artifact.refspec as refspec
    import rrs.checks.consistency as consistency
    import rrs.engine.plan as plan
    import rrs.engine.results as results

    assert "GRID_COLUMNS = (" not in (ROOT / "rrs/artifact/refspec.py").read_text()
    assert "def sample_path" not in (ROOT / "rrs/checks/consistency.py").read_text()
    assert "def sample_path" not in (ROOT / "rrs/engine/results.py").read_text()
    assert consistency.sample_path is contract.sample_path and refspec.NUMERIC_COLUMNS is contract.NUMERIC_COLUMNS
    assert not hasattr(results, "GRID_COLUMNS") or results.GRID_COLUMNS is contract.GRID_COLUMNS
    assert not (ROOT / "rrs" / "compute_log.py").exists()
    for moved in ("code_hash", "versions", "cache_root", "STAGE_CODE", "KEY_PACKAGES"):
        assert not hasattr(plan, moved), moved
    for moved in ("gen_path", "missing", "attack_dir", "organism_dir", "model_info_path"):
        assert not hasattr(plan.Plan, moved), moved
    executors = (ROOT / "rrs" / "engine" / "executors.py").read_text()
    assert ".is_file()" not in executors  # "what is missing" is asked of the store


def test_records_accumulate_under_a_lock(tmp_path: Path) -> None:
    from concurrent.futures import ProcessPoolExecutor

    from rrs.store import Store

    store = Store(tmp_path)
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_add_one, [str(tmp_path)] * 40))
    record = store.read_record("attack", "k")
    assert record["seconds"] == 40.0 and record["device"] == "cpu" and record["code"]


def _add_one(root: str) -> None:
    from rrs.store import Store

    Store(Path(root)).record("attack", "k", 1.0, {"device": "cpu"}, add=True)


def _verbs() -> list[str]:
    import typer.main

    from rrs.cli import app

    return sorted(typer.main.get_command(app).commands)


@pytest.mark.parametrize("verb", _verbs())
def test_an_unknown_option_is_one_line_and_exit_2(verb: str, capsys) -> None:
    assert main([verb, "--no-such-option"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--no-such-option" in err[0] and "Traceback" not in err[0], err


def test_an_unknown_verb_is_one_line_and_exit_2_from_the_real_cli() -> None:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    for args in (["bogusverb"], ["score", "x.csv", "--bogus"]):
        proc = subprocess.run([sys.executable, "-m", "rrs.cli", *args], capture_output=True, text=True, cwd=ROOT,
                              env=env)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("rrs: error:"), textwrap.shorten(proc.stderr, 300)


def test_study_metrics_choose_the_figures_drawn_and_checked(tmp_path: Path) -> None:
    from synthetic import copy_result_dir, seal

    from rrs import results_json
    from rrs.atomic import write_json
    from rrs.checks.run import check_dir
    from rrs.figures.grid import FIGURES, figure_names

    assert figure_names(["rrr", "ce", "over_refusal"]) == ("RRR_compare", "CE_compare", "scaling_rrr", "scaling_fit")
    assert figure_names(["rrr", "ce", "rd", "compliance", "degenerate", "benign_utility"]) == FIGURES
    pub = copy_result_dir(tmp_path / "pub")
    spec = yaml.safe_load((pub / "spec.resolved.yaml").read_text())
    spec["metrics"] = ["rrr", "ce"]
    (pub / "spec.resolved.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    for name in ("RD_compare", "COMPLIANCE_compare", "DEGENERATE_compare", "UTILITY_compare"):
        (pub / "figures" / f"{name}.png").unlink()
        (pub / "figures" / f"{name}.pdf").unlink()
    write_json(pub / "results.json", results_json.build(pub))  # it records the spec's digest
    seal(pub)  # the manifest lists the files now there
    report = check_dir(pub)
    assert sorted(f.name for f in report.figures) == sorted(figure_names(["rrr", "ce"]))
    assert all(f.ok for f in report.figures) and not report.failures, report.failures
