"""`rrs check` runs where torch, transformers and peft cannot be imported (a reviewer's laptop)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from synthetic import copy_result_dir, edit_grid

BLOCKED = ("torch", "transformers", "peft", "sentence_transformers", "bitsandbytes", "accelerate")
TESTS = Path(__file__).resolve().parent

# Importing a name whose sys.modules entry is None raises ImportError: any import of the blocked packages,
# direct or through a shared rrs module, fails the check run below.
SCRIPT = """
import json, sys
for name in {blocked!r}:
    sys.modules[name] = None
from rrs.cli import main  # the real entry point, with every verb registered
codes = [main(["check", d, "--report", d + ".report.md"]) for d in sys.argv[1:]]
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r} and sys.modules[m] is not None)
print(json.dumps({{"codes": codes, "loaded": loaded}}))
"""


def test_check_runs_with_torch_transformers_and_peft_unimportable(tmp_path):
    clean = copy_result_dir(tmp_path / "clean")
    broken = copy_result_dir(tmp_path / "broken")
    edit_grid(broken, lambda g: g.assign(ce=g.ce.where(g.index != 3, 0.9)))
    script = SCRIPT.format(blocked=BLOCKED)
    env = {**os.environ, "PYTHONPATH": str(TESTS.parent)}
    proc = subprocess.run([sys.executable, "-c", script, str(clean), str(broken)], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"codes": [0, 1], "loaded": []}
    assert "ce == 1 - rrr" in (tmp_path / "broken.report.md").read_text()
    assert (tmp_path / "clean.report.md").read_text().startswith("# rrs check: PASS")


def test_blocking_works(tmp_path):
    """The blocking trick itself: with torch set to None, importing it raises ImportError."""
    code = "import sys; sys.modules['torch'] = None\ntry:\n    import torch\nexcept ImportError:\n    print('blocked')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "blocked"
