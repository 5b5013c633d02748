"""Model loading for every kind: toy organisms (built and cached on first use) and Hugging Face models at a
pinned revision. From here on the runner treats both the same.

A Hugging Face model loads from safetensors only, at spec.revision, in spec.dtype (4-bit NF4 only on CUDA, never a
silent fallback to full precision), with the tokenizer's chat template or a named override. Its info (written once
into the manifest) records what was actually loaded: resolved revision, dtype, chat-template hash, the decoding
defaults the model's generation_config brings, and the tokens that end a turn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from rrs.atomic import staged_dir, write_json
from rrs.errors import UserError
from rrs.fetch import offline as hub_offline
from rrs.hashing import dir_digest, sha256_text
from rrs.spec import HFModel, LoraAttack, OrganismModel

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")


@dataclass
class Loaded:
    model: torch.nn.Module
    tok: object
    system_prompt: str | None
    info: dict  # params, chat_template_sha256, resolved revision, dtype, ...


def device_of(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("runtime.device is 'cuda' but no CUDA device is available")
    return torch.device(name)


def ensure_organism(spec: OrganismModel, out: Path, design: str = "frames-v1") -> Path:
    """Build and safety-tune the organism into `out` unless it is already there (atomic: all or nothing)."""
    if (out / "model.safetensors").is_file():
        return out
    from rrs.engine.organism import safety_tune

    with staged_dir(out) as tmp:
        safety_tune(spec, tmp, design)
    return out


# ---------------------------------------------------------------- what was loaded


def count_params(model: torch.nn.Module) -> int:
    """Parameters of the unquantized model: a 4-bit tensor counts its original shape, not its packed bytes."""
    total = 0
    for p in model.parameters():
        shape = getattr(getattr(p, "quant_state", None), "shape", None)
        total += int(torch.Size(shape).numel()) if shape is not None else p.numel()
    return total


def template_text(tok) -> str:
    template = getattr(tok, "chat_template", None) or ""
    return template if isinstance(template, str) else json.dumps(template, sort_keys=True)


def stop_token_ids(model, tok) -> list[int]:
    """Every token that ends a turn: the tokenizer's eos and the model's generation_config eos list (Phi-3 ends a
    turn with <|end|> while its tokenizer's eos is <|endoftext|>)."""
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    return sorted({int(i) for i in ids} | ({int(tok.eos_token_id)} if tok.eos_token_id is not None else set()))


def generation_defaults(model) -> dict:
    """The model's own generation_config, beyond transformers' defaults: generate() applies every field the spec's
    decoding does not set (e.g. a repetition_penalty), so the manifest shows them."""
    cfg = getattr(model, "generation_config", None)
    if cfg is None:
        return {}
    skip = ("transformers_version", "use_cache", "return_dict_in_generate")
    return {k: v for k, v in sorted(cfg.to_diff_dict().items())
            if k not in skip and not k.startswith(("_", "output_"))}


def _info(model, tok, **extra) -> dict:
    arch = (getattr(model.config, "architectures", None) or [type(model).__name__])[0]
    return {"params": count_params(model), "chat_template_sha256": sha256_text(template_text(tok)),
            "architecture": arch, "stop_token_ids": stop_token_ids(model, tok),
            "generation_config": generation_defaults(model), **extra}


# ---------------------------------------------------------------- loaders


def load_organism(spec: OrganismModel, path: Path, device: torch.device) -> Loaded:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(path, use_safetensors=True, dtype=torch.float32).to(device)
    tok = AutoTokenizer.from_pretrained(path)
    return Loaded(model.eval(), tok, None, _info(model, tok, kind="organism", dtype="float32"))


def _check_local(spec: HFModel) -> None:
    folder = Path(spec.repo)
    if any(folder.glob("*.safetensors")):
        return
    pickles = sorted(p.name for pattern in PICKLE_WEIGHTS for p in folder.glob(pattern))
    found = ", ".join(pickles) if pickles else "no weights at all"
    raise UserError(f"{spec.repo}: models[{spec.name}]: no *.safetensors weights (found {found}); rrs loads "
                    "safetensors only, never pickle checkpoints (convert them, e.g. save_pretrained with safetensors)")


def load_hf(spec: HFModel, device: torch.device) -> Loaded:
    """A causal LM at spec.revision, safetensors only, never silently in another precision."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rrs.templates import chat_template

    local = Path(spec.repo).is_dir()
    if local:
        _check_local(spec)
    revision, commit = (None, "local") if local else _resolve(spec)
    kwargs: dict = {"revision": revision, "trust_remote_code": spec.trust_remote_code}
    qcfg = _quantization(spec, device)
    try:
        tok = AutoTokenizer.from_pretrained(spec.repo, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            spec.repo, dtype=DTYPES[spec.dtype], use_safetensors=True, quantization_config=qcfg,
            device_map={"": device} if qcfg is not None else None, **kwargs)
    except (OSError, ValueError) as exc:
        offline = " (HF_HUB_OFFLINE=1: run `rrs fetch SPEC` first, with network)" if hub_offline() else ""
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"models[{spec.name}]: cannot load {spec.repo}@{spec.revision}{offline}: {first}") from None
    if qcfg is None:
        model = model.to(device)
    if spec.chat_template is not None:
        tok.chat_template = chat_template(spec.chat_template)
    if not getattr(tok, "chat_template", None):
        raise UserError(f"models[{spec.name}]: {spec.repo} has no chat template; name one in `chat_template`")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    info = _info(model, tok, kind="hf", repo=spec.repo, revision=commit,
                 revision_requested=None if local else spec.revision, dtype=spec.dtype,
                 quantization=spec.quantization, lora_targets=spec.lora_targets)
    return Loaded(model.eval(), tok, spec.system_prompt, info)


def _resolve(spec: HFModel) -> tuple[str, str]:
    """(the revision to load, so tokenizer and weights come from one commit; that commit, as the manifest records it).
    Offline (HF_HUB_OFFLINE=1) a branch name resolves through the local cache's refs/."""
    from transformers.utils.hub import resolve_revision

    rev = resolve_revision(spec.repo, spec.revision)  # best effort: unchanged when it cannot be resolved
    return rev, getattr(rev, "resolved", None) or spec.revision


def _quantization(spec: HFModel, device: torch.device):
    if spec.quantization is None:
        return None
    if device.type != "cuda":
        raise UserError(f"models[{spec.name}]: quantization nf4 needs a CUDA device (bitsandbytes); this run has "
                        f"none (runtime.device {device.type}). Set quantization: null to run in full precision "
                        "on purpose.")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise UserError(f"models[{spec.name}]: quantization nf4 needs bitsandbytes, which is not installed "
                        "(pip install '.[gpu]', or use the CUDA container)") from None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=DTYPES[spec.dtype])


def ensure_tuned(spec: HFModel, out: Path, device: torch.device, design: str = "frames-v1") -> Path:
    """The model with its `safety_tune` merged in, as a safetensors folder in `out` (built once, atomically)."""
    if (out / "model.safetensors").is_file():
        return out
    from rrs.engine.gguf_source import save_model
    from rrs.engine.safety import tune_lora

    base = load_hf(_source(spec, out), device)
    merged = tune_lora(base.model, base.tok, spec.safety_tune, desc=f"safety-tune {spec.name}",
                       system_prompt=base.system_prompt, design=design)
    with staged_dir(out) as tmp:
        save_model(merged, base.tok, tmp)
    return out


def _source(spec: HFModel, model_dir: Path) -> HFModel:
    """The spec as loaded before any safety tuning: a GGUF file becomes its converted local folder."""
    if spec.gguf is None:
        return spec.model_copy(update={"safety_tune": None})
    from rrs.engine.gguf_source import ensure_converted

    folder = ensure_converted(spec, model_dir.parents[1])  # model_dir is <cache>/organisms/<key>
    return spec.model_copy(update={"repo": str(folder), "gguf": None, "safety_tune": None})


def _hf_info(spec: HFModel, model_dir: Path, loaded: Loaded) -> dict:
    """What was loaded, named by its origin: a GGUF model's revision is the file's sha256, and the conversion record
    says which quantization was dequantized to which dtype; a safety-tuned model says how it was tuned."""
    info = dict(loaded.info)
    if spec.gguf is not None:
        conversion = json.loads((model_dir.parents[1] / "gguf" / spec.gguf.sha256 / "conversion.json").read_text())
        info.update(repo=spec.repo, revision=spec.gguf.sha256, revision_requested=None, gguf=conversion)
    elif Path(spec.repo).is_dir():
        info["weights_sha256"] = dir_digest(spec.repo)  # a local folder has no commit: hash it
    elif spec.safety_tune is not None:  # tuned from a hub model: loaded from the tuned folder, named by its origin
        info.update(repo=spec.repo, revision=spec.revision, revision_requested=spec.revision)
    if spec.safety_tune is not None:
        info["safety_tune"] = spec.safety_tune.model_dump() | {"weights_sha256": dir_digest(model_dir)}
    return info


def load(spec: OrganismModel | HFModel, organism_dir: Path, device: torch.device, info_path: Path,
         design: str = "frames-v1") -> Loaded:
    """Load a model of any kind; record its info (params, dtype, chat-template hash, revision) once.
    `organism_dir` (<cache>/organisms/<model key>) holds what is built for the model: an organism, or a
    safety-tuned model."""
    if isinstance(spec, OrganismModel):
        loaded = load_organism(spec, ensure_organism(spec, organism_dir, design), device)
    elif spec.safety_tune is not None:
        folder = ensure_tuned(spec, organism_dir, device, design)
        loaded = load_hf(spec.model_copy(update={"repo": str(folder), "gguf": None, "safety_tune": None}), device)
    else:
        loaded = load_hf(_source(spec, organism_dir), device)
    if not info_path.is_file():
        write_json(info_path, loaded.info if isinstance(spec, OrganismModel) else _hf_info(spec, organism_dir, loaded))
    return loaded


# ---------------------------------------------------------------- the attack, per model


def attack_for(spec: OrganismModel | HFModel, attack: LoraAttack, model: torch.nn.Module) -> LoraAttack:
    """The attack as applied to this model: its `lora_targets` (if any) replace the attack's targets, and every
    target must name a module of the model (peft would silently adapt only the names that match)."""
    targets = list(getattr(spec, "lora_targets", None) or attack.targets)
    names = [n for n, _ in model.named_modules()]
    missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
    if missing:
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)})
        field = f"models[{spec.name}].lora_targets" if getattr(spec, "lora_targets", None) else (
            f"attacks[{attack.name}].targets")
        raise UserError(f"{field}: {', '.join(missing)} match no module of {type(model).__name__} (its linear layers: "
                        f"{', '.join(linear)}); set models[{spec.name}].lora_targets to the names this model uses")
    return attack if targets == list(attack.targets) else attack.model_copy(update={"targets": targets})
