"""The plan: every cell (model × attack × seed) of a study with the content keys of its stage outputs. An attack's
`models` and `seeds` narrow the product: each model is run with the attacks paired with it, at their seeds.

Torch-free, so `rrs plan` and a fully cached `rrs reproduce` never load a model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path

from rrs import corpus
from rrs.data import StudyData
from rrs.hashing import dir_digest, key_of, sha256_file, sha256_text
from rrs.numerics import platform_key
from rrs.spec import HFModel, OrganismModel, Study

KEY_PACKAGES = ("torch", "transformers", "peft", "tokenizers", "safetensors")
CACHE_VERSION = 1  # bump when a stage's output format or algorithm changes
# Attack fields that do not change what one run trains: which models and seeds it runs on (the model key and the
# seed are keyed on their own), its name, and the steps at which it is checkpointed.
NOT_IN_ATTACK_KEY = {"name", "steps", "models", "seeds"}


def cache_root(cli_value: str | Path | None = None) -> Path:
    return Path(cli_value or os.environ.get("RRS_CACHE") or ".cache/rrs")


def versions(names=KEY_PACKAGES) -> dict[str, str]:
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = "absent"
    return out


# The code that determines each stage's output is part of its key: editing it invalidates the cache.
STAGE_CODE = {
    "model": ("corpus.py", "organism.py", "safety.py", "training.py", "models.py", "gguf_source.py"),
    "attack": ("attack.py", "training.py"),
    "gen": ("generate.py", "training.py"),
}


@cache
def code_hash(stage: str) -> str:
    here = Path(__file__).parent
    return sha256_text("".join(sha256_file(here / name) for name in STAGE_CODE[stage]))


def model_key(study: Study, m: OrganismModel | HFModel, platform: dict) -> str:
    # the platform (resolved device, CPU vector path, numerics knobs) changes every stage's numbers: keying the
    # model by it makes every downstream key differ too, so a cache shared by two platforms never mixes them
    env = {"threads": study.runtime.threads, "platform": platform, "versions": versions(),
           "cache_version": CACHE_VERSION, "code": code_hash("model")}
    if isinstance(m, OrganismModel):
        corpus_hash = sha256_text("\n".join(corpus.tokenizer_corpus()))
        return key_of("organism", m.model_dump(exclude={"name"}), corpus_hash, env)
    # a local folder is keyed by its content, a hub repo by its pinned revision, a GGUF file by its sha256 (in the
    # spec) and the converter's version
    local = m.gguf is None and Path(m.repo).is_dir()
    if m.gguf is not None:
        env = env | {"gguf": versions(("gguf",))["gguf"]}
    if m.safety_tune is not None:
        env = env | {"corpus": sha256_text("\n".join(corpus.tokenizer_corpus()))}
    return key_of("hf", m.model_dump(exclude={"name", "params", "lora_targets"}), env,
                  dir_digest(m.repo) if local else None)


@dataclass(frozen=True)
class Cell:
    model: str
    attack: str
    seed: int
    model_key: str
    attack_key: str
    steps: tuple[int, ...]
    gen_keys: dict[int, str] = field(hash=False)  # step -> generation key (step 0: the base model's)


@dataclass(frozen=True)
class Plan:
    study: Study
    data: StudyData
    cache: Path
    cells: list[Cell]
    platform: dict  # numerics.platform_key of the resolved device: part of every key

    @property
    def device(self) -> str:
        return self.platform["device"]

    def organism_dir(self, mkey: str) -> Path:
        return self.cache / "organisms" / mkey

    def model_info_path(self, mkey: str) -> Path:
        return self.cache / "models" / f"{mkey}.json"

    def attack_dir(self, akey: str) -> Path:
        return self.cache / "attacks" / akey

    def gen_path(self, gkey: str) -> Path:
        return self.cache / "generations" / f"{gkey}.json"

    def missing(self, cell: Cell) -> list[int]:
        """Steps of the cell whose generations are not cached yet."""
        return [s for s, k in cell.gen_keys.items() if not self.gen_path(k).is_file()]


def make_plan(study: Study, data: StudyData, cache: Path) -> Plan:
    prompts = data.harmful.sha256 + (data.benign.sha256 if data.benign else "")
    platform = platform_key(study.runtime.device)
    cells = []
    for m in study.models:
        mkey = model_key(study, m, platform)
        base_gen = key_of("gen", mkey, None, 0, study.decoding, prompts, code_hash("gen"))
        for a in study.attacks_of(m.name):  # attacks[].models pairs an attack with its models (default: all)
            for seed in study.seeds_of(a):  # attacks[].seeds replaces the study's seeds
                targets = {"targets": m.lora_targets} if getattr(m, "lora_targets", None) else {}  # per-model override
                akey = key_of("attack", mkey, a.model_dump(exclude=NOT_IN_ATTACK_KEY) | targets, seed,
                              data.attack.sha256, code_hash("attack"))
                gens = {0: base_gen} | {
                    s: key_of("gen", mkey, akey, s, study.decoding, prompts, code_hash("gen")) for s in a.steps[1:]
                }
                cells.append(Cell(m.name, a.name, seed, mkey, akey, tuple(a.steps), gens))
    return Plan(study, data, cache, cells, platform)
