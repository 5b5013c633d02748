"""The numerics fingerprint: what decides which floating-point code path a run takes.

PyTorch promises bit-identical results only on the same platform and release. The embedded study is deterministic
per platform, but the vector path that torch, MKL and oneDNN pick (AVX2, AVX-512, AMX; set by the CPU and by
environment knobs) changes training, and near the collapse step the outcome is as sensitive to it as to a seed.

- `platform_key(device, threads)`: torch-free, cheap; part of every stage's cache key, so a cache shared by two
  platforms never mixes their outputs: the machine, the CPU's vendor, model and vector-ISA flags, the environment
  knobs that change the path, the resolved device (never "auto"), the torch thread count (it changes how CPU
  kernels split their sums) and, on CUDA, the GPU names and driver.
- `fingerprint(device, threads)`: the platform key plus what torch reports (its CPU capability, BLAS/LAPACK/MKL/oneDNN
  builds, CUDA/cuDNN versions); recorded with each stage output and in the manifest. `fingerprint_id` is its short
  hash: two runs with the same id are expected to be byte-identical.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from functools import cache
from pathlib import Path

from rrs.hashing import sha256_text

KNOBS = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "MKL_DEBUG_CPU_TYPE", "ONEDNN_MAX_CPU_ISA",
         "DNNL_MAX_CPU_ISA", "ONEDNN_DEFAULT_FPMATH_MODE", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
         "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE", "CUBLAS_WORKSPACE_CONFIG")
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512dq",
             "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")


@cache
def cpu() -> dict:
    """Vendor, model name and the vector-ISA flags of the first CPU (from /proc/cpuinfo; elsewhere `platform`)."""
    info = {"vendor": platform.processor() or "unknown", "model": platform.machine(), "flags": []}
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return info
    fields: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        k, _, v = line.partition(":")
        fields[k.strip()] = v.strip()
    flags = set(fields.get("flags", "").split())
    return {"vendor": fields.get("vendor_id", info["vendor"]), "model": fields.get("model name", info["model"]),
            "flags": [f for f in ISA_FLAGS if f in flags]}


def knobs() -> dict[str, str]:
    return {k: os.environ[k] for k in KNOBS if k in os.environ}


def has_gpu() -> bool:
    """A CUDA device is present and visible (torch-free: the driver's device files, CUDA_VISIBLE_DEVICES)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return Path("/dev/nvidia0").exists() or Path("/proc/driver/nvidia/gpus").is_dir()


def resolve_device(device: str) -> str:
    """`auto` → cuda when a GPU is visible, else cpu; the result is what cache keys and the runner use."""
    return ("cuda" if has_gpu() else "cpu") if device == "auto" else device


@cache
def _gpus() -> list[str]:
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def platform_key(device: str, threads: int) -> dict:
    device = resolve_device(device)
    key = {"machine": platform.machine(), "cpu": cpu(), "knobs": knobs(), "device": device, "threads": threads}
    if device == "cuda":
        key["gpus"] = _gpus()
    return key


def _torch_build() -> dict:
    import torch

    wanted = ("BLAS_INFO", "LAPACK_INFO", "USE_MKL", "USE_MKLDNN", "USE_OPENMP", "CXX_COMPILER")
    build = {}
    for part in torch.__config__.show().replace(",", "\n").splitlines():
        k, sep, v = part.strip().partition("=")
        if sep and k.strip() in wanted:
            build[k.strip()] = v.strip()
        elif "Math Kernel Library Version" in part or "oneDNN" in part or "OpenMP" in part:
            build[part.strip().split(" Version")[0].strip(" -")] = part.strip()
    return build


@cache
def fingerprint(device: str, threads: int) -> dict:
    """platform_key plus torch's own report; imports torch."""
    import torch

    fp = platform_key(device, threads) | {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_build": _torch_build(),
    }
    if fp["device"] == "cuda" and torch.cuda.is_available():
        fp["cuda"] = {"names": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
                      "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
    return fp


def fingerprint_id(fp: dict) -> str:
    return sha256_text(json.dumps(fp, sort_keys=True, ensure_ascii=False))[:16]


def describe(fp: dict) -> str:
    """One line: CPU model, capability, knobs (for reports)."""
    cpu_ = fp.get("cpu", {})
    knob = ", ".join(f"{k}={v}" for k, v in sorted((fp.get("knobs") or {}).items())) or "no knobs"
    return (f"{cpu_.get('vendor', '?')} {cpu_.get('model', '?')}; capability {fp.get('cpu_capability', '?')}; "
            f"{fp.get('device', '?')}{_threads(fp)}; {knob}")


def _threads(fp: dict) -> str:
    return f", {fp['threads']} threads" if "threads" in fp else ""  # a fingerprint recorded before threads were in it
