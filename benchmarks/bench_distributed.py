"""Data-parallel benchmark: ember's DDP over MPI against PyTorch's DDP over gloo, and a scaling estimate.

    python benchmarks/bench_distributed.py [--steps N] [--batch B] [--model lenet|mlp]
                                           [--sizes full|small] [--no-torch] [--json OUT]

The script launches itself under `mpiexec --oversubscribe --bind-to none -n 1` and `-n 2`
(one thread per rank; unbound, so on a shared machine the OS can move a rank off a busy
core) and prints:
  (a) training throughput (samples/s over all ranks) with DDP and SGD at per-rank batch B,
      for 1 and 2 ranks, the scaling efficiency, and the ember/torch ratios. Each worker runs
      both frameworks in the same processes (ember over MPI, torch over gloo on 127.0.0.1),
      alternating blocks of steps so drift in machine speed hits both alike;
  (b) allreduce between 2 ranks from 4 KiB to 64 MiB (float32): time, algorithm bandwidth
      size/time, bus bandwidth 2(n-1)/n * size/time, and the latency of a 4-byte allreduce,
      with mpi4py's own Allreduce on NumPy arrays beside it (what ember adds on top of MPI);
  (c) the compute time of one training step on 1 rank without DDP, and the gradient bytes
      the step would reduce, for the model and for a 10-layer 1024-wide MLP;
  (d) throughput and efficiency estimated from (c) for 8 and 64 ranks on 10 and 100 Gbit/s
      networks with a ring allreduce.
Nothing here asserts on time.
"""
import argparse
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SELF = os.path.abspath(__file__)
ROOT = os.path.dirname(os.path.dirname(SELF))
KIB, MIB = 1024, 1024 * 1024
FULL_SIZES = [4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, 1 * MIB, 4 * MIB, 16 * MIB, 64 * MIB]
SMALL_SIZES = [4 * KIB, 64 * KIB, 1 * MIB]
LARGE = "mlp-1024x10"  # the model of the estimate's second half: 10.3 M parameters, 41 MB of gradients
# network name: (bytes/s, latency per ring hop in seconds)
NETWORKS = {"10 Gbit/s": (10e9 / 8, 20e-6), "100 Gbit/s": (100e9 / 8, 5e-6)}
ESTIMATE_RANKS = (8, 64)
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100, help="timed training steps per framework (default 100)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first (default 5)")
    ap.add_argument("--batch", type=int, default=64, help="batch per rank (default 64)")
    ap.add_argument("--model", choices=("lenet", "mlp"), default="lenet")
    ap.add_argument("--sizes", choices=("full", "small"), default="full", help="allreduce sizes: 4 KiB-64 MiB, "
                    "or three small ones")
    ap.add_argument("--repeat", type=int, default=1, help="launch the 1- and 2-rank training runs this many times, "
                    "alternately, and report medians (default 1)")
    ap.add_argument("--no-torch", action="store_true", help="ember only")
    ap.add_argument("--json", metavar="OUT", help="write all results to this JSON file")
    ap.add_argument("--worker", choices=("train", "allreduce"), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--extra-sizes", nargs="*", default=[], help=argparse.SUPPRESS)
    return ap.parse_args(argv)


# -- models, written against the PyTorch API ----------------------------------------------------
def torch_mirror(T, name):
    """The torch twin of ember.vision.models' LeNet5 / MLP (same parameter order and shapes)."""
    nn = T.nn
    if name == "lenet":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                             nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
                             nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                         nn.Linear(64, 10))


def wide_mlp(T, width=1024, layers=10):
    nn = T.nn
    mods = [nn.Flatten(), nn.Linear(784, width), nn.ReLU()]
    for _ in range(layers - 1):
        mods += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*mods, nn.Linear(width, 10))


def grad_bytes(model):
    return sum(p.numel() * p.element_size() for p in model.parameters())


# -- workers (run under mpiexec) -------------------------------------------------------------------
def _frameworks(args):
    import ember
    ember.set_num_threads(1)
    fws = {"ember": ember}
    if not args.no_torch:
        import torch
        torch.set_num_threads(1)
        fws["torch"] = torch
    return fws


def _join(fws):
    """ember's MPI group, torch's gloo group (rank and size from Open MPI's variables), MPI's world."""
    import ember.distributed as dist
    from mpi4py import MPI
    dist.init_process_group("mpi")
    if "torch" in fws:
        import torch.distributed as tdist
        rank, world = int(os.environ["OMPI_COMM_WORLD_RANK"]), int(os.environ["OMPI_COMM_WORLD_SIZE"])
        tdist.init_process_group("gloo", rank=rank, world_size=world)
    return MPI.COMM_WORLD


def _leave(fws):
    import ember.distributed as dist
    dist.destroy_process_group()
    if "torch" in fws:
        fws["torch"].distributed.destroy_process_group()


def _trainer(T, model, x, y, ddp):
    if ddp:
        model = T.nn.parallel.DistributedDataParallel(model)
    opt = T.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = T.nn.CrossEntropyLoss()
    losses = []

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return step, losses


def _timed_blocks(comm, runs, warmup, steps, block):
    """Alternate blocks of `block` steps between the runs; seconds per block of the slowest rank."""
    from mpi4py import MPI
    for step, _ in runs.values():
        for _ in range(warmup):
            step()
    times = {k: [] for k in runs}
    for _ in range(max(1, steps // block)):
        for k, (step, _) in runs.items():
            comm.Barrier()
            t = time.perf_counter()
            for _ in range(block):
                step()
            times[k].append(comm.allreduce(time.perf_counter() - t, op=MPI.MAX))
    return times


def _median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def worker_train(args):
    import numpy as np
    fws = _frameworks(args)
    comm = _join(fws)
    rank, world = comm.Get_rank(), comm.Get_size()
    import ember
    from ember.vision import models
    rng = np.random.default_rng(rank)
    xs = rng.standard_normal((args.batch, 1, 28, 28)).astype(np.float32)
    ys = rng.integers(0, 10, args.batch).astype(np.int64)
    built = {}
    ember.manual_seed(0)
    built["ember"] = models.create(args.model, 1, 28, 10)
    if "torch" in fws:
        torch = fws["torch"]
        built["torch"] = torch_mirror(torch, args.model)
        with torch.no_grad():
            for pt, pe in zip(built["torch"].parameters(), built["ember"].parameters(), strict=True):
                assert tuple(pt.shape) == tuple(pe.shape), (pt.shape, pe.shape)
                pt.copy_(torch.from_numpy(pe.detach().numpy().copy()))
    block = max(1, min(10, args.steps // 3))
    runs = {}
    for name, T in fws.items():
        runs[name] = _trainer(T, built[name], T.tensor(xs), T.tensor(ys), ddp=True)
    times = _timed_blocks(comm, runs, args.warmup, args.steps, block)
    out = {"ranks": world, "block_steps": block, "train": {}}
    for name in fws:
        per_block = _median(times[name])
        losses = runs[name][1]
        out["train"][name] = {"step_s": per_block / block, "samples_per_s": world * args.batch * block / per_block,
                              "block_s": times[name], "loss_first": losses[0], "loss_last": losses[-1]}
    if world == 1:  # (c): the same step without DDP, and the large model's
        out["compute"] = {}
        for label, make, steps, warm in ((args.model, None, args.steps, args.warmup),
                                         (LARGE, wide_mlp, max(3, args.steps // 10), 2)):
            runs = {}
            for name, T in fws.items():
                if make is None:
                    model = models.create(args.model, 1, 28, 10) if T is ember else torch_mirror(T, args.model)
                else:
                    model = make(T)
                runs[name] = _trainer(T, model, T.tensor(xs), T.tensor(ys), ddp=False)
            blk = max(1, min(block, steps // 3))
            times = _timed_blocks(comm, runs, warm, steps, blk)
            nbytes = grad_bytes(model)
            out["compute"][label] = {"grad_bytes": nbytes, "params": nbytes // 4, "buckets": _buckets(model),
                                     **{name: {"step_s": _median(times[name]) / blk} for name in fws}}
    _leave(fws)
    if rank == 0:
        with open(args.out, "w") as f:
            json.dump(out, f)


def _buckets(model):
    """How many allreduces DDP's buckets make of these gradients (1 MiB first, then 25 MiB; float32)."""
    sizes = [p.numel() * p.element_size() for p in model.parameters()][::-1]
    count, filled, cap = 0, 0, MIB
    for s in sizes:
        filled += s
        if filled >= cap:
            count, filled, cap = count + 1, 0, 25 * MIB
    return count + (filled > 0)


def worker_allreduce(args):
    import numpy as np
    fws = _frameworks(args)
    comm = _join(fws)
    import ember
    import ember.distributed as dist
    world = comm.Get_size()
    sizes = SMALL_SIZES if args.sizes == "small" else FULL_SIZES
    sizes = sorted(set(sizes + [int(b) for b in args.extra_sizes]))

    def timed(fn, reps):
        fn()
        fn()
        comm.Barrier()
        per = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            per.append(time.perf_counter() - t)
        return comm.allreduce(_median(per), op=MPI.MAX)

    from mpi4py import MPI
    out = {"ranks": world, "sizes": []}
    for size in sizes:
        n = size // 4
        reps = max(5, min(300, 128 * MIB // size))
        row = {"bytes": size, "reps": reps}
        e = ember.ones(n)
        row["ember"] = timed(lambda: dist.all_reduce(e), reps)
        a = np.ones(n, np.float32)
        row["mpi4py"] = timed(lambda: comm.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM), reps)
        if "torch" in fws:
            t = fws["torch"].ones(n)
            row["torch"] = timed(lambda: fws["torch"].distributed.all_reduce(t), reps)
        out["sizes"].append(row)
    one, e1 = np.ones(1, np.float32), ember.ones(1)
    lat = {"ember": timed(lambda: dist.all_reduce(e1), 500),
           "mpi4py": timed(lambda: comm.Allreduce(MPI.IN_PLACE, one, op=MPI.SUM), 500)}
    if "torch" in fws:
        t1 = fws["torch"].ones(1)
        lat["torch"] = timed(lambda: fws["torch"].distributed.all_reduce(t1), 500)
    out["latency_s"] = lat
    _leave(fws)
    if comm.Get_rank() == 0:
        with open(args.out, "w") as f:
            json.dump(out, f)


# -- the parent: launch, collect, print ----------------------------------------------------------
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(ranks, worker, args, extra=()):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
    env.update({v: "1" for v in THREAD_VARS})
    fd, out = tempfile.mkstemp(suffix=".json", prefix="bench_distributed_")
    os.close(fd)
    cmd = ["mpiexec", "--oversubscribe", "--bind-to", "none", "-n", str(ranks), sys.executable, SELF,
           "--worker", worker, "--out", out, "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--batch", str(args.batch), "--model", args.model, "--sizes", args.sizes, *extra]
    if args.no_torch:
        cmd.append("--no-torch")
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{' '.join(cmd[:6])} ... --worker {worker} failed ({proc.returncode}):\n"
                     f"{proc.stdout}{proc.stderr}")
        with open(out) as f:
            return json.load(f)
    finally:
        os.unlink(out)


def combine(runs):
    """Several launches' results as one: the median of each timing (throughputs, compute times)."""
    out = runs[0]
    for fw, r in out["train"].items():
        r["launches_samples_per_s"] = [x["train"][fw]["samples_per_s"] for x in runs]
        r["samples_per_s"] = _median(r["launches_samples_per_s"])
        r["step_s"] = _median([x["train"][fw]["step_s"] for x in runs])
    for label, c in out.get("compute", {}).items():
        for fw, v in c.items():
            if isinstance(v, dict):
                v["step_s"] = _median([x["compute"][label][fw]["step_s"] for x in runs])
    return out


def ring_comm_s(nbytes, ranks, bandwidth, hop_latency, buckets=1):
    """Ring allreduce of nbytes over `ranks`: 2(N-1)/N * S / B + 2(N-1) hops of latency per bucket."""
    return 2 * (ranks - 1) / ranks * nbytes / bandwidth + buckets * 2 * (ranks - 1) * hop_latency


def estimate(compute, batch, fws):
    rows = []
    for model, c in compute.items():
        for fw in fws:
            tc = c[fw]["step_s"]
            for net, (bw, lat) in NETWORKS.items():
                for n in ESTIMATE_RANKS:
                    tm = ring_comm_s(c["grad_bytes"], n, bw, lat, c["buckets"])
                    serial, overlap = tc + tm, max(tc, tm)
                    rows.append({"model": model, "framework": fw, "network": net, "ranks": n,
                                 "t_compute_s": tc, "t_comm_s": tm, "batch_comm_equals_compute": batch * tm / tc,
                                 "samples_per_s_no_overlap": n * batch / serial, "efficiency_no_overlap": tc / serial,
                                 "samples_per_s_overlap": n * batch / overlap, "efficiency_overlap": tc / overlap})
    return rows


def _size_text(b):
    if b % MIB == 0:
        return f"{b // MIB} MiB"
    return f"{b // KIB} KiB" if b % KIB == 0 else f"{b / 1e6:.2f} MB"


def main(args):
    if shutil.which("mpiexec") is None or importlib.util.find_spec("mpi4py") is None:
        sys.exit("bench_distributed needs mpiexec and mpi4py: apt-get install -y openmpi-bin libopenmpi-dev && "
                 "pip install mpi4py")
    import numpy as np
    import ember
    fws = ["ember"] + ([] if args.no_torch else ["torch"])
    versions = f"ember {ember.__version__}  numpy {np.__version__}"
    if not args.no_torch:
        import torch
        versions += f"  torch {torch.__version__}"
    import mpi4py  # not mpi4py.MPI: that would start MPI in this launcher process
    mpirun = subprocess.run(["mpiexec", "--version"], capture_output=True, text=True).stdout.splitlines()
    versions += f"  mpi4py {mpi4py.__version__}  {mpirun[0] if mpirun else 'mpiexec ?'}"
    print(f"{versions}\ncores {os.cpu_count()}, 1 thread per rank, "
          f"ranks started by mpiexec --oversubscribe --bind-to none\n")

    t0 = time.perf_counter()
    runs = {1: [], 2: []}
    for _ in range(max(1, args.repeat)):  # alternately, so drift in machine speed hits both
        for n in runs:
            runs[n].append(launch(n, "train", args))
    one, two = combine(runs[1]), combine(runs[2])
    compute = one["compute"]
    # the allreduce sweep also times the model's exact gradient size, for the 2-rank prediction below
    ar = launch(2, "allreduce", args, ["--extra-sizes", str(compute[args.model]["grad_bytes"])])
    wall = time.perf_counter() - t0

    # (a) -----------------------------------------------------------------------------------------
    print(f"(a) training throughput: {args.model} with DDP, SGD momentum, per-rank batch {args.batch}, synthetic "
          f"28x28 data; {args.steps} timed steps after {args.warmup} warm-up,\n    samples/s over all ranks from "
          f"the median block of {one['block_steps']} steps (slowest rank)"
          + (f", median of {args.repeat} launches" if args.repeat > 1 else ""))
    head = f"{'ranks':>7}" + "".join(f"{fw + ' smp/s':>14}{fw + ' ms':>11}" for fw in fws) + f"{'ember/torch':>13}"
    print(head + "\n" + "-" * len(head))
    train = {"model": args.model, "batch_per_rank": args.batch, "steps": args.steps, "ranks": {}}
    for res in (one, two):
        r = res["train"]
        train["ranks"][str(res["ranks"])] = r
        cells = "".join(f"{r[fw]['samples_per_s']:>14.0f}{1e3 * r[fw]['step_s']:>11.2f}" for fw in fws)
        ratio = f"{r['ember']['step_s'] / r['torch']['step_s']:.2f}" if "torch" in r else "-"
        print(f"{res['ranks']:>7}{cells}{ratio:>13}")
    train["efficiency"] = {fw: two["train"][fw]["samples_per_s"] / (2 * one["train"][fw]["samples_per_s"])
                           for fw in fws}
    print("scaling efficiency 1 -> 2 ranks (throughput(2) / 2 throughput(1)): "
          + ", ".join(f"{fw} {100 * e:.0f}%" for fw, e in train["efficiency"].items()))
    falls = all(r[fw]["loss_last"] < r[fw]["loss_first"] for r in (one["train"], two["train"]) for fw in fws)
    print(f"losses fall: {'ok' if falls else 'FAIL'}\n")

    # (b) -----------------------------------------------------------------------------------------
    n = ar["ranks"]
    print(f"(b) allreduce of float32 tensors between {n} ranks on this machine (median call, slowest rank);"
          f"\n    algbw = size/time, busbw = 2(n-1)/n * size/time")
    head = f"{'size':>10}{'ember us':>11}{'algbw GB/s':>12}{'busbw GB/s':>12}{'mpi4py us':>11}"
    if "torch" in fws:
        head += f"{'torch us':>11}{'busbw GB/s':>12}{'ember/torch':>13}"
    print(head + "\n" + "-" * len(head))
    for row in ar["sizes"]:
        for fw in ["mpi4py"] + fws:
            t = row[fw]
            row[fw] = {"time_s": t, "algbw_GBps": row["bytes"] / t / 1e9,
                       "busbw_GBps": 2 * (n - 1) / n * row["bytes"] / t / 1e9}
        mark = "*" if row["bytes"] == compute[args.model]["grad_bytes"] else ""
        line = (f"{mark + _size_text(row['bytes']):>10}{1e6 * row['ember']['time_s']:>11.0f}"
                f"{row['ember']['algbw_GBps']:>12.2f}{row['ember']['busbw_GBps']:>12.2f}"
                f"{1e6 * row['mpi4py']['time_s']:>11.0f}")
        if "torch" in fws:
            line += (f"{1e6 * row['torch']['time_s']:>11.0f}{row['torch']['busbw_GBps']:>12.2f}"
                     f"{row['ember']['time_s'] / row['torch']['time_s']:>13.2f}")
        print(line)
    lat = ar["latency_s"]
    print("latency of a 4-byte allreduce: " + ", ".join(f"{k} {1e6 * v:.1f} us" for k, v in lat.items())
          + "  (ember's all_reduce first agrees on the call with one small Allgather)")
    print(f"* the size of {args.model}'s gradients\n")

    # (c) -----------------------------------------------------------------------------------------
    print("(c) one training step on 1 rank without DDP (no communication), and the gradient it would reduce")
    head = f"{'model':>13}{'params':>11}{'grad MB':>9}{'buckets':>9}" + "".join(f"{fw + ' ms':>11}" for fw in fws)
    print(head + "\n" + "-" * len(head))
    for name, c in compute.items():
        print(f"{name:>13}{c['params']:>11}{c['grad_bytes'] / 1e6:>9.2f}{c['buckets']:>9}"
              + "".join(f"{1e3 * c[fw]['step_s']:>11.2f}" for fw in fws))
    g = compute[args.model]["grad_bytes"]
    t_ar = next(r["ember"]["time_s"] for r in ar["sizes"] if r["bytes"] == g)
    tc = compute[args.model]["ember"]["step_s"]
    predicted = 2 * args.batch / (tc + t_ar)
    print(f"check on this machine: 2 ranks predicted from compute {1e3 * tc:.2f} ms + measured allreduce of "
          f"{g / 1e6:.2f} MB {1e3 * t_ar:.2f} ms (no overlap): {predicted:.0f} samples/s; measured "
          f"{two['train']['ember']['samples_per_s']:.0f}\n")

    # (d) -----------------------------------------------------------------------------------------
    rows = estimate(compute, args.batch, fws)
    print(f"(d) estimated scaling, per-rank batch {args.batch}: ring allreduce T_comm = 2(N-1)/N * S/B_net + "
          f"buckets * 2(N-1) * latency,\n    latency per hop 20 us on 10 Gbit/s (TCP), 5 us on 100 Gbit/s (RDMA); "
          f"full link bandwidth assumed.\n    no overlap: T_step = T_compute + T_comm;  overlap: max(T_compute, "
          f"T_comm); efficiency = T_compute / T_step;\n    B=: the per-rank batch at which "
          f"T_comm = T_compute (compute taken as proportional to batch): below it communication dominates")
    head = (f"{'model':>13}{'fw':>7}{'network':>12}{'ranks':>7}{'comp ms':>9}{'comm ms':>9}"
            f"{'smp/s serial':>14}{'eff':>6}{'smp/s overlap':>15}{'eff':>6}{'B=':>6}")
    print(head + "\n" + "-" * len(head))
    for r in rows:
        print(f"{r['model']:>13}{r['framework']:>7}{r['network']:>12}{r['ranks']:>7}{1e3 * r['t_compute_s']:>9.2f}"
              f"{1e3 * r['t_comm_s']:>9.2f}{r['samples_per_s_no_overlap']:>14.0f}"
              f"{100 * r['efficiency_no_overlap']:>5.0f}%{r['samples_per_s_overlap']:>15.0f}"
              f"{100 * r['efficiency_overlap']:>5.0f}%{r['batch_comm_equals_compute']:>6.0f}")
    print(f"\nbenchmark wall time {wall:.0f} s")

    if args.json:
        settings = {k: v for k, v in vars(args).items() if k not in ("worker", "out", "extra_sizes")}
        result = {"machine": {"cores": os.cpu_count(), "versions": versions}, "args": settings,
                  "train": train, "allreduce": {"ranks": n, "sizes": ar["sizes"], "latency_s": lat},
                  "compute": compute,
                  "check_2_ranks": {"predicted_samples_per_s": predicted,
                                    "measured_samples_per_s": two["train"]["ember"]["samples_per_s"]},
                  "estimate": {"networks": {k: {"bytes_per_s": b, "hop_latency_s": lat_}
                                            for k, (b, lat_) in NETWORKS.items()}, "rows": rows},
                  "wall_s": wall}
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    ARGS = parse()
    sys.path.insert(0, ROOT)  # the ember of this checkout
    if ARGS.worker:
        {"train": worker_train, "allreduce": worker_allreduce}[ARGS.worker](ARGS)
        # Leave without Python's finalisation: gloo's worker threads may still try to take the GIL
        # while the interpreter shuts down, which aborts the process (seen with torch 2.13).
        from mpi4py import MPI
        sys.stdout.flush()
        sys.stderr.flush()
        MPI.Finalize()
        os._exit(0)
    else:
        main(ARGS)
