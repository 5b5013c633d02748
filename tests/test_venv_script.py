"""scripts/venv.sh (make setup, make check-setup) takes CPython 3.11, the version the locks are resolved for, or says
in one line which interpreters it tried, exit 2, leaving the target folder as it was."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _fake_python(path: Path, version: str) -> Path:
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return path


def test_an_interpreter_of_another_version_is_refused_in_one_line(tmp_path):
    old = _fake_python(tmp_path / "python-old", "3.10")
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "kept").write_text("an existing environment")
    for python, seen in ((old, f"{old} (3.10)"), (tmp_path / "absent", f"{tmp_path / 'absent'} (missing)")):
        proc = subprocess.run([str(ROOT / "scripts" / "venv.sh"), str(venv), "requirements/check.lock"],
                              capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "PYTHON": str(python)},
                              timeout=60)  # fmt: skip
        assert proc.returncode == 2 and proc.stdout == ""
        [line] = proc.stderr.splitlines()
        assert line.startswith("scripts/venv.sh: needs CPython 3.11 ") and f"tried: {seen}." in line
        assert "set PYTHON=/path/to/python3.11" in line
    assert [p.name for p in venv.iterdir()] == ["kept"]
