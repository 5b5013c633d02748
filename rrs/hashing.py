"""Content keys: every cached stage output is named by the hash of everything that determines it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def key_of(*parts: Any, length: int = 16) -> str:
    """Stable short key of JSON-serialisable parts (pydantic models are dumped first)."""
    norm = [p.model_dump(mode="json") if hasattr(p, "model_dump") else p for p in parts]
    blob = json.dumps(norm, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def dir_digest(folder: str | Path, suffixes: tuple[str, ...] = (".safetensors", ".json", ".model", ".txt", ".jinja")) -> str:
    """One digest of a model directory: every weights, config and tokenizer file, by name and content."""
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix in suffixes)
    return sha256_text(json.dumps([[p.name, sha256_file(p)] for p in files]))
