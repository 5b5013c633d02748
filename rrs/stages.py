"""Torch stages of the runner: model → baseline → attack → generation, each skipped when its output is cached.

Imported only when something is missing from the cache, so a fully cached run never loads torch.
"""

from __future__ import annotations

import time

import torch

from rrs import compute_log
from rrs.atomic import write_json
from rrs.attack import checkpoint_dir, resume_step, run_attack
from rrs.generate import generate
from rrs.models import Loaded, attack_for, device_of, load
from rrs.numerics import fingerprint
from rrs.plan import Cell, Plan
from rrs.spec import OrganismModel
from rrs.timer import Timer
from rrs.training import render_prompt


def setup_torch(plan: Plan) -> torch.device:
    torch.set_num_threads(plan.study.runtime.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return device_of(plan.device)


def _record(plan: Plan, stage: str, key: str, t0: float, add: bool = False) -> None:
    compute_log.record(plan.cache, stage, key, time.perf_counter() - t0, fingerprint(plan.device), add=add)


def _prompts(plan: Plan) -> list[str]:
    d = plan.data
    return d.harmful.prompts + (d.benign.prompts if d.benign else [])


def _save_generation(plan: Plan, key: str, prompts: list[str], responses: list[str], loaded: Loaded) -> None:
    """Responses with their prompts, and the exact text the model saw for the first one (chat template applied)."""
    rendered = render_prompt(loaded.tok, prompts[0], loaded.system_prompt)
    write_json(plan.gen_path(key), {"prompts": prompts, "responses": responses, "rendered_first_prompt": rendered})


def _load(plan: Plan, name: str, mkey: str, device) -> Loaded:
    return load(plan.study.model(name), plan.organism_dir(mkey), device, plan.model_info_path(mkey))


def run_model(plan: Plan, name: str, cells: list[Cell], timer: Timer) -> None:
    """Everything missing for one model: the organism/base, its baseline, then each attacked cell."""
    device = setup_torch(plan)
    first = next(c for c in plan.cells if c.model == name)
    builds = not (plan.organism_dir(first.model_key) / "model.safetensors").is_file()
    t0 = time.perf_counter()
    with timer("model"):
        loaded = _load(plan, name, first.model_key, device)
    spec = plan.study.model(name)
    if builds and (isinstance(spec, OrganismModel) or spec.safety_tune is not None):  # built here: its compute counts
        _record(plan, "model", first.model_key, t0)
    base_key = first.gen_keys[0]
    if not plan.gen_path(base_key).is_file():
        t0 = time.perf_counter()
        with timer("baseline"):
            out = generate(loaded.model, loaded.tok, _prompts(plan), plan.study.decoding,
                           system_prompt=loaded.system_prompt, desc=f"baseline {name}")
            _save_generation(plan, base_key, _prompts(plan), out, loaded)
        _record(plan, "baseline", base_key, t0)
    del loaded
    for cell in cells:
        steps = [s for s in plan.missing(cell) if s > 0]
        if steps:
            run_cell(plan, cell, steps, device, timer)


def run_cell(plan: Plan, cell: Cell, steps: list[int], device, timer: Timer) -> None:
    attack = plan.study.attack(cell.attack)
    root = plan.attack_dir(cell.attack_key)
    tag = f"{cell.model}/{cell.attack}/seed{cell.seed}"
    if resume_step(root, attack) < max(steps):
        t0 = time.perf_counter()
        with timer("attack"):
            loaded = _load(plan, cell.model, cell.model_key, device)
            applied = attack_for(plan.study.model(cell.model), attack, loaded.model)  # models[].lora_targets
            run_attack(loaded.model, loaded.tok, applied, cell.seed, plan.data.attack.examples, root,
                       system_prompt=loaded.system_prompt, desc=f"attack {tag}")
            del loaded
        _record(plan, "attack", cell.attack_key, t0, add=True)
    with timer("generate"):
        from peft import PeftModel

        loaded = _load(plan, cell.model, cell.model_key, device)
        model = None
        for s in steps:
            t0 = time.perf_counter()
            name = f"step{s}"
            if model is None:
                model = PeftModel.from_pretrained(loaded.model, checkpoint_dir(root, s), adapter_name=name)
            else:
                previous = model.active_adapter
                model.load_adapter(checkpoint_dir(root, s), adapter_name=name)
                model.set_adapter(name)
                model.delete_adapter(previous)
            out = generate(model, loaded.tok, _prompts(plan), plan.study.decoding,
                           system_prompt=loaded.system_prompt, desc=f"generate {tag} step {s}")
            _save_generation(plan, cell.gen_keys[s], _prompts(plan), out, loaded)
            _record(plan, "generate", cell.gen_keys[s], t0)
