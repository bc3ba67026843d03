"""`mpiexec -n 2 ember train --distributed`: two ranks with batch B train exactly as one process
with batch 2B, only rank 0 prints and writes files, a failing rank ends the whole job, and a
job cut short resumes to the weights of one that never stopped.

The MPI tests start real jobs with mpiexec; they are skipped when mpiexec or mpi4py is
missing, unless EMBER_REQUIRE_MPI=1 (then they fail). Subprocess timeouts are only hang guards.
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import ember
import ember.distributed

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
from test_cli import cli, data_dir  # noqa: E402,F401,F811  (the tiny data set of the CLI tests, a fixture)

ROOT = os.path.dirname(os.path.dirname(HERE))
HANG_GUARD = 300  # seconds: a job that takes this long is stuck, not slow
BATCH = 32  # per rank; 512 training images: 8 steps per epoch on 2 ranks
ARGS = ["--model", "mlp", "--optimizer", "sgd", "--epochs", "2", "--augment"]
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_btl_vader_single_copy_mechanism": "none"}


@pytest.fixture(scope="module")
def mpi():
    missing = [name for name, there in (("mpiexec", shutil.which("mpiexec")),
                                        ("mpi4py", importlib.util.find_spec("mpi4py"))) if not there]
    if missing:
        message = f"{' and '.join(missing)} not installed"
        if os.environ.get("EMBER_REQUIRE_MPI") == "1":
            pytest.fail(f"EMBER_REQUIRE_MPI=1 but {message}")
        pytest.skip(message)


def launch(cwd, *argv, ranks=2, env=None):
    """`mpiexec -n RANKS python -m ember train --distributed ARGV` in `cwd`: the CompletedProcess."""
    full_env = dict(os.environ, **MPI_ENV, **(env or {}))
    full_env["PYTHONPATH"] = ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")
    for var in ("EMBER_TEST_FAIL_RANK", "EMBER_TEST_FAIL_STEP"):
        if env is None or var not in env:
            full_env.pop(var, None)
    command = ["mpiexec", "--oversubscribe", "-n", str(ranks), sys.executable, "-m", "ember", "train",
               "--distributed", *map(str, argv)]
    os.makedirs(cwd, exist_ok=True)
    return subprocess.run(command, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=HANG_GUARD)


@pytest.fixture(scope="module")
def two_ranks(mpi, data_dir, tmp_path_factory):
    """A whole 2-rank run with the default output folder: (its folder, the finished process)."""
    cwd = tmp_path_factory.mktemp("ddp")
    proc = launch(cwd, *ARGS, "--batch-size", BATCH, "--data-dir", data_dir)
    assert proc.returncode == 0, proc.stderr
    runs = list((cwd / "runs").iterdir())
    assert len(runs) == 1, runs  # rank 0 named the folder and told rank 1
    return runs[0], proc


def weights(path):
    return {k: v.numpy() for k, v in ember.load(path)["model"].items()}


def history(folder):
    return json.loads((folder / "metrics.json").read_text())["history"]


def test_two_ranks_train_as_one_process_with_twice_the_batch(two_ranks, data_dir, tmp_path):
    folder, _ = two_ranks
    rc, _, err = cli("train", *ARGS, "--batch-size", 2 * BATCH, "--data-dir", data_dir, "--out", tmp_path)
    assert rc == 0, err
    one, two = weights(tmp_path / "last.pt"), weights(folder / "last.pt")
    assert list(one) == list(two)
    for key in one:
        scale = max(1.0, float(np.abs(one[key]).max()))
        np.testing.assert_allclose(two[key], one[key], rtol=0, atol=1e-5 * scale, err_msg=key)
    m_one = json.loads((tmp_path / "metrics.json").read_text())
    m_two = json.loads((folder / "metrics.json").read_text())
    assert m_two["test"]["accuracy"] == m_one["test"]["accuracy"]
    assert m_two["test"]["confusion_matrix"] == m_one["test"]["confusion_matrix"]
    assert m_two["world_size"] == 2 and m_one["world_size"] == 1
    for h1, h2 in zip(m_one["history"], m_two["history"]):  # the metrics cover both ranks' samples
        assert h2["train_accuracy"] == h1["train_accuracy"]
        assert h2["train_loss"] == pytest.approx(h1["train_loss"], rel=1e-5)
        assert h2["test_loss"] == pytest.approx(h1["test_loss"], rel=1e-5)
        assert (h2["lr"], h2["lr_end"]) == pytest.approx((h1["lr"], h1["lr_end"]))
    assert ember.load(folder / "last.pt")["world_size"] == 2
    # the checkpoint holds the plain network: evaluate reads it like any other
    rc, stdout, err = cli("evaluate", folder / "last.pt", "--data-dir", data_dir)
    assert rc == 0, err
    assert f"Test accuracy: {100 * m_two['test']['accuracy']:.2f}%" in stdout


def test_only_rank_0_prints_and_writes(two_ranks):
    folder, proc = two_ranks
    out = proc.stdout
    assert "distributed: 2 ranks x batch 32 = global batch 64" in out
    for line in ("Training mlp on", "epoch   1/2  ", "epoch   2/2  ", "Training took", "Confusion matrix",
                 "Saved in "):
        assert out.count(line) == 1, (line, out)
    assert "Traceback" not in proc.stderr and "rank 1" not in proc.stderr
    names = {p.name for p in folder.iterdir()}
    assert {"metrics.json", "last.pt", "best.pt"} <= names
    assert not [n for n in names if ".tmp" in n]  # no half-written file left by a second writer
    assert [h["epoch"] for h in history(folder)] == [1, 2]


def test_a_failing_rank_ends_the_job(mpi, data_dir, tmp_path):
    fail = {"EMBER_TEST_FAIL_RANK": "1", "EMBER_TEST_FAIL_STEP": "3"}
    proc = launch(tmp_path, *ARGS, "--batch-size", BATCH, "--data-dir", data_dir, "--out", tmp_path / "out", env=fail)
    assert proc.returncode != 0
    assert "ember train [rank 1]: error: RuntimeError: failing at step 3" in proc.stderr, proc.stderr
    assert "epoch   1/2" not in proc.stdout  # rank 0 was stopped in the first epoch
    # an error every rank sees (rank 0 reads the checkpoint and shares what it found)
    missing = tmp_path / "missing.pt"
    proc = launch(tmp_path, "--resume", missing)
    assert proc.returncode != 0
    assert f"error: checkpoint not found: {missing}" in proc.stderr and "Traceback" not in proc.stderr


def test_resume_after_a_crash_equals_the_whole_run(two_ranks, data_dir, tmp_path):
    folder, _ = two_ranks
    cut = tmp_path / "cut"
    crash = {"EMBER_TEST_FAIL_RANK": "1", "EMBER_TEST_FAIL_STEP": "10"}  # step 10: in epoch 2 (8 steps each)
    proc = launch(tmp_path, *ARGS, "--batch-size", BATCH, "--data-dir", data_dir, "--out", cut, env=crash)
    assert proc.returncode != 0 and "ember train [rank 1]: error" in proc.stderr
    assert ember.load(cut / "last.pt")["epoch"] == 1
    proc = launch(tmp_path, "--resume", cut / "last.pt")
    assert proc.returncode == 0, proc.stderr
    assert "Resuming from" in proc.stdout and "epoch   2/2" in proc.stdout and "epoch   1/2" not in proc.stdout
    whole, resumed = weights(folder / "last.pt"), weights(cut / "last.pt")
    for key in whole:
        np.testing.assert_array_equal(resumed[key], whole[key], err_msg=key)
    timeless = [{k: v for k, v in h.items() if k not in ("time_s", "samples_per_s")} for h in history(folder)]
    assert [{k: v for k, v in h.items() if k not in ("time_s", "samples_per_s")} for h in history(cut)] == timeless


def _rank_pid(session, rank):
    """The pid of MPI rank `rank` among the processes of session `session`, or None."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[3]) != session:
                    continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if f"OMPI_COMM_WORLD_RANK={rank}".encode() in env:
            return int(entry)
    return None


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the rank's process in /proc")
def test_resume_after_kill_9_of_a_rank_equals_the_whole_run(mpi, data_dir, tmp_path):
    """A rank killed outright (as by the out-of-memory killer) mid-run: mpiexec ends the job, and
    --resume from the last checkpoint finishes with the weights of a run never stopped."""
    args = ["--model", "mlp", "--optimizer", "sgd", "--augment", "--epochs", "40", "--batch-size", BATCH,
            "--data-dir", data_dir]  # 40 epochs: long enough to be killed in
    whole = launch(tmp_path, *args, "--out", tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    env = dict(os.environ, **MPI_ENV)
    env["PYTHONPATH"] = ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")
    cut = tmp_path / "cut"
    job = subprocess.Popen(["mpiexec", "--oversubscribe", "-n", "2", sys.executable, "-m", "ember", "train",
                            "--distributed", *map(str, args), "--out", str(cut)], cwd=tmp_path, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        victim = None
        while job.poll() is None and victim is None:  # kill rank 1 once the first checkpoint exists
            if (cut / "last.pt").exists():
                victim = _rank_pid(job.pid, 1)
        if victim is not None:
            os.kill(victim, 9)
        _, err = job.communicate(timeout=HANG_GUARD)  # a hang guard: mpiexec must end the job itself
    finally:
        if job.poll() is None:
            os.killpg(job.pid, 9)
    assert victim is not None and job.returncode != 0, f"the job ended before rank 1 could be killed: {err}"
    saved = ember.load(cut / "last.pt")["epoch"]
    assert 1 <= saved < 40
    proc = launch(tmp_path, "--resume", cut / "last.pt")
    assert proc.returncode == 0, proc.stderr
    assert f"Resuming from {cut / 'last.pt'} after epoch {saved}" in proc.stdout
    complete, resumed = weights(tmp_path / "whole" / "last.pt"), weights(cut / "last.pt")
    for key in complete:
        np.testing.assert_array_equal(resumed[key], complete[key], err_msg=key)


def test_resume_on_another_number_of_ranks(mpi, data_dir, tmp_path):
    # an epoch-wise schedule carries on, with a note that the global batch changed
    rc, _, err = cli("train", *ARGS, "--scheduler", "step", "--epochs", 1, "--batch-size", BATCH,
                     "--data-dir", data_dir, "--out", tmp_path / "one")
    assert rc == 0, err
    proc = launch(tmp_path, "--resume", tmp_path / "one" / "last.pt", "--epochs", 2)
    assert proc.returncode == 0, proc.stderr
    assert "saved by a job of 1 rank (global batch 32); continuing on 2 (global batch 64)" in proc.stderr
    assert [h["epoch"] for h in history(tmp_path / "one")] == [1, 2]
    # a per-step schedule was laid out for the old steps per epoch: refused, naming the way out
    rc, _, err = cli("train", *ARGS, "--epochs", 1, "--batch-size", BATCH, "--data-dir", data_dir,
                     "--out", tmp_path / "cycle")
    assert rc == 0, err
    proc = launch(tmp_path, "--resume", tmp_path / "cycle" / "last.pt", "--epochs", 1)
    assert proc.returncode == 2 and "resume with mpiexec -n 1" in proc.stderr, proc.stderr


def test_without_mpi4py_the_message_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(ember.distributed, "is_available", lambda: False)
    rc, _, err = cli("train", "--distributed", "--out", tmp_path)
    assert rc == 1 and "Traceback" not in err
    assert "apt-get install -y openmpi-bin libopenmpi-dev && pip install mpi4py" in err
