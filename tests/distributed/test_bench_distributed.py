"""benchmarks/bench_distributed.py runs with tiny settings and writes the JSON it promises (no timing is
asserted), and the example script of docs/distributed.md runs on two ranks."""
import json
import os
import re
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
from mpi_launch import ROOT, output_of, require_mpi, run_mpi, run_python  # noqa: E402

SCRIPT = os.path.join(ROOT, "benchmarks", "bench_distributed.py")
DOC = os.path.join(ROOT, "docs", "distributed.md")
HANG_GUARD = 900  # seconds: the benchmark launches mpiexec six times; only a stuck run takes this long


def run_bench(tmp_path, *extra):
    require_mpi()  # the script is started plainly but launches mpiexec itself
    out = tmp_path / "bench.json"
    proc = run_python(SCRIPT, "--steps", "3", "--warmup", "1", "--sizes", "small", "--json", out, *extra,
                      timeout=HANG_GUARD)
    assert proc.returncode == 0, output_of(proc)
    with open(out) as f:
        return json.load(f), proc.stdout


def positive(x):
    return isinstance(x, (int, float)) and x > 0


GRAD_BYTES = {"lenet": 4 * 61706, "mlp": 4 * (784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10)}  # float32


def check(res, fws, model):
    assert res["train"]["model"] == model
    train = res["train"]
    assert set(train["ranks"]) == {"1", "2"}
    for ranks in ("1", "2"):
        assert set(train["ranks"][ranks]) == set(fws)
        for fw in fws:
            assert positive(train["ranks"][ranks][fw]["samples_per_s"])
            assert positive(train["ranks"][ranks][fw]["step_s"])
    assert set(train["efficiency"]) == set(fws) and all(positive(v) for v in train["efficiency"].values())

    ar = res["allreduce"]
    assert ar["ranks"] == 2
    sizes = [row["bytes"] for row in ar["sizes"]]
    assert {4096, 65536, 1 << 20} <= set(sizes)
    for row in ar["sizes"]:
        for fw in fws:
            assert positive(row[fw]["time_s"]) and positive(row[fw]["algbw_GBps"])
            assert row[fw]["busbw_GBps"] == pytest.approx(row[fw]["algbw_GBps"])  # 2(n-1)/n = 1 for n = 2
    assert set(ar["latency_s"]) == {"ember", "mpi4py", *fws} and all(positive(v) for v in ar["latency_s"].values())

    comp = res["compute"]
    assert set(comp) == {model, "mlp-1024x10"}
    assert comp[model]["grad_bytes"] == GRAD_BYTES[model]
    assert comp[model]["grad_bytes"] in sizes  # the sweep also times the gradient's own size
    assert comp[model]["buckets"] == 1 and comp["mlp-1024x10"]["buckets"] == 3
    for c in comp.values():
        assert all(positive(c[fw]["step_s"]) for fw in fws)

    rows = res["estimate"]["rows"]
    assert len(rows) == 2 * len(fws) * 2 * 2  # models x frameworks x networks x rank counts
    for r in rows:
        assert r["ranks"] in (8, 64)
        assert 0 < r["efficiency_no_overlap"] <= r["efficiency_overlap"] <= 1
        assert positive(r["samples_per_s_no_overlap"]) and positive(r["t_comm_s"])
    # more ranks on the same network: more time in the ring's latency and bandwidth terms
    by = {(r["model"], r["framework"], r["network"], r["ranks"]): r for r in rows}
    for model, fw, net, n in by:
        if n == 8:
            assert by[model, fw, net, 64]["t_comm_s"] > by[model, fw, net, 8]["t_comm_s"]


def test_bench_distributed_with_torch(tmp_path):
    res, stdout = run_bench(tmp_path)
    check(res, ["ember", "torch"], "lenet")
    assert "losses fall: ok" in stdout
    assert "ember/torch" in stdout and "(d) estimated scaling" in stdout


def test_bench_distributed_ember_only(tmp_path):
    res, stdout = run_bench(tmp_path, "--no-torch", "--model", "mlp", "--repeat", "2")
    check(res, ["ember"], "mlp")
    for ranks in ("1", "2"):
        launches = res["train"]["ranks"][ranks]["ember"]["launches_samples_per_s"]
        assert len(launches) == 2 and all(positive(v) for v in launches)
    assert "torch" not in res["allreduce"]["latency_s"]


def test_docs_example_script_trains_on_two_ranks(tmp_path, monkeypatch):
    with open(DOC) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert len(blocks) == 1
    (tmp_path / "train_ddp.py").write_text(blocks[0])
    monkeypatch.chdir(tmp_path)  # the script saves model.pt in its working directory
    proc = run_mpi(tmp_path / "train_ddp.py", n=2)
    assert proc.returncode == 0, output_of(proc)
    losses = [float(v) for v in re.findall(r"epoch \d: mean training loss ([0-9.]+)", proc.stdout)]
    assert len(losses) == 3, proc.stdout  # rank 0 alone prints
    assert losses[-1] < losses[0]
    assert (tmp_path / "model.pt").exists()


def test_ddp_drift_starts_at_rounding_level():
    proc = run_mpi(os.path.join(ROOT, "benchmarks", "ddp_drift.py"), "--steps", "6", n=2)
    assert proc.returncode == 0, output_of(proc)
    diffs = [float(v) for v in re.findall(r"step +\d+: ([0-9.e+-]+)", proc.stdout)]
    assert len(diffs) == 3, proc.stdout  # steps 0, 1 and 5 (the last); rank 0 alone prints
    assert max(diffs) < 1e-5  # the same global batches: DDP and one process agree to float rounding
