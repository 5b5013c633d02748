"""Attacks paired with models (`attacks[].models`) and with their own seeds (`attacks[].seeds`): the plan runs each
model with its attacks only, a name that is not a model fails with one line, and so does a reference or claim that
selects a pair, seed or step that is never run. Also the shipped specs of the paper's study plan as documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rrs.engine.plan import make_plan
from rrs.errors import UserError
from rrs.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]


def _tiny(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load((ROOT / "spec" / "tiny.yaml").read_text())
    second = dict(raw["attacks"][0], name="lora-r16", rank=16, alpha=32)
    raw["attacks"].append(second)
    mutate(raw)
    path = tmp_path / "paired.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _plan(path: Path, tmp_path: Path):
    from rrs.data import resolve

    study = load_spec(path)
    return make_plan(study, resolve(study), tmp_path / "cache")


def _cells(plan) -> list[tuple[str, str, int]]:
    return [(c.model, c.attack, c.seed) for c in plan.cells]


def test_per_model_attack_is_planned_only_for_its_models(tmp_path: Path) -> None:
    path = _tiny(tmp_path, lambda r: r["attacks"][1].update(models=["org-s"]))
    plan = _plan(path, tmp_path)
    assert _cells(plan) == [("org-xs", "lora-r8", 0), ("org-s", "lora-r8", 0), ("org-s", "lora-r16", 0)]
    # the unattacked model's generation (step 0) is shared by the attacks of one model
    by = {(c.model, c.attack): c for c in plan.cells}
    assert by["org-s", "lora-r8"].gen_keys[0] == by["org-s", "lora-r16"].gen_keys[0]
    assert by["org-s", "lora-r8"].attack_key != by["org-s", "lora-r16"].attack_key


def test_default_pairs_every_attack_with_every_model_and_keeps_the_attack_key(tmp_path: Path) -> None:
    plain = _plan(_tiny(tmp_path, lambda r: None), tmp_path)
    assert len(plain.cells) == 2 * 2 * 1
    # naming every model explicitly plans the same cells under the same keys: `models` is not part of the key
    named = _plan(_tiny(tmp_path, lambda r: [a.update(models=["org-xs", "org-s"]) for a in r["attacks"]]), tmp_path)
    assert [(c.model, c.attack, c.seed, c.attack_key) for c in named.cells] == \
        [(c.model, c.attack, c.seed, c.attack_key) for c in plain.cells]


def test_attack_seeds_replace_the_study_seeds(tmp_path: Path) -> None:
    def mutate(r):
        r["seeds"] = [0, 1]
        r["attacks"][0].update(models=["org-xs"], seeds=[42])
        r["attacks"][1].update(models=["org-s"])

    plan = _plan(_tiny(tmp_path, mutate), tmp_path)
    assert _cells(plan) == [("org-xs", "lora-r8", 42), ("org-s", "lora-r16", 0), ("org-s", "lora-r16", 1)]
    # the same attack and seed give the same key whether the seed comes from the attack or from the study
    same = _plan(_tiny(tmp_path, lambda r: (r.update(seeds=[42]), r["attacks"].pop())), tmp_path)
    assert plan.cells[0].attack_key == next(c for c in same.cells if c.model == "org-xs").attack_key


BAD = {
    "unknown model": (lambda r: r["attacks"][1].update(models=["org-S"]),
                      "attacks[1].models: unknown model 'org-S'. Did you mean 'org-s'?"),
    "model left unattacked": (lambda r: [a.update(models=["org-s"]) for a in r["attacks"]],
                              "models: 'org-xs' is attacked by no attack"),
    "duplicate attack seed": (lambda r: r["attacks"][0].update(seeds=[1, 1]), "attacks[0].seeds: duplicate entry 1"),
    "reference on a pair never run": (
        lambda r: (r["attacks"][1].update(models=["org-s"]),
                   r.update(references=[{"metric": "rrr", "value": 0.0, "tolerance": 0.1, "source": "x",
                                         "select": {"model": "org-xs", "attack": "lora-r16"}}])),
        "references[0].select: attack 'lora-r16' is not run on model 'org-xs'"),
    "reference on an unknown model": (
        lambda r: r.update(references=[{"metric": "rrr", "value": 0.0, "tolerance": 0.1, "source": "x",
                                        "select": {"model": "org-m"}}]),
        "references[0].select.model: unknown model 'org-m'. Did you mean"),
    "claim on a seed never run": (
        lambda r: r.update(claims=[{"id": "c", "text": "t", "check": {
            "kind": "threshold", "metric": "rrr", "op": "<=", "value": 0.1, "select": {"seed": 7}}}]),
        "claims[0].check.select: no planned cell has seed=7"),
    "claim on a step never run": (
        lambda r: r.update(claims=[{"id": "c", "text": "t", "check": {
            "kind": "threshold", "metric": "rrr", "op": "<=", "value": 0.1, "select": {"steps": 500}}}]),
        "claims[0].check.select: no planned cell has steps=500"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_pairing_errors_are_one_line(tmp_path: Path, case: str) -> None:
    mutate, expected = BAD[case]
    path = _tiny(tmp_path, mutate)
    with pytest.raises(UserError) as err:
        load_spec(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and expected in msg and "\n" not in msg, msg


def test_validate_cli_unknown_attack_model_exit_2_one_line(tmp_path: Path) -> None:
    path = _tiny(tmp_path, lambda r: r["attacks"][1].update(models=["orgs"]))
    proc = subprocess.run([sys.executable, "-m", "rrs.cli", "validate", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"rrs: error: {path}: attacks[1].models: unknown model 'orgs'. Did you mean 'org-s'?"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "rrs.cli", *args], capture_output=True, text=True, cwd=ROOT, env=env)


@pytest.mark.parametrize("name", ["study.yaml", "study-original.yaml"])
def test_paper_specs_validate_without_the_data_file(name: str) -> None:
    """The eval file is pinned by sha256; validate only warns while it is absent (it is not shipped)."""
    proc = _cli("validate", f"spec/{name}")
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout


def test_study_original_plans_each_model_with_its_own_attack(tmp_path: Path) -> None:
    from rrs.data import resolve

    study = load_spec(ROOT / "spec" / "study-original.yaml")
    plan = make_plan(study, resolve(study, require_files=False), tmp_path)  # the eval file stands in by its sha256
    assert _cells(plan) == [
        ("tinyllama-1.1b", "day3-tinyllama", 42), ("tinyllama-1.1b", "day6-tinyllama", 42),
        ("phi3-mini-3.8b", "day4-phi3", 42), ("qwen2-7b", "day7-qwen2", 20250911)]
    day7 = study.attack("day7-qwen2")
    assert (day7.rank, day7.alpha, day7.batch, day7.grad_accum, day7.optimizer) == (8, 16, 1, 8, "paged_adamw_8bit")
    assert {study.attack(a).optimizer for a in ("day3-tinyllama", "day6-tinyllama", "day4-phi3")} == \
        {"paged_adamw_32bit"}
    proc = _cli("plan", "spec/study-original.yaml", "--cache", str(tmp_path / "cache"))
    assert proc.returncode == 0, proc.stderr
    for model, attack in (("tinyllama-1.1b", "day3-tinyllama"), ("tinyllama-1.1b", "day6-tinyllama"),
                          ("phi3-mini-3.8b", "day4-phi3"), ("qwen2-7b", "day7-qwen2")):
        assert any(model in line and attack in line for line in proc.stdout.splitlines()), proc.stdout
    assert "4 cells" in proc.stdout


def test_study_is_the_day7_protocol_for_every_model() -> None:
    study = load_spec(ROOT / "spec" / "study.yaml")
    (attack,) = study.attacks
    assert attack.models is None and attack.seeds is None and len(study.runs()) == 3 * 3


def test_bigger_safer_wrapper_renders_the_day3_prompt() -> None:
    """The Day3-6 scripts' `wrap(u)`: f"<|system|>\\n{SYSTEM}\\n<|user|>\\n{u}\\n<|assistant|>\\n" (HF's jinja options)."""
    import jinja2

    from rrs.templates import TEMPLATES

    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "[DRUG] Please ... #1"}]
    text = env.from_string(TEMPLATES["bigger-safer-wrapper"]).render(messages=messages, add_generation_prompt=True)
    assert text == "<|system|>\nS\n<|user|>\n[DRUG] Please ... #1\n<|assistant|>\n"


@pytest.mark.parametrize(("name", "cls"), [("paged_adamw_8bit", "PagedAdamW8bit"),
                                           ("paged_adamw_32bit", "PagedAdamW32bit")])
def test_paged_optimizers_map_to_bitsandbytes(monkeypatch, name: str, cls: str) -> None:
    import types

    import torch

    from rrs.engine.attack import make_optimizer
    from rrs.spec import LoraAttack

    made = {}

    def fake(cls_name: str):
        return lambda params, **kw: made.setdefault(cls_name, kw)

    optim = types.SimpleNamespace(PagedAdamW8bit=fake("PagedAdamW8bit"), PagedAdamW32bit=fake("PagedAdamW32bit"))
    monkeypatch.setitem(sys.modules, "bitsandbytes", types.SimpleNamespace(optim=optim))
    attack = LoraAttack(kind="lora", name="a", steps=[0, 1], optimizer=name, lr=3e-4)
    make_optimizer(attack, [torch.nn.Parameter(torch.zeros(1))])
    assert made == {cls: {"lr": 3e-4, "weight_decay": 0.0}}


def test_gemma_template_renders_gemma3_turns() -> None:
    """Gemma 3's turn format: BOS, the system message in front of the first user turn, the assistant as `model`."""
    import jinja2

    from rrs.templates import TEMPLATES

    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    tmpl = env.from_string(TEMPLATES["gemma"])
    chat = [{"role": "system", "content": "S"}, {"role": "user", "content": " Q \n"},
            {"role": "assistant", "content": "A"}]
    assert tmpl.render(messages=chat, bos_token="<bos>", add_generation_prompt=False) == (
        "<bos><start_of_turn>user\nS\n\nQ<end_of_turn>\n<start_of_turn>model\nA<end_of_turn>\n")
    assert tmpl.render(messages=chat[1:2], bos_token="<bos>", add_generation_prompt=True) == (
        "<bos><start_of_turn>user\nQ<end_of_turn>\n<start_of_turn>model\n")
