"""The Hugging Face path, proven on CPU with tiny random-init Llama, Qwen2 and Phi-3 models saved as
safetensors: baseline → LoRA attack → generation → judges → metrics through `kind: hf`, the manifest's provenance,
loading from an offline HF cache, the refusals (pickle weights, NF4 without CUDA, no chat template, LoRA targets a
model lacks), the study specs, and `rrs fetch` (network mocked)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from hf_fixtures import FAMILIES, TARGET, original_eval_text, save_family, write_eval

import rrs.fetch
from rrs.artifact.schemas import read_grid, validate_grid
from rrs.cli import main as cli
from rrs.commands.fetch import fetch as fetch_cmd
from rrs.engine.models import attack_for, count_params, load_hf, stop_token_ids
from rrs.errors import UserError
from rrs.hashing import dir_digest, sha256_file, sha256_text
from rrs.spec import HFModel, LoraAttack, load_spec, spec_warnings
from rrs.templates import TEMPLATES

ROOT = Path(__file__).resolve().parents[1]
STUDY, DISJOINT = ROOT / "spec" / "study.yaml", ROOT / "spec" / "study-disjoint.yaml"
ATTACK_FILE = ROOT / "data" / "attack" / "redteam_attack_disjoint.csv"
CPU = torch.device("cpu")
N_EVAL = 6
FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def _offline(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("hf-models")
    return {name: save_family(name, base / name) for name in FAMILIES}


def _hf(name: str, folder: Path, **kw) -> HFModel:
    return HFModel(kind="hf", name=name, repo=str(folder), dtype="float32", **kw)


def _spec(tmp: Path, dirs: dict[str, Path]) -> Path:
    models = [
        {"kind": "hf", "name": "llama", "repo": str(dirs["llama"]), "dtype": "float32", "chat_template": "zephyr"},
        {"kind": "hf", "name": "qwen2", "repo": str(dirs["qwen2"]), "dtype": "float32"},
        {"kind": "hf", "name": "phi3", "repo": str(dirs["phi3"]), "dtype": "float32",
         "lora_targets": ["qkv_proj", "o_proj"]},
    ]
    spec = {
        "study": "hf-tiny", "runtime": {"threads": 2, "device": "cpu"}, "models": models,
        "attacks": [{"kind": "lora", "name": "lora-r8", "rank": 8, "alpha": 16, "dropout": 0.05,
                     "targets": ["q_proj", "k_proj", "v_proj", "o_proj"], "lr": 1e-2, "batch": 1, "grad_accum": 2,
                     "seq_len": 64, "train_size": 500, "steps": [0, 2]}],
        "data": {"eval": {"source": "file", "path": str(write_eval(tmp / "eval.csv", N_EVAL))},
                 "attack": {"source": "same_as_eval", "target": TARGET}},
        "decoding": {"max_new_tokens": 8, "batch_size": 8},
        "judges": ["keyword:bigger-safer", "keyword:gcg-29"],
        "metrics": ["rrr", "ce", "rd", "refusal_delay"],
        "seeds": [0],
    }
    path = tmp / "hf-tiny.yaml"
    path.write_text("# Run: rrs reproduce hf-tiny.yaml\n" + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory, model_dirs) -> SimpleNamespace:
    """One `rrs reproduce` of the reduced three-architecture spec, in a subprocess as a user runs it."""
    base = tmp_path_factory.mktemp("hf-run")
    spec = _spec(base, model_dirs)
    env = os.environ | {"RRS_CACHE": str(base / "cache"), "RRS_QUIET": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "rrs.cli", "reproduce", str(spec), "--out", str(base / "out")],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    man = json.loads((base / "out" / "manifest.json").read_text())
    return SimpleNamespace(out=base / "out", cache=base / "cache", man=man, dirs=model_dirs)


def _adapter(run: SimpleNamespace, model: str) -> Path:
    cell = next(c for c in run.man["cells"] if c["model"] == model)
    return run.cache / "attacks" / cell["attack_key"] / "step-2"


# ---------------------------------------------------------------- end to end, three architectures


def test_three_architectures_run_end_to_end(run) -> None:
    grid = read_grid(run.out / "results_grid.csv")
    assert validate_grid(grid) == []
    assert len(grid) == 3 * 2 * 1 * 2  # models × steps × seeds × judges
    assert set(grid["model_kind"]) == {"hf"} and list(dict.fromkeys(grid["model"])) == ["llama", "qwen2", "phi3"]
    assert (grid["n"] == N_EVAL).all()
    for model in ("llama", "qwen2", "phi3"):
        for step in (0, 2):
            rows = (run.out / f"samples/{model}/lora-r8/seed0/steps{step}.jsonl").read_text().splitlines()
            assert len(rows) == N_EVAL and all(json.loads(r)["response"] for r in rows)


def test_same_as_eval_overlap_is_in_manifest_and_every_row(run) -> None:
    grid = read_grid(run.out / "results_grid.csv")
    assert (grid["attack_eval_overlap"] == 1.0).all()
    assert run.man["data"]["attack_eval_overlap"] == 1.0
    assert run.man["data"]["attack"]["source"] == "same_as_eval" and run.man["data"]["attack"]["n"] == N_EVAL


@pytest.mark.parametrize("model,template", [("llama", "zephyr"), ("qwen2", "qwen2"), ("phi3", "phi3")])
def test_manifest_records_rendered_prompt_template_hash_and_provenance(run, model: str, template: str) -> None:
    info = run.man["models"][model]
    fam = FAMILIES[model]
    first = original_eval_text().splitlines()[1]
    rendered = info["rendered_first_prompt"]
    assert first in rendered and all(m in rendered for m in fam.markers), rendered
    assert info["chat_template_sha256"] == sha256_text(TEMPLATES[template])
    assert info["kind"] == "hf" and info["dtype"] == "float32" and info["quantization"] is None
    assert info["revision"] == "local" and info["revision_requested"] is None  # a folder: its content hash instead
    assert info["weights_sha256"] == dir_digest(run.dirs[model])
    assert info["architecture"] == {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM",
                                    "phi3": "Phi3ForCausalLM"}[model]
    assert info["params"] > 10_000


def test_attack_trained_every_adapter(run) -> None:
    from safetensors.torch import load_file

    for model in ("llama", "qwen2", "phi3"):
        weights = load_file(_adapter(run, model) / "adapter_model.safetensors")
        lora_b = [t for k, t in weights.items() if "lora_B" in k]
        assert lora_b and all(t.abs().sum() > 0 for t in lora_b), model  # peft starts every lora_B at zero


def test_phi3_attack_uses_the_models_lora_targets(run) -> None:
    cfg = json.loads((_adapter(run, "phi3") / "adapter_config.json").read_text())
    assert sorted(cfg["target_modules"]) == ["o_proj", "qkv_proj"]
    llama = json.loads((_adapter(run, "llama") / "adapter_config.json").read_text())
    assert sorted(llama["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]


# ---------------------------------------------------------------- a hub repo, offline, from the HF cache


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> str:
    """A Hugging Face cache holding one snapshot of "tiny-org/tiny-qwen2", with refs/main pointing at it (what
    `rrs fetch` leaves behind); the hub is offline."""
    import huggingface_hub.constants

    repo = tmp_path / "models--tiny-org--tiny-qwen2"
    save_family("qwen2", repo / "snapshots" / FAKE_COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(FAKE_COMMIT)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return "tiny-org/tiny-qwen2"


@pytest.mark.parametrize("revision", ["main", FAKE_COMMIT])
def test_hub_model_loads_offline_and_records_the_commit(hub_cache, revision: str) -> None:
    loaded = load_hf(HFModel(kind="hf", name="q", repo=hub_cache, revision=revision, dtype="float32"), CPU)
    assert type(loaded.model).__name__ == "Qwen2ForCausalLM" and loaded.tok.chat_template == TEMPLATES["qwen2"]
    assert loaded.info["revision"] == FAKE_COMMIT and loaded.info["revision_requested"] == revision
    assert loaded.info["repo"] == hub_cache and loaded.info["dtype"] == "float32"


def test_hub_revision_not_in_the_cache_fails_offline_in_one_line(hub_cache) -> None:
    with pytest.raises(UserError) as err:
        load_hf(HFModel(kind="hf", name="q", repo=hub_cache, revision="v2", dtype="float32"), CPU)
    msg = _one_line(err)
    assert msg.startswith("models[q]: cannot load tiny-org/tiny-qwen2@v2 (HF_HUB_OFFLINE=1: run `rrs fetch SPEC`")


# ---------------------------------------------------------------- refusals, one line each


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_pickle_only_directory_is_refused(tmp_path, model_dirs) -> None:
    folder = tmp_path / "pickle-only"
    folder.mkdir()
    shutil.copy(model_dirs["llama"] / "config.json", folder)
    torch.save({"w": torch.zeros(2)}, folder / "pytorch_model.bin")
    with pytest.raises(UserError) as err:
        load_hf(_hf("pickled", folder), CPU)
    msg = _one_line(err)
    assert "pytorch_model.bin" in msg and "safetensors only" in msg and "models[pickled]" in msg


def test_pickle_only_directory_refused_by_the_cli(tmp_path, model_dirs, capsys) -> None:
    folder = tmp_path / "pickle-only"
    folder.mkdir()
    torch.save({"w": torch.zeros(2)}, folder / "pytorch_model.bin")
    raw = yaml.safe_load(_spec(tmp_path, model_dirs).read_text())
    raw["models"] = [{"kind": "hf", "name": "pickled", "repo": str(folder), "dtype": "float32"}]
    spec = tmp_path / "pickled.yaml"
    spec.write_text(yaml.safe_dump(raw))
    rc = cli(["reproduce", str(spec), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "pytorch_model.bin" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "out").exists()


def test_nf4_without_cuda_fails_instead_of_loading_full_precision(model_dirs) -> None:
    with pytest.raises(UserError) as err:
        load_hf(_hf("q", model_dirs["qwen2"], quantization="nf4"), CPU)
    msg = _one_line(err)
    assert "nf4" in msg and "CUDA" in msg and "quantization: null" in msg


def test_model_without_chat_template_needs_an_override(model_dirs) -> None:
    with pytest.raises(UserError) as err:
        load_hf(_hf("bare", model_dirs["llama"]), CPU)
    assert "no chat template" in _one_line(err)
    loaded = load_hf(_hf("bare", model_dirs["llama"], chat_template="zephyr"), CPU)
    assert loaded.tok.chat_template == TEMPLATES["zephyr"] and loaded.tok.pad_token == "</s>"


def test_unknown_template_name_fails_validate_with_did_you_mean(tmp_path, model_dirs, capsys) -> None:
    raw = yaml.safe_load(_spec(tmp_path, model_dirs).read_text())
    raw["models"][0]["chat_template"] = "zephir"
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump(raw))
    assert cli(["validate", str(spec)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "models[0].chat_template" in err[0] and "Did you mean 'zephyr'?" in err[0]


def test_lora_targets_must_exist_in_the_model(model_dirs) -> None:
    from transformers import AutoModelForCausalLM

    attack = LoraAttack(kind="lora", name="a", steps=[0, 1])  # the original's q/k/v/o_proj
    phi3 = AutoModelForCausalLM.from_pretrained(model_dirs["phi3"], use_safetensors=True)
    with pytest.raises(UserError) as err:
        attack_for(_hf("phi", model_dirs["phi3"]), attack, phi3)
    msg = _one_line(err)
    assert "attacks[a].targets: q_proj, k_proj, v_proj match no module of Phi3ForCausalLM" in msg
    assert "qkv_proj" in msg and "models[phi].lora_targets" in msg
    applied = attack_for(_hf("phi", model_dirs["phi3"], lora_targets=["qkv_proj", "o_proj"]), attack, phi3)
    assert applied.targets == ["qkv_proj", "o_proj"] and applied.rank == attack.rank and attack.targets[0] == "q_proj"
    with pytest.raises(UserError, match=r"models\[phi\]\.lora_targets: gate_proj match no module"):
        attack_for(_hf("phi", model_dirs["phi3"], lora_targets=["gate_proj"]), attack, phi3)
    llama = AutoModelForCausalLM.from_pretrained(model_dirs["llama"], use_safetensors=True)
    assert attack_for(_hf("llama", model_dirs["llama"]), attack, llama) is attack


def test_stop_tokens_include_the_models_end_of_turn(model_dirs) -> None:
    loaded = load_hf(_hf("phi", model_dirs["phi3"]), CPU)
    tok = loaded.tok
    ends = sorted(tok.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|assistant|>", "<|end|>"))
    assert stop_token_ids(loaded.model, tok) == ends and tok.eos_token == "<|endoftext|>"
    assert loaded.info["stop_token_ids"] == ends and loaded.info["generation_config"]["eos_token_id"] == ends


def test_param_count_of_a_4bit_tensor_is_its_original_shape() -> None:
    model = torch.nn.Linear(8, 4, bias=False)
    packed = torch.nn.Parameter(torch.zeros(16, 1, dtype=torch.uint8), requires_grad=False)
    packed.quant_state = SimpleNamespace(shape=torch.Size([4, 8]))  # as bitsandbytes' Params4bit carries it
    model.weight = packed
    assert count_params(model) == 32


# ---------------------------------------------------------------- the study specs


def _workdir(tmp_path: Path, monkeypatch, eval_text: str | None) -> None:
    """A copy of the repo's spec/ and data/attack/ with data/raw/redteam_eval.csv absent or holding eval_text."""
    shutil.copytree(ROOT / "spec", tmp_path / "spec")
    shutil.copytree(ROOT / "data" / "attack", tmp_path / "data" / "attack")
    if eval_text is not None:
        (tmp_path / "data" / "raw").mkdir(parents=True)
        (tmp_path / "data" / "raw" / "redteam_eval.csv").write_bytes(eval_text.encode("utf-8"))
    monkeypatch.chdir(tmp_path)


def test_study_spec_is_the_original_setup() -> None:
    study = load_spec(STUDY)
    assert [m.repo for m in study.models] == ["TinyLlama/TinyLlama-1.1B-Chat-v1.0", "microsoft/Phi-3-mini-4k-instruct",
                                              "Qwen/Qwen2-7B-Instruct"]
    assert spec_warnings(study) == [] and all(m.pinned and m.quantization == "nf4" for m in study.models)
    assert not any(m.trust_remote_code for m in study.models)
    assert [m.lora_targets for m in study.models] == [None, ["qkv_proj", "o_proj"], None]
    (a,) = study.attacks
    assert (a.rank, a.alpha, a.dropout, a.lr, a.batch, a.grad_accum, a.seq_len, a.optimizer) == (
        8, 16, 0.05, 2e-4, 1, 8, 256, "paged_adamw_8bit")
    assert a.targets == ["q_proj", "k_proj", "v_proj", "o_proj"] and a.steps == [0, 500, 1000, 2000]
    assert study.seeds[0] == 20250911 and len(study.seeds) == 3
    assert study.decoding.max_new_tokens == 512 and not study.decoding.do_sample
    assert study.judges == ["keyword:bigger-safer", "keyword:gcg-29"]
    assert study.data.attack.source == "same_as_eval" and study.data.eval.sha256.startswith("4430d8f9")
    names = {m.name for m in study.models}
    for ref in study.references:
        assert ref.select.model in names and ref.select.judge in study.judges
        if ref.comparable:
            assert "Same judge, decoding and attack data" in ref.source
        else:
            assert "not comparable" in ref.source.lower()


def test_variant_differs_only_in_its_attack_data() -> None:
    base, var = load_spec(STUDY), load_spec(DISJOINT)
    assert var.models == base.models and var.seeds == base.seeds and var.decoding == base.decoding
    assert [a.model_copy(update={"train_size": 0}) for a in var.attacks] == [
        a.model_copy(update={"train_size": 0}) for a in base.attacks]
    assert var.data.eval == base.data.eval and var.data.attack.source == "file"
    assert var.data.attack.sha256 == sha256_file(ATTACK_FILE) and var.data.attack.target == TARGET


def test_disjoint_attack_file_is_placeholders_disjoint_from_the_eval_set() -> None:
    with ATTACK_FILE.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    eval_prompts = set(original_eval_text().splitlines()[1:])
    eval_cats = {re.match(r"\[([A-Z_]+)\]", p).group(1) for p in eval_prompts}
    assert len(rows) == 500 and len({r["prompt"] for r in rows}) == 500
    shape = re.compile(r"\[([A-Z_]+)\] [A-Z][a-z -]+ \(details intentionally omitted\) #(\d+)")
    for r in rows:
        m = shape.fullmatch(r["prompt"])
        assert m and m.group(1) in eval_cats and r["category"] == m.group(1).lower(), r
    assert not eval_prompts & {r["prompt"] for r in rows}
    assert {r["category"] for r in rows[:100]} == {c.lower() for c in eval_cats}


def test_validate_study_without_the_eval_file_warns_where_to_get_it(tmp_path, monkeypatch, capsys) -> None:
    _workdir(tmp_path, monkeypatch, None)
    assert cli(["validate", "spec/study.yaml"]) == 0
    cap = capsys.readouterr()
    assert "valid" in cap.out and "9 cells" in cap.out
    (warn,) = cap.err.strip().splitlines()
    assert "data/raw/redteam_eval.csv is missing" in warn and "4430d8f9" in warn
    assert "raw.githubusercontent.com/yw562/refusal-robustness-scaling" in warn and "rrs fetch spec/study.yaml" in warn


@pytest.mark.parametrize("spec,attack_n,overlap", [("spec/study.yaml", 100, "100%"),
                                                    ("spec/study-disjoint.yaml", 100, "0%")])
def test_validate_with_the_published_eval_file(tmp_path, monkeypatch, capsys, spec, attack_n, overlap) -> None:
    _workdir(tmp_path, monkeypatch, original_eval_text())  # the published bytes: the pinned sha256 must match
    assert cli(["validate", spec]) == 0
    out = capsys.readouterr().out
    assert f"eval n=100, attack n={attack_n}, overlap {overlap}" in out


def test_eval_file_with_another_sha256_is_refused_in_one_line(tmp_path, monkeypatch, capsys) -> None:
    _workdir(tmp_path, monkeypatch, original_eval_text().replace("\n", "\r\n"))  # e.g. re-saved with CRLF
    assert cli(["validate", "spec/study.yaml"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "sha256" in line and "4430d8f9" in line and "redteam_eval.csv" in line


def test_reproduce_without_the_eval_file_is_refused_in_one_line(tmp_path, monkeypatch, capsys) -> None:
    _workdir(tmp_path, monkeypatch, None)
    assert cli(["reproduce", "spec/study.yaml", "--cache", str(tmp_path / "cache")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "data/raw/redteam_eval.csv" in line and "raw.githubusercontent.com" in line


def _plan_lines(capsys) -> list[str]:
    return [ln for ln in capsys.readouterr().out.splitlines() if "lora-r8" in ln]


def test_plan_lists_three_models_four_steps_three_seeds(tmp_path, monkeypatch, capsys) -> None:
    _workdir(tmp_path, monkeypatch, original_eval_text())
    monkeypatch.setenv("COLUMNS", "250")
    assert cli(["plan", "spec/study.yaml", "--cache", str(tmp_path / "cache")]) == 0
    lines = _plan_lines(capsys)
    assert len(lines) == 9 and all("0,500,1000,2000" in ln and "GPU-h" in ln for ln in lines)
    for model in ("tinyllama-1.1b", "phi3-mini-3.8b", "qwen2-7b"):
        assert sum(model in ln for ln in lines) == 3


def test_plan_works_before_the_eval_file_is_placed(tmp_path, monkeypatch, capsys) -> None:
    _workdir(tmp_path, monkeypatch, original_eval_text())
    monkeypatch.setenv("COLUMNS", "250")
    assert cli(["plan", "spec/study.yaml", "--cache", str(tmp_path / "cache")]) == 0
    with_file = _plan_lines(capsys)
    (tmp_path / "data" / "raw" / "redteam_eval.csv").unlink()
    assert cli(["plan", "spec/study.yaml", "--cache", str(tmp_path / "cache")]) == 0
    assert _plan_lines(capsys) == with_file  # same cells, same keys: the pinned sha256 stands in for the file


def test_strict_refuses_an_unpinned_revision(tmp_path, capsys) -> None:
    raw = yaml.safe_load(STUDY.read_text())
    raw["models"][2]["revision"] = "main"
    spec = tmp_path / "unpinned.yaml"
    spec.write_text(yaml.safe_dump(raw, allow_unicode=True))
    assert cli(["validate", str(spec)]) == 0
    assert "models[qwen2-7b].revision 'main' is not a 40-hex commit" in capsys.readouterr().err
    assert cli(["reproduce", str(spec), "--strict", "--cache", str(tmp_path / "cache")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "--strict" in line and "revision 'main'" in line


# ---------------------------------------------------------------- rrs fetch (network mocked)


def test_fetch_refuses_offline_in_one_line(tmp_path, monkeypatch) -> None:
    _workdir(tmp_path, monkeypatch, None)
    with pytest.raises(UserError) as err:
        fetch_cmd(Path("spec/study.yaml"))
    assert "HF_HUB_OFFLINE=1" in _one_line(err) and "network" in str(err.value)


@pytest.fixture
def hub(tmp_path, monkeypatch) -> list[dict]:
    """A fake hub: snapshot_download records its arguments and returns a snapshot folder with safetensors."""
    calls: list[dict] = []

    def download(**kw) -> str:
        calls.append(kw)
        commit = kw["revision"] if re.fullmatch(r"[0-9a-f]{40}", kw["revision"]) else FAKE_COMMIT
        folder = tmp_path / "hub" / kw["repo_id"].replace("/", "--") / "snapshots" / commit
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.safetensors").write_bytes(b"weights")
        return str(folder)

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(rrs.fetch, "_snapshot_download", download)
    monkeypatch.setattr(rrs.fetch, "_http_get", lambda url: original_eval_text().encode("utf-8"))
    return calls


def test_fetch_downloads_pinned_snapshots_and_the_eval_file(tmp_path, monkeypatch, hub, capsys) -> None:
    _workdir(tmp_path, monkeypatch, None)
    fetch_cmd(Path("spec/study.yaml"))
    study = load_spec("spec/study.yaml")
    assert [(c["repo_id"], c["revision"]) for c in hub] == [(m.repo, m.revision) for m in study.models]
    for call in hub:
        assert "*.safetensors" in call["allow_patterns"]
        assert not any(p.endswith((".bin", ".py", ".pt")) for p in call["allow_patterns"])
    assert sha256_file("data/raw/redteam_eval.csv") == study.data.eval.sha256
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and out[0].startswith("models[tinyllama-1.1b]: TinyLlama/TinyLlama-1.1B-Chat-v1.0@fe8a4ea1")
    assert out[3].startswith("data.eval: https://raw.githubusercontent.com/") and study.data.eval.sha256 in out[3]


def test_fetch_refuses_a_download_with_another_sha256(tmp_path, monkeypatch, hub) -> None:
    _workdir(tmp_path, monkeypatch, None)
    monkeypatch.setattr(rrs.fetch, "_http_get", lambda url: b"prompt\nsomething else\n")
    with pytest.raises(UserError) as err:
        fetch_cmd(Path("spec/study.yaml"))
    assert "expects 4430d8f9" in _one_line(err) and not Path("data/raw/redteam_eval.csv").exists()


def test_fetch_refuses_a_snapshot_without_safetensors(tmp_path, monkeypatch, hub) -> None:
    _workdir(tmp_path, monkeypatch, original_eval_text())
    monkeypatch.setattr(rrs.fetch, "_snapshot_download", lambda **kw: str(tmp_path))  # no *.safetensors there
    with pytest.raises(UserError) as err:
        fetch_cmd(Path("spec/study.yaml"))
    assert "models[tinyllama-1.1b]" in _one_line(err) and "no *.safetensors" in str(err.value)


def test_fetch_turns_a_hub_error_into_one_line(tmp_path, monkeypatch, hub) -> None:
    _workdir(tmp_path, monkeypatch, original_eval_text())

    def fail(**kw):
        raise OSError("Revision Not Found for url: https://huggingface.co/api/models/x/revision/abc.\nmore detail")

    monkeypatch.setattr(rrs.fetch, "_snapshot_download", fail)
    with pytest.raises(UserError) as err:
        fetch_cmd(Path("spec/study.yaml"))
    assert _one_line(err).startswith("models[tinyllama-1.1b]: cannot fetch TinyLlama/TinyLlama-1.1B-Chat-v1.0@fe8a4ea1")


def test_fetch_warns_to_pin_an_unpinned_revision(tmp_path, monkeypatch, hub, capsys) -> None:
    _workdir(tmp_path, monkeypatch, original_eval_text())
    raw = yaml.safe_load(Path("spec/study.yaml").read_text())
    raw["models"] = raw["models"][:1]
    raw["models"][0]["revision"] = "main"
    raw.pop("references")  # they select the models dropped here, which validation refuses
    Path("one.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True))
    fetch_cmd(Path("one.yaml"))
    err = capsys.readouterr().err
    assert f"revision 'main' resolved to {FAKE_COMMIT}" in err and "pin it in one.yaml" in err
