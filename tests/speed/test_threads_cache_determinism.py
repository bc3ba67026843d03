"""Thread control (ember.set_num_threads & co., PyTorch's names), the Numba set-up (cache
location for read-only installs, threading layer, fork safety), what `import ember` loads,
and determinism: the same seed gives bit-identical LeNet losses across processes and
across thread counts 1 and 2. Most checks run in subprocesses, since thread pools,
environment variables and imported modules are per process. Nothing here times anything."""
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import ember

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
               "NUMBA_THREADING_LAYER", "NUMBA_CACHE_DIR", "EMBER_NUMBA")


def run_py(code, env=None, path=ROOT, timeout=300, prefix=()):
    """Run `code` in a fresh interpreter that imports ember from `path`; returns stdout."""
    full = dict(os.environ)
    for var in THREAD_VARS:
        full.pop(var, None)
    full.update(env or {})
    full["PYTHONPATH"] = path
    out = subprocess.run([*prefix, sys.executable, "-c", textwrap.dedent(code)], env=full, cwd=path,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def cores():
    return len(os.sched_getaffinity(0))


# -- the API ----------------------------------------------------------------------------------
def test_argument_checks_match_torch():
    torch = pytest.importorskip("torch")
    for bad in (0, -1, 1.5, "2", True, None):
        for fn in ("set_num_threads", "set_num_interop_threads"):
            with pytest.raises(Exception) as want:
                getattr(torch, fn)(bad)
            with pytest.raises(type(want.value)) as got:
                getattr(ember, fn)(bad)
            assert str(got.value) == str(want.value)


def test_set_get_in_process():
    from ember import _threads

    before, chosen = ember.get_num_threads(), _threads._num_threads
    try:
        ember.set_num_threads(1)
        assert ember.get_num_threads() == 1
        assert all(n == 1 for n in _threads.blas_num_threads())
        ember.set_num_threads(2)
        assert ember.get_num_threads() == 2
        assert all(n == 2 for n in _threads.blas_num_threads())
    finally:
        ember.set_num_threads(before)
        _threads._num_threads = chosen


def test_defaults_and_environment():
    code = """
        import sys, ember
        from ember import _threads
        print(ember.get_num_threads(), ember.get_num_interop_threads(), _threads.blas_num_threads())
        print("numba" in sys.modules)
    """
    n = cores()
    lines = run_py(code).splitlines()
    assert lines[0].split()[:2] == [str(n), str(n)]
    assert lines[1] == "False"  # asking about threads does not load Numba
    assert run_py(code, {"OMP_NUM_THREADS": "1"}).split()[0] == "1"  # PyTorch's variable
    assert run_py(code, {"MKL_NUM_THREADS": "1"}).split()[0] == "1"


def test_numba_follows_ember_and_the_environment():
    pytest.importorskip("numba")
    code = """
        import sys, numpy as np, ember
        {before}
        from ember.kernels import numba_nn  # what the first compiled kernel call loads
        import numba
        print(numba.get_num_threads(), numba.config.NUMBA_NUM_THREADS, numba.threading_layer())
        ember.set_num_threads(1)
        print(numba.get_num_threads())
    """
    n = cores()
    # the default: all usable cores, the workqueue layer (fork-safe, sleeps when idle)
    assert run_py(code.format(before="")).split() == [str(n), str(n), "workqueue", "1"]
    # set before Numba loads: remembered and applied when it loads; Numba is not imported for it
    got = run_py(code.format(before="ember.set_num_threads(1); assert 'numba' not in sys.modules")).split()
    assert got[0] == "1"
    # OMP_NUM_THREADS sizes Numba as it does OpenBLAS; NUMBA_NUM_THREADS is Numba's own
    assert run_py(code.format(before=""), {"OMP_NUM_THREADS": "1"}).split()[0] == "1"
    assert run_py(code.format(before=""), {"NUMBA_NUM_THREADS": "1"}).split()[:2] == ["1", "1"]
    # a threading layer the user chose is kept
    assert run_py(code.format(before=""), {"NUMBA_THREADING_LAYER": "omp"}).split()[2] == "omp"
    # Numba imported first, then ember: set_num_threads reaches it right away
    got = run_py("""
        import numba, ember
        ember.set_num_threads(1)
        print(numba.get_num_threads(), numba.threading_layer())
    """).split()
    assert got == ["1", "workqueue"]


# -- import ---------------------------------------------------------------------------------------
def test_import_loads_no_compiler_or_oracle():
    out = run_py("""
        import sys, ember
        print(sorted(m for m in ("numba", "llvmlite", "scipy", "torch") if m in sys.modules))
    """)
    assert out.strip() == "[]"


# -- the Numba cache for a read-only install -----------------------------------------------------
def read_only_prefix(path):
    """A command prefix under which `path` is read-only, or None when that cannot be arranged."""
    if os.geteuid() != 0:  # permission bits bind everyone but root
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.chmod(os.path.join(root, name), 0o555 if name in dirs else 0o444)
        os.chmod(path, 0o555)
        return ()
    unshare = shutil.which("unshare")  # root writes anywhere: use a read-only bind mount
    if unshare is None:
        return None
    script = f'mount --bind "{path}" "{path}" && mount -o remount,ro,bind "{path}" && exec "$@"'
    prefix = (unshare, "-m", "sh", "-c", script, "sh")
    probe = subprocess.run([*prefix, "sh", "-c", f'! touch "{path}/probe" 2>/dev/null'], capture_output=True)
    return prefix if probe.returncode == 0 else None


def test_cache_goes_to_user_dir_when_package_is_read_only(tmp_path):
    pytest.importorskip("numba")
    install = tmp_path / "site"
    shutil.copytree(os.path.join(ROOT, "ember"), install / "ember",
                    ignore=shutil.ignore_patterns("__pycache__"))
    code = """
        import glob, os, sys, numpy as np, ember
        from ember.kernels import numba_nn
        print(os.environ.get("NUMBA_CACHE_DIR"))
        if os.environ.get("LOCATION_ONLY"):
            sys.exit()
        x = np.linspace(-1, 1, 64, dtype=np.float32)
        assert (numba_nn.relu_backward(x, x) == ember.kernels.nn.relu_backward(x, x)).all()
        print(len(glob.glob(os.path.join(os.environ.get("NUMBA_CACHE_DIR", "/nonexistent"), "**", "*.nbi"),
                            recursive=True)))
        print(len(glob.glob(os.path.join(os.path.dirname(numba_nn.__file__), "**", "*.nbi"), recursive=True)))
    """
    # writable package: Numba caches next to the source and ember leaves NUMBA_CACHE_DIR alone
    lines = run_py(code, {"XDG_CACHE_HOME": str(tmp_path / "xdg")}, path=str(install)).splitlines()
    assert lines[0] == "None" and int(lines[2]) > 0
    shutil.rmtree(install / "ember" / "kernels" / "__pycache__")
    prefix = read_only_prefix(str(install))
    if prefix is None:
        pytest.skip("cannot make a read-only directory here (root without mount namespaces)")
    lines = run_py(code, {"XDG_CACHE_HOME": str(tmp_path / "xdg")}, path=str(install), prefix=prefix).splitlines()
    assert lines[0] == str(tmp_path / "xdg" / "ember" / "numba")
    assert int(lines[1]) > 0 and int(lines[2]) == 0
    # HOME's ~/.cache when XDG_CACHE_HOME is unset; a NUMBA_CACHE_DIR the user set wins
    env = {"HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": "", "LOCATION_ONLY": "1"}
    got = run_py(code, env, path=str(install), prefix=prefix).strip()
    assert got == str(tmp_path / "home" / ".cache" / "ember" / "numba")
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "mine"), "LOCATION_ONLY": "1"}
    assert run_py(code, env, path=str(install), prefix=prefix).strip() == str(tmp_path / "mine")


# -- fork safety of the default threading layer ----------------------------------------------------
def test_parallel_kernel_in_forked_child():
    pytest.importorskip("numba")
    run_py("""
        import os, numpy as np, ember
        from ember.kernels import numba_nn
        x = np.linspace(-1, 1, 1 << 16, dtype=np.float32)  # large enough for the parallel kernel
        want = ember.kernels.nn.relu_backward(x, x)
        assert (numba_nn.relu_backward(x, x) == want).all()  # the pool is running now
        pid = os.fork()
        if pid == 0:  # a DataLoader worker would be forked like this
            os._exit(0 if (numba_nn.relu_backward(x, x) == want).all() else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    """)


# -- determinism ----------------------------------------------------------------------------------
# OpenBLAS's result bits depend on its thread count (it picks kernels and splits work by
# it), so only the Numba kernels are required to give the same bits for any thread count:
# the third run uses 2 threads for Numba and 1 for BLAS (see docs/performance.md).
LENET_RUN = """
    import numpy as np, ember as torch
    from ember import _threads
    nn = torch.nn

    def losses(threads, blas_threads):
        torch.set_num_threads(threads)
        for set_blas, _ in _threads._openblas():
            set_blas(blas_threads)
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        x = torch.randn(64, 1, 28, 28)
        y = torch.randint(0, 10, (64,))
        out = []
        for _ in range(4):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            out.append(loss.item().hex())
        return out + [p.detach().numpy().tobytes().hex() for p in model.parameters()]

    print(" ".join(losses(1, 1)))
    print(" ".join(losses(2, 2)))
    print(" ".join(losses(2, 1)))
"""


def test_same_seed_same_bits_across_processes_and_numba_thread_counts():
    first = run_py(LENET_RUN).splitlines()
    second = run_py(LENET_RUN).splitlines()
    assert first == second  # two processes, same seed and thread counts: the same bits
    assert first[0] == first[2]  # Numba on 1 or 2 threads: the same bits
    assert len(set(first[0].split()[:4])) > 1  # the losses move: training happened
