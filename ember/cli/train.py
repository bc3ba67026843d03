"""`ember train`: train a model-zoo network on Fashion-MNIST, MNIST or CIFAR-10.

    ember train                                   # LeNet-5 on Fashion-MNIST, about 90% test accuracy
    ember train --model mlp --optimizer adam --epochs 5
    ember train --dataset cifar10 --data-dir data --model resnet --augment
    ember train --resume runs/fashion-mnist-lenet-20250101-120000/last.pt

    mpiexec -n 4 ember train --distributed --batch-size 32  # data-parallel: global batch 4 x 32

Each split is decoded once into a normalised float32 tensor; a DataLoader deals out
shuffled batches of indices (a BatchSampler over a DistributedSampler, whose order
depends only on the seed and the epoch), so a batch is one fancy index into that
tensor, and augmentation is a vectorised NumPy pass over the batch. Everything random
draws from seeded generators whose states go into every checkpoint, so `--resume
last.pt` finishes with the same weights and metrics as a run that was never stopped.

With --distributed each of the N ranks started by mpiexec takes every N-th sample of
each global batch of N x --batch-size, and DistributedDataParallel averages the
gradients, so the run computes what one process with N times the batch would (up to
float rounding). Evaluation is shared out too; rank 0 alone prints and writes files,
and an error on any rank ends the whole job.
"""
import contextlib
import math
import os
import sys
import time

import numpy as np

import ember
import ember.nn.functional as F
from ember.utils.data import BatchSampler, DataLoader, DistributedSampler, TensorDataset, random_split
from ember.vision import models

from . import _common, figures
from ._world import World, end_job, join_ranks, load_shared_checkpoint
from ._common import CLIError, float_in, int_at_least

OPTIMIZERS = ("sgd", "nesterov", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULERS = ("none", "step", "exponential", "cosine", "onecycle", "plateau")
DEFAULTS = {
    "model": "lenet", "dataset": "fashion-mnist", "data_dir": None, "epochs": 10, "batch_size": 128, "lr": None,
    "optimizer": "sgd", "momentum": None, "weight_decay": None, "scheduler": "onecycle", "val_split": 0.0,
    "early_stopping": None, "augment": False, "seed": 0, "workers": 0, "threads": None,
}
# lr, momentum and weight decay that suit each optimizer (momentum None: the optimizer has none)
OPTIMIZER_DEFAULTS = {
    "sgd": (0.05, 0.9, 5e-4), "nesterov": (0.05, 0.9, 5e-4), "adam": (1e-3, None, 0.0),
    "adamw": (1e-3, None, 1e-2), "rmsprop": (1e-3, 0.0, 0.0), "adagrad": (1e-2, None, 0.0),
}
# options a resumed run may change: where things are and how fast they run, not what is computed
RESUME_OVERRIDES = ("data_dir", "workers", "threads")
# Test hook: with EMBER_TEST_FAIL_RANK=R and EMBER_TEST_FAIL_STEP=S set, rank R (0 without
# --distributed) raises a RuntimeError just before training step S (counted over the whole run),
# so tests can check that one failing rank ends a distributed job.
FAIL_RANK_VAR, FAIL_STEP_VAR = "EMBER_TEST_FAIL_RANK", "EMBER_TEST_FAIL_STEP"
GRAD_FLOW_POINTS = 20  # gradient-flow samples per epoch
STEP_SIZE_FRACTION, STEP_GAMMA, EXP_GAMMA = 3, 0.1, 0.8
PLATEAU_FACTOR, PLATEAU_PATIENCE = 0.5, 1
SHIFT_28, PAD_CIFAR = 2, 4


# -- command line --------------------------------------------------------------------------------
def add_parser(subparsers):
    d = DEFAULTS
    p = subparsers.add_parser(
        "train", help="train a network and report its test accuracy",
        description="Train a model-zoo network; print per-epoch metrics and the final test accuracy, per-class "
                    "accuracy and confusion matrix; leave metrics.json, best.pt, last.pt and figures in --out.")
    p.add_argument("--model", choices=list(models.MODELS), help=f"network (default {d['model']})")
    p.add_argument("--dataset", choices=list(_common.DATASETS), help=f"dataset (default {d['dataset']})")
    p.add_argument("--data-dir", metavar="DIR",
                   help="folder with the dataset's files (default: /usr/share/datasets/fashion-mnist for "
                        "fashion-mnist, ./data for the others)")
    p.add_argument("--epochs", metavar="N", type=int_at_least(1),
                   help=f"passes over the training set (default {d['epochs']})")
    p.add_argument("--batch-size", metavar="N", type=int_at_least(1),
                   help=f"samples per step (default {d['batch_size']})")
    p.add_argument("--lr", type=float_in(0, None, low_open=True),
                   help="learning rate (peak lr for onecycle; default 0.05 for sgd/nesterov, 0.001 for "
                        "adam/adamw/rmsprop, 0.01 for adagrad)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=f"update rule (default {d['optimizer']})")
    p.add_argument("--momentum", metavar="M", type=float_in(0, 1),
                   help="momentum for sgd, nesterov and rmsprop (default 0.9 for sgd/nesterov, 0 for rmsprop)")
    p.add_argument("--weight-decay", metavar="WD", type=float_in(0, None),
                   help="L2 penalty (decoupled for adamw; default 5e-4 for sgd/nesterov, 0.01 for adamw, else 0)")
    p.add_argument("--scheduler", choices=SCHEDULERS,
                   help=f"learning-rate schedule (default {d['scheduler']}): step divides by 10 every "
                        f"epochs/{STEP_SIZE_FRACTION} epochs, exponential multiplies by {EXP_GAMMA} per epoch, "
                        f"cosine anneals to 0 and onecycle warms up then anneals over all steps, plateau halves "
                        f"the lr when the monitored loss stops falling")
    p.add_argument("--val-split", metavar="FRACTION", type=float_in(0, 1),
                   help="fraction of the training set held out for validation; 0 monitors the test set instead "
                        f"(default {d['val_split']})")
    p.add_argument("--early-stopping", type=int_at_least(1), metavar="PATIENCE",
                   help="stop after PATIENCE epochs without a lower monitored loss")
    p.add_argument("--augment", action="store_true", default=None,
                   help="random crops with 4-pixel padding and horizontal flips (CIFAR-10) or random shifts of "
                        f"up to {SHIFT_28} pixels (28x28 datasets)")
    p.add_argument("--seed", metavar="N", type=int,
                   help=f"seed for initialisation, shuffling and augmentation (default {d['seed']})")
    p.add_argument("--workers", metavar="N", type=int_at_least(0),
                   help=f"DataLoader worker processes (default {d['workers']})")
    p.add_argument("--threads", metavar="N", type=int_at_least(1),
                   help="threads for ember's kernels (default: all cores)")
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default runs/<dataset>-<model>-<time>; with --resume, the checkpoint's folder)")
    p.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue the run saved in CHECKPOINT (its configuration is used)")
    p.add_argument("--distributed", action="store_true",
                   help="train data-parallel on the processes started by mpiexec (mpiexec -n N ember train "
                        "--distributed ...): --batch-size is per process, the global batch N times it; each "
                        "process uses cores/N threads unless --threads is given; needs mpi4py")
    p.set_defaults(run=run)
    return p


def resolve_config(args, load=_common.load_checkpoint):
    """The run's configuration: the checkpoint's when resuming (read with `load`), else the
    options over the defaults."""
    given = {k for k in DEFAULTS if getattr(args, k, None) is not None}
    if args.resume:
        ckpt = load(args.resume)
        config = dict(ckpt["config"])
        ignored = sorted(given - set(RESUME_OVERRIDES) - {"epochs"})
        if ignored:
            names = ", ".join("--" + k.replace("_", "-") for k in ignored)
            print(f"note: {names} ignored: a resumed run keeps its checkpoint's configuration", file=sys.stderr)
        for key in RESUME_OVERRIDES:
            if key in given:
                config[key] = getattr(args, key)
        if "epochs" in given and args.epochs != config["epochs"]:
            if config["scheduler"] in ("cosine", "onecycle"):
                raise CLIError(f"--epochs cannot change on resume with the {config['scheduler']} schedule, which "
                               f"spans the {config['epochs']} epochs it was set up for", code=2)
            config["epochs"] = args.epochs
        return config, ckpt
    config = {k: getattr(args, k) if k in given else v for k, v in DEFAULTS.items()}
    lr, momentum, weight_decay = OPTIMIZER_DEFAULTS[config["optimizer"]]
    if config["momentum"] is not None and momentum is None:
        raise CLIError(f"--momentum does not apply to {config['optimizer']} (only to sgd, nesterov and rmsprop)",
                       code=2)
    config["lr"] = lr if config["lr"] is None else config["lr"]
    config["momentum"] = momentum if config["momentum"] is None else config["momentum"]
    config["weight_decay"] = weight_decay if config["weight_decay"] is None else config["weight_decay"]
    if config["optimizer"] == "nesterov" and not config["momentum"]:
        raise CLIError("nesterov needs --momentum above 0", code=2)
    config["augment"] = bool(config["augment"])
    config.update(_common.dataset_meta(config["dataset"]))
    return config, None


# -- the pieces of a run -------------------------------------------------------------------------
def make_optimizer(config, params):
    name, lr, momentum, wd = config["optimizer"], config["lr"], config["momentum"], config["weight_decay"]
    if name in ("sgd", "nesterov"):
        return ember.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd, nesterov=name == "nesterov")
    if name == "adam":
        return ember.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return ember.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return ember.optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=wd)
    return ember.optim.Adagrad(params, lr=lr, weight_decay=wd)


def make_scheduler(config, optimizer, steps_per_epoch):
    """(scheduler or None, whether it steps after every batch rather than every epoch)."""
    sched, epochs = config["scheduler"], config["epochs"]
    S = ember.optim.lr_scheduler
    if sched == "step":
        return S.StepLR(optimizer, step_size=max(1, epochs // STEP_SIZE_FRACTION), gamma=STEP_GAMMA), False
    if sched == "exponential":
        return S.ExponentialLR(optimizer, gamma=EXP_GAMMA), False
    if sched == "plateau":
        return S.ReduceLROnPlateau(optimizer, factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE), False
    if sched == "cosine":
        return S.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch), True
    if sched == "onecycle":
        defaults = optimizer.defaults
        cycle = "betas" in defaults or defaults.get("momentum", 0) > 0  # cycle momentum only where there is one
        return S.OneCycleLR(optimizer, max_lr=config["lr"], total_steps=epochs * steps_per_epoch,
                            cycle_momentum=cycle), True
    return None, False


def augment_batch(x, rng, fill, pad, flip, rank=0, world=1):
    """Shift each image by up to `pad` pixels (padding with `fill`, the normalised black pixel,
    as RandomCrop(padding=pad) would), and mirror half of them when `flip`.

    `x` is rank `rank`'s share (every `world`-th sample) of a global batch: the random draws
    are made for the whole global batch and this rank keeps its share of them, so N ranks
    augment exactly as one process with the global batch would."""
    a = x.numpy()
    b, c, h, w = a.shape
    padded = np.empty((b, c, h + 2 * pad, w + 2 * pad), np.float32)
    padded[...] = fill
    padded[:, :, pad:pad + h, pad:pad + w] = a
    mine = slice(rank, b * world, world)
    rows = rng.integers(0, 2 * pad + 1, b * world)[mine, None] + np.arange(h)
    cols = rng.integers(0, 2 * pad + 1, b * world)[mine, None] + np.arange(w)
    if flip:  # a flipped crop reads its columns right to left
        mirror = rng.random(b * world)[mine] < 0.5
        cols[mirror] = cols[mirror, ::-1]
    out = padded[np.arange(b)[:, None, None, None], np.arange(c)[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]
    return ember.from_numpy(out)


def default_out(config):
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = os.path.join("runs", f"{config['dataset']}-{config['model']}-{stamp}")
    out, n = base, 1
    while os.path.exists(out):
        n += 1
        out = f"{base}-{n}"
    return out


class Run:
    """A training run: data, model, optimizer, scheduler, random streams and the record so far."""

    def __init__(self, config, out, world=None):
        self.config, self.out = config, out
        self.world = world = world or World()
        self._load_data()
        ember.manual_seed(config["seed"])
        self.model = _common.build_model(config)
        # under --distributed, DDP copies rank 0's weights to every rank and averages the gradients;
        # self.model stays the plain network, for checkpoints and evaluation
        self.net = ember.nn.parallel.DistributedDataParallel(self.model) if world.dist else self.model
        self.optimizer = make_optimizer(config, self.net.parameters())
        # separate streams, so that e.g. turning on augmentation leaves the shuffling alone
        self.loader_gen = ember.Generator().manual_seed(config["seed"])
        self.augment_gen = ember.Generator().manual_seed(config["seed"] + 1)
        dataset = TensorDataset(self.train_x, self.train_y)
        # rank r takes positions r, r + N, ... of each global batch of N x batch_size: the same
        # global batches as one process with the global batch size
        self.sampler = DistributedSampler(dataset, num_replicas=world.size, rank=world.rank, shuffle=True,
                                          seed=config["seed"], drop_last=False)
        batches = BatchSampler(self.sampler, config["batch_size"], False)
        # batch_size=None: each sampler item is a whole batch of indices, fetched with one index op
        self.loader = DataLoader(dataset, sampler=batches, batch_size=None, num_workers=config["workers"],
                                 generator=self.loader_gen)
        self.scheduler, self.per_step = make_scheduler(config, self.optimizer, len(self.loader))
        spec = _common.DATASETS[config["dataset"]]
        self.fill = (-np.asarray(spec.mean, np.float32) / np.asarray(spec.std, np.float32)).reshape(1, -1, 1, 1)
        self.epoch, self.step, self.history, self.best, self.bad_epochs, self.stopped_early = 0, 0, [], None, 0, False
        self.layers = [n for n, p in self.model.named_parameters() if p.requires_grad and not n.endswith("bias")]
        self.grad_flow = {"layers": self.layers, "step": [], "epoch": [], "mean": [], "max": []}
        self.grad_every = max(1, len(self.loader) // GRAD_FLOW_POINTS)
        fail_step = os.environ.get(FAIL_STEP_VAR, "")
        self.fail_step = int(fail_step) if fail_step and os.environ.get(FAIL_RANK_VAR) == str(world.rank) else None

    def _load_data(self):
        c = self.config
        x, y, classes = _common.load_split(c["dataset"], c["data_dir"], train=True)
        self.test_x, self.test_y, _ = _common.load_split(c["dataset"], c["data_dir"], train=False)
        c["classes"] = classes
        self.monitor = "val" if c["val_split"] > 0 else "test"
        if c["val_split"] > 0:
            n_val = int(len(x) * c["val_split"])
            if not 0 < n_val < len(x):
                raise CLIError(f"--val-split {c['val_split']} leaves no validation or no training images "
                               f"out of {len(x)}", code=2)
            split_gen = ember.Generator().manual_seed(c["seed"])
            train, val = random_split(TensorDataset(x, y), [len(x) - n_val, n_val], generator=split_gen)
            train_idx, val_idx = ember.tensor(train.indices), ember.tensor(val.indices)
            self.train_x, self.train_y = x[train_idx], y[train_idx]
            self.monitor_x, self.monitor_y = x[val_idx], y[val_idx]
        else:
            self.train_x, self.train_y = x, y
            self.monitor_x, self.monitor_y = self.test_x, self.test_y

    # -- checkpoints
    def state(self):
        return {
            "format": _common.CHECKPOINT_FORMAT, "version": _common.CHECKPOINT_VERSION, "config": self.config,
            "epoch": self.epoch, "step": self.step, "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "rng": {"ember": ember.get_rng_state(), "loader": self.loader_gen.get_state(),
                    "augment": self.augment_gen.get_state()},
            "best": self.best, "bad_epochs": self.bad_epochs, "stopped_early": self.stopped_early,
            "history": self.history, "grad_flow": self.grad_flow, "versions": _common.versions(),
            "world_size": self.world.size,
        }

    def restore(self, ckpt, path):
        try:
            self.model.load_state_dict(ckpt["model"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
            if self.scheduler is not None:
                self.scheduler.load_state_dict(ckpt["scheduler"])
            ember.set_rng_state(ckpt["rng"]["ember"])
            self.loader_gen.set_state(ckpt["rng"]["loader"])
            self.augment_gen.set_state(ckpt["rng"]["augment"])
            self.epoch, self.step = ckpt["epoch"], ckpt["step"]
            self.best, self.bad_epochs, self.stopped_early = ckpt["best"], ckpt["bad_epochs"], ckpt["stopped_early"]
            self.history, self.grad_flow = list(ckpt["history"]), ckpt["grad_flow"]
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise CLIError(f"checkpoint {path} cannot be resumed: {e}") from None

    # -- training
    def lr(self):
        return self.optimizer.param_groups[0]["lr"]

    def record_grad_flow(self):
        params = dict(self.model.named_parameters())
        grads = [params[n].grad for n in self.layers]
        self.grad_flow["step"].append(self.step)
        self.grad_flow["epoch"].append(self.epoch + 1)
        self.grad_flow["mean"].append([g.abs().mean().item() if g is not None else 0.0 for g in grads])
        self.grad_flow["max"].append([g.abs().max().item() if g is not None else 0.0 for g in grads])

    def train_epoch(self):
        """One pass over the training set; returns (mean loss, accuracy, samples/s), over all ranks."""
        c, world = self.config, self.world
        flip, pad = c["dataset"] == "cifar10", PAD_CIFAR if c["dataset"] == "cifar10" else SHIFT_28
        self.sampler.set_epoch(self.epoch)
        self.net.train()
        bar = _common.Progress(len(self.loader), f"epoch {self.epoch + 1}/{c['epochs']}", show=world.main)
        total_loss, correct, seen, start = 0.0, 0, 0, time.perf_counter()
        try:
            for xb, yb in self.loader:
                if self.step == self.fail_step:
                    raise RuntimeError(f"failing at step {self.step} as {FAIL_STEP_VAR} asks (a test hook)")
                if c["augment"]:
                    xb = augment_batch(xb, self.augment_gen.np, self.fill, pad, flip, world.rank, world.size)
                self.optimizer.zero_grad()
                out = self.net(xb)
                loss = F.cross_entropy(out, yb)
                loss.backward()
                if self.step % self.grad_every == 0:
                    self.record_grad_flow()
                self.optimizer.step()
                if self.per_step:
                    self.scheduler.step()
                self.step += 1
                n = len(yb)
                total_loss += loss.item() * n
                correct += int((out.argmax(1) == yb).sum().item())
                seen += n
                bar.update(total_loss / seen, correct / seen, seen / (time.perf_counter() - start))
        finally:
            bar.close()
        if world.size > 1:
            total_loss, correct, seen = world.sum([total_loss, correct, seen], np.float64).tolist()
        return total_loss / seen, correct / seen, seen / (time.perf_counter() - start)

    def evaluate(self, images, labels):
        """(mean loss, accuracy, confusion matrix) of the network on images/labels: each rank
        takes a contiguous slice, and the sums are added up over the ranks, so every rank
        gets the same numbers (and makes the same scheduling and stopping decisions)."""
        part = self.world.shard(len(images))
        loss, preds = _common.loss_sum_and_predictions(self.model, images[part], labels[part])
        confusion = _common.confusion_matrix(labels[part].numpy(), preds, len(self.config["classes"]))
        if self.world.size > 1:
            loss = float(self.world.sum([loss], np.float64)[0])
            confusion = self.world.sum(confusion, np.int64)
        n = max(len(images), 1)
        return loss / n, float(np.trace(confusion)) / n, confusion

    def end_epoch(self, train_loss, train_acc, rate, lrs, seconds):
        """Evaluate the monitor set, step epoch-wise schedules, keep the best; True when early stopping fires."""
        mon_loss, mon_acc, _ = self.evaluate(self.monitor_x, self.monitor_y)
        self.epoch += 1
        if not math.isfinite(train_loss):
            raise CLIError(f"training diverged in epoch {self.epoch} (loss {train_loss}): try a smaller --lr")
        if self.scheduler is not None and not self.per_step:
            if self.config["scheduler"] == "plateau":
                self.scheduler.step(mon_loss)
            else:
                self.scheduler.step()
        m = self.monitor
        self.history.append({"epoch": self.epoch, "train_loss": train_loss, "train_accuracy": train_acc,
                             f"{m}_loss": mon_loss, f"{m}_accuracy": mon_acc, "lr": lrs[0], "lr_end": lrs[1],
                             "samples_per_s": rate, "time_s": seconds})
        improved = self.best is None or mon_loss < self.best["loss"]
        if improved:
            self.best = {"epoch": self.epoch, "loss": mon_loss, "accuracy": mon_acc}
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        patience = self.config["early_stopping"]
        self.stopped_early = patience is not None and self.bad_epochs >= patience
        lr_text = f"{lrs[0]:.3g}" if lrs[0] == lrs[1] else f"{lrs[0]:.3g}->{lrs[1]:.3g}"
        if self.world.main:
            state = self.state()
            _common.save_checkpoint(state, os.path.join(self.out, "last.pt"))
            if improved:
                _common.save_checkpoint(state, os.path.join(self.out, "best.pt"))
        print(f"epoch {self.epoch:>3}/{self.config['epochs']}  train loss {train_loss:.4f} acc {100 * train_acc:.2f}%"
              f"  {m} loss {mon_loss:.4f} acc {100 * mon_acc:.2f}%  lr {lr_text}  {seconds:.1f}s"
              f"{'  *' if improved else ''}", flush=True)
        return self.stopped_early


# -- the command ---------------------------------------------------------------------------------
def run(args):
    if not args.distributed:
        return train(args, World())
    world, joined = join_ranks()
    try:
        with contextlib.ExitStack() as stack:
            if not world.main:  # the other ranks print nothing but errors
                sink = stack.enter_context(open(os.devnull, "w"))
                stack.enter_context(contextlib.redirect_stdout(sink))
                stack.enter_context(contextlib.redirect_stderr(sink))
            code = train(args, world)
    except BaseException as e:
        if world.size > 1:
            end_job(world, e)
        if joined:
            world.dist.destroy_process_group()
        raise  # a world of one: ember.cli.main reports it as usual
    if joined:
        world.dist.destroy_process_group()
    return code


def check_resume_world(job, ckpt, path):
    """A checkpoint saved by a job of another size: the global batch changes. Fine for epoch-wise
    schedules; a per-step schedule was laid out for the old number of steps per epoch."""
    before, now = ckpt.get("world_size", 1), job.world.size
    if before == now:
        return
    batch = job.config["batch_size"]
    old_steps = ckpt["step"] // ckpt["epoch"] if ckpt["epoch"] else len(job.loader)
    if job.per_step and old_steps != len(job.loader):
        raise CLIError(f"{path} was saved by a job of {before} rank{'s' if before != 1 else ''} ({old_steps} steps "
                       f"per epoch); its {job.config['scheduler']} schedule, laid out step by step, does not fit "
                       f"{now} rank{'s' if now != 1 else ''} ({len(job.loader)} steps per epoch): resume with "
                       f"mpiexec -n {before}", code=2)
    print(f"note: {path} was saved by a job of {before} rank{'s' if before != 1 else ''} (global batch "
          f"{batch * before}); continuing on {now} (global batch {batch * now})", file=sys.stderr)


def train(args, world):
    """`ember train` on this rank of `world` (a World of one without --distributed)."""
    load = _common.load_checkpoint if world.size == 1 else (lambda path: load_shared_checkpoint(path, world))
    config, ckpt = resolve_config(args, load)
    threads = config["threads"]
    if threads is None and world.dist is not None:
        threads = world.dist.threads_per_rank()
    if threads is not None and hasattr(ember, "set_num_threads"):
        ember.set_num_threads(threads)
    out = None
    if world.main:  # rank 0 names the folder (default_out looks at what exists) and tells the others
        out = args.out or (os.path.dirname(os.path.abspath(args.resume)) if args.resume else default_out(config))
    out = world.share(out)
    job = Run(config, out, world)  # loads the data first: a missing data set leaves no empty output folder
    if world.main:
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as e:
            raise CLIError(f"cannot create the output folder {out}: {e}") from None
    if ckpt is not None:
        job.restore(ckpt, args.resume)
        check_resume_world(job, ckpt, args.resume)
    print(describe(job), flush=True)
    if world.dist is not None:
        batch = config["batch_size"]
        print(f"  distributed: {world.size} rank{'s' if world.size != 1 else ''} x batch {batch} = global batch "
              f"{world.size * batch}, {threads} thread{'s' if threads != 1 else ''} per rank", flush=True)
    if job.monitor == "test" and config["early_stopping"]:
        print("note: early stopping watches the test set; pass --val-split for an unbiased test accuracy",
              file=sys.stderr)
    if ckpt is not None:
        print(f"Resuming from {args.resume} after epoch {job.epoch}", flush=True)
    metrics = {"config": config, "versions": _common.versions(), "monitor": job.monitor, "world_size": world.size}
    try:
        while job.epoch < config["epochs"] and not job.stopped_early:
            lr, t0 = job.lr(), time.perf_counter()
            train_loss, train_acc, rate = job.train_epoch()
            job.end_epoch(train_loss, train_acc, rate, (lr, job.lr()), time.perf_counter() - t0)
            if world.main:
                _common.write_json(dict(metrics, history=job.history, best=job.best, grad_flow=job.grad_flow),
                                   os.path.join(out, "metrics.json"))
    except KeyboardInterrupt:
        last = os.path.join(out, "last.pt")
        again = f"mpiexec -n {world.size} ember train --distributed" if world.dist is not None else "ember train"
        where = f"{last} holds epoch {job.epoch}; continue with: {again} --resume {last}" if job.epoch \
            else "no epoch finished, nothing was saved"
        print(f"\ninterrupted in epoch {job.epoch + 1}: {where}", file=sys.stderr)
        if world.size > 1:
            raise  # the whole job must end
        return 130
    finish(job, metrics)
    return 0


def describe(job):
    c = job.config
    sizes = f"{len(job.train_x)} training, " + (f"{len(job.monitor_x)} validation, " if job.monitor == "val" else "")
    momentum = f" momentum {c['momentum']:g}" if c["momentum"] else ""
    peak = "max " if c["scheduler"] == "onecycle" else ""
    return (f"Training {c['model']} on {_common.DATASETS[c['dataset']].title} ({sizes}{len(job.test_x)} test images) "
            f"for {c['epochs']} epoch{'s' if c['epochs'] != 1 else ''}, monitoring the {job.monitor} set\n"
            f"  {c['optimizer']} {peak}lr {c['lr']:g}{momentum} weight decay {c['weight_decay']:g}, {c['scheduler']} "
            f"schedule, batch {c['batch_size']}{', augmented' if c['augment'] else ''}; output in {job.out}")


def finish(job, metrics):
    """Test the final weights, print the report, write metrics.json and the figures."""
    c, out = job.config, job.out
    if job.stopped_early:
        print(f"Early stopping after epoch {job.epoch}: no lower {job.monitor} loss for {c['early_stopping']} epochs")
    test_loss, _, confusion = job.evaluate(job.test_x, job.test_y)
    print()
    print(_common.test_report(confusion, c["classes"], test_loss))
    train_time = sum(h["time_s"] for h in job.history)  # all epochs, resumed ones included
    metrics.update(
        history=job.history, best=job.best, epochs_run=job.epoch, stopped_early=job.stopped_early,
        train_time_s=train_time,
        test={"loss": test_loss, "accuracy": float(np.trace(confusion)) / max(int(confusion.sum()), 1),
              "per_class_accuracy": dict(zip(c["classes"], _common.per_class_accuracy(confusion).tolist())),
              "confusion_matrix": confusion.tolist()},
        grad_flow=job.grad_flow)
    if not job.world.main:
        return
    written, skipped = figures.save_all(out, job.history, job.monitor, confusion, c["classes"], job.grad_flow)
    metrics["figures"] = [os.path.basename(p) for p in written]
    _common.write_json(metrics, os.path.join(out, "metrics.json"))
    print()
    if skipped:
        print(skipped)
    files = ["metrics.json", "last.pt"] + ([f"best.pt (epoch {job.best['epoch']})"] if job.best else [])
    print(f"Saved in {out}: {', '.join(files + metrics['figures'])}")
    print(f"Training took {train_time:.1f}s. Test accuracy: {100 * metrics['test']['accuracy']:.2f}%")
