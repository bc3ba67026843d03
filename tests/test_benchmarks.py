"""The benchmark script runs (quick mode) and both frameworks' losses fall. No timing is asserted."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bench_core_quick_runs():
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "bench_core.py"), "--quick", "--threads", "1"],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "FAIL" not in out.stdout and "initial losses agree: ok" in out.stdout, out.stdout
    assert "ember/torch" in out.stdout
