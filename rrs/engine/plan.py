"""The plan: every cell (model × attack × seed) of a study with the content keys of its stage outputs. An attack's
`models` and `seeds` narrow the product: each model is run with the attacks paired with it, at their seeds. Keys,
paths and "what is missing" are the store's (rrs/store.py).

Torch-free, so `rrs plan` and a fully cached `rrs reproduce` never load a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rrs import corpus
from rrs.data import StudyData
from rrs.hashing import dir_digest, sha256_text
from rrs.numerics import platform_key
from rrs.spec import Study
from rrs.store import Store


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
    store: Store
    cells: list[Cell]
    platform: dict  # numerics.platform_key of the resolved device and thread count: part of every key
    runtime_set: tuple[str, ...] = ()  # runtime fields given on the command line (rrs run --device/--threads)

    @property
    def device(self) -> str:
        return self.platform["device"]


def model_key(store: Store, study: Study, m, platform: dict) -> str:
    # the platform (resolved device, CPU vector path, numerics knobs) changes every stage's numbers: keying the
    # model by it makes every downstream key differ too, so a cache shared by two platforms never mixes them
    if m.kind == "organism":
        return store.model_key(m, study.runtime.threads, platform, sha256_text("\n".join(corpus.tokenizer_corpus(study.data.corpus))),
                               None)
    # a local folder is keyed by its content, a hub repo by its pinned revision, a GGUF file by its sha256 (in the
    # spec; the converter's version is among the stage's packages); safety tuning trains on the project's corpus
    local = m.gguf is None and Path(m.repo).is_dir()
    corpus_digest = sha256_text("\n".join(corpus.tokenizer_corpus(study.data.corpus))) if m.safety_tune is not None else None
    return store.model_key(m, study.runtime.threads, platform, corpus_digest, dir_digest(m.repo) if local else None)


def make_plan(study: Study, data: StudyData, cache: Path, runtime_set: tuple[str, ...] = ()) -> Plan:
    store = Store(cache)
    prompts = data.prompts_digest()
    platform = platform_key(study.runtime.device, study.runtime.threads)
    cells = []
    for m in study.models:
        mkey = model_key(store, study, m, platform)
        base_gen = store.gen_key(mkey, None, 0, study.decoding, prompts)
        for a in study.attacks_of(m.name):  # attacks[].models pairs an attack with its models (default: all)
            for seed in study.seeds_of(a):  # attacks[].seeds replaces the study's seeds
                targets = getattr(m, "lora_targets", None)  # per-model override
                akey = store.attack_key(mkey, a, targets, seed, data.attack.digest(a.train_size))
                gens = {0: base_gen} | {s: store.gen_key(mkey, akey, s, study.decoding, prompts) for s in a.steps[1:]}
                cells.append(Cell(m.name, a.name, seed, mkey, akey, tuple(a.steps), gens))
    return Plan(study, data, store, cells, platform, runtime_set)
