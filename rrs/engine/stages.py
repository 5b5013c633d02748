"""Torch stages of the runner: model → baseline → attack → generation, each skipped when its output is cached.

Each output is computed under its lock in the store (rrs/store.py): a second process that needs the same output
waits, then finds it cached. Imported only when something is missing from the cache, so a fully cached run never
loads torch.
"""

from __future__ import annotations

import os
import time

import torch

from rrs.atomic import write_json
from rrs.engine.attack import run_attack
from rrs.engine.generate import generate
from rrs.engine.models import Loaded, attack_for, device_of, load
from rrs.engine.plan import Cell, Plan
from rrs.engine.training import render_prompt
from rrs.numerics import fingerprint
from rrs.store import built_here, checkpoint_dir, resume_step
from rrs.timer import Timer


def setup_torch(plan: Plan) -> torch.device:
    """Threads and determinism. On CUDA determinism is strict: cuBLAS needs a fixed workspace (set before its first
    call; recorded among the fingerprint's knobs) and the memory-efficient attention backward switches to its
    deterministic kernel only when non-deterministic ops raise instead of warning."""
    torch.set_num_threads(plan.study.runtime.threads)
    device = device_of(plan.device)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True)
    else:
        torch.use_deterministic_algorithms(True, warn_only=True)
    return device


def _record(plan: Plan, stage: str, key: str, t0: float, add: bool = False) -> None:
    plan.store.record(stage, key, time.perf_counter() - t0, fingerprint(plan.device, plan.study.runtime.threads),
                      add=add)


def _prompts(plan: Plan) -> list[str]:
    d = plan.data
    return d.harmful.prompts + (d.benign.prompts if d.benign else [])


def _save_generation(plan: Plan, key: str, prompts: list[str], responses: list[str], loaded: Loaded) -> None:
    """Responses with their prompts, and the exact text the model saw for the first one (chat template applied)."""
    rendered = render_prompt(loaded.tok, prompts[0], loaded.system_prompt)
    write_json(plan.store.gen_path(key), {"prompts": prompts, "responses": responses, "rendered_first_prompt": rendered})


def _load(plan: Plan, name: str, mkey: str, device) -> Loaded:
    return load(plan.study.model(name), plan.store.organism_dir(mkey), device, plan.store.model_info_path(mkey),
                plan.study.data.corpus)


def run_model(plan: Plan, name: str, cells: list[Cell], timer: Timer) -> None:
    """Everything missing for one model: the organism/base, its baseline, then each attacked cell."""
    device = setup_torch(plan)
    first = next(c for c in plan.cells if c.model == name)
    with plan.store.lock(f"model-{first.model_key}"):
        if plan.store.model_missing(plan.study.model(name), first):
            _model_and_baseline(plan, name, first, device, timer)
    for cell in cells:
        attack_cell(plan, cell, device, timer)


def attack_cell(plan: Plan, cell: Cell, device, timer: Timer) -> None:
    """Whatever of the cell's attacked generations is missing, under the cell's attack lock."""
    if not [s for s in plan.store.missing(cell) if s > 0]:
        return
    with plan.store.lock(f"attack-{cell.attack_key}"):
        steps = [s for s in plan.store.missing(cell) if s > 0]  # another process may have done them meanwhile
        if steps:
            run_cell(plan, cell, steps, device, timer)


def _model_and_baseline(plan: Plan, name: str, first: Cell, device, timer: Timer) -> None:
    builds = not (plan.store.organism_dir(first.model_key) / "model.safetensors").is_file()
    t0 = time.perf_counter()
    with timer("model"):
        loaded = _load(plan, name, first.model_key, device)
    if builds and built_here(plan.study.model(name)):  # weights built in this cache: their compute counts
        _record(plan, "model", first.model_key, t0)
    base_key = first.gen_keys[0]
    if not plan.store.gen_path(base_key).is_file():
        t0 = time.perf_counter()
        with timer("baseline"):
            out = generate(loaded.model, loaded.tok, _prompts(plan), plan.study.decoding,
                           system_prompt=loaded.system_prompt, desc=f"baseline {name}")
            _save_generation(plan, base_key, _prompts(plan), out, loaded)
        _record(plan, "baseline", base_key, t0)


def run_cell(plan: Plan, cell: Cell, steps: list[int], device, timer: Timer) -> None:
    """The attack (resumed from its last checkpoint) and the generations at `steps`; the caller holds the cell's
    attack lock."""
    attack = plan.study.attack(cell.attack)
    root = plan.store.attack_dir(cell.attack_key)
    tag = f"{cell.model}/{cell.attack}/seed{cell.seed}"
    if resume_step(root, attack) < max(steps):
        t0 = time.perf_counter()
        with timer("attack"):
            loaded = _load(plan, cell.model, cell.model_key, device)
            applied = attack_for(plan.study.model(cell.model), attack, loaded.model)  # models[].lora_targets
            run_attack(loaded.model, loaded.tok, applied, cell.seed, plan.data.attack.examples_for(attack.train_size), root,
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
