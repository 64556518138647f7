"""`make test` without Chromium says how many browser tests it skipped and how to get
them (tests/e2e/conftest.py), rather than leaving an easily missed "s" in the dots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_run_without_chromium_says_how_many_browser_tests_it_skipped(
        tmp_path: Path) -> None:
    env = {**os.environ, "ECONSULT_CHROMIUM": str(tmp_path / "no-such-chromium")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/e2e/test_consult_flow.py",
         "tests/e2e/test_delegate_flow.py", "-q", "-p", "no:cacheprovider", "-rN"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/e2e/test_consult_flow.py",
         "tests/e2e/test_delegate_flow.py", "-q", "--collect-only", "-p", "no:cacheprovider"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    count = sum(1 for line in collected.stdout.splitlines() if "::" in line)
    assert count >= 2
    assert f"{count} browser tests SKIPPED" in out, out
    assert "apt-get install chromium" in out and "ECONSULT_CHROMIUM" in out
