"""Rumelhart, Hinton & Williams (1986), "Learning representations by back-propagating
errors" (Nature 323, 533-536), experiment 1: detecting mirror symmetry (seed 003's assignment).

    python examples/rumelhart1986_symmetry.py [--seeds 20] [--max-sweeps 20000] [--fast]

The paper's protocol, as followed here:
  * all 64 binary vectors of 6 inputs; the target is 1 when the vector is symmetric about
    its centre (8 of them), else 0;
  * 6 inputs -> 2 logistic hidden units -> 1 logistic output unit; biases are weights from
    an always-on unit, so they are initialised and learned like the other weights;
  * error E = 1/2 * sum over patterns of (output - target)^2;
  * one weight change per sweep through all 64 patterns (the accumulated gradient), with
    momentum: dw(t) = -eps dE/dw + alpha dw(t-1), eps = 0.1, alpha = 0.9 -- this is
    torch.optim.SGD(lr=0.1, momentum=0.9) on the summed error;
  * initial weights uniform in [-0.3, 0.3].
The paper reports that learning took 1,425 sweeps. We train one network per seed and report:
  * sweeps to solution: the first sweep after which every output is within 0.5 of its
    target, i.e. every pattern is classified correctly (our choice of criterion);
  * then training goes on until every output is within --tolerance (0.1) of its target,
    and the input->hidden weights are inspected for the paper's solution: for each hidden
    unit, mirror-image inputs have weights of equal magnitude and opposite sign, and the
    three mirror pairs' magnitudes are in the ratio 1:2:4 (so an asymmetric input never
    sums to zero); per run we print the pair ratios and the antisymmetry error
    max |w_i + w_mirror(i)| / (|w_i| + |w_mirror(i)|);
  * runs with no solution within --max-sweeps, counted as stuck.
What the defaults (20 seeds, 20000 sweeps) give: 18 runs solve, median about 2500 sweeps
(from about 700 to 15600); 13 of them find the paper's 1:2:4 weights, the other 5 an
antisymmetric solution with magnitudes about 2:3:4, which also keeps every asymmetric input
away from zero. Every run first sits on a plateau at E = 4 (every output near 0, "not
symmetric"); the 2 stuck runs are still on it after 20000 sweeps. It behaves as a local
minimum at that budget, but given 150000 sweeps both of them leave it (after about 22700
and 35700 sweeps).
"""
import argparse
import dataclasses
import itertools
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import ember as torch  # noqa: E402  (import torch)
import ember.nn as nn  # noqa: E402  (import torch.nn as nn)

PAIRS = [(0, 5), (1, 4), (2, 3)]  # mirror-image input positions


class SymmetryNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(6, 2)
        self.output = nn.Linear(2, 1)

    def forward(self, x):
        return torch.sigmoid(self.output(torch.sigmoid(self.hidden(x))))


def symmetry_data():
    """All 64 six-bit input vectors and their targets (1.0 for the 8 symmetric ones)."""
    X = torch.tensor(list(itertools.product([0.0, 1.0], repeat=6)))
    y = (X == X.flip(1)).all(dim=1, keepdim=True).float()
    return X, y


@dataclasses.dataclass
class Run:
    seed: int
    net: SymmetryNet
    solved_at: int  # the first sweep with every output within 0.5 of its target; None if never
    sweeps: int  # sweeps run
    errors: list  # E before each sweep's update
    units: list  # inspect_hidden() of the final input->hidden weights


def train(seed, X, y, max_sweeps, tolerance):
    torch.manual_seed(seed)
    net = SymmetryNet()
    for p in net.parameters():
        nn.init.uniform_(p, -0.3, 0.3)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    solved_at, errors = None, []
    for sweep in range(max_sweeps + 1):
        out = net(X)
        E = 0.5 * ((out - y) ** 2).sum()
        errors.append(E.item())
        worst = (out - y).abs().max().item()
        if solved_at is None and worst < 0.5:
            solved_at = sweep
        if worst < tolerance or sweep == max_sweeps:
            break
        optimizer.zero_grad()
        E.backward()
        optimizer.step()
    return Run(seed, net, solved_at, sweep, errors, inspect_hidden(net.hidden.weight.detach()))


def inspect_hidden(weight):
    """Per hidden unit: (antisymmetry error, pair-magnitude ratios smallest-first)."""
    units = []
    for w in weight.tolist():
        # 0 when w[i] = -w[5-i] exactly; 1 when the pair has equal signs
        anti = max(abs(w[i] + w[j]) / (abs(w[i]) + abs(w[j]) + 1e-12) for i, j in PAIRS)
        magnitudes = sorted((abs(w[i]) + abs(w[j])) / 2 for i, j in PAIRS)
        units.append((anti, [m / magnitudes[0] for m in magnitudes]))
    return units


def is_paper_solution(units, anti_tol=0.05, ratio_tol=0.1):
    return all(anti < anti_tol and abs(r[1] / 2 - 1) < ratio_tol and abs(r[2] / 4 - 1) < ratio_tol
               for anti, r in units)


def describe(units):
    if is_paper_solution(units):
        return "the paper's solution (antisymmetric, pair magnitudes 1:2:4)"
    if all(anti < 0.05 for anti, _ in units):
        ratios = ", ".join(f"1:{r[1]:.2f}:{r[2]:.2f}" for _, r in units)
        return f"another solution (antisymmetric, pair magnitudes {ratios})"
    return "another solution (not antisymmetric)"


def report(run, X, y, args):
    out = run.net(X).detach()
    if run.solved_at is None:
        correct = int(((out > 0.5).float() == y).sum().item())
        says = " (answers 'not symmetric' to every input)" if (out < 0.5).all().item() else ""
        print(f"seed {run.seed:2d}: not solved in {run.sweeps} sweeps: E = {run.errors[-1]:.3f}, "
              f"{correct}/64 correct{says}")
        return
    print(f"seed {run.seed:2d}: solved after {run.solved_at} sweeps (all within {args.tolerance} after {run.sweeps}); "
          f"{describe(run.units)}")
    hidden, output = run.net.hidden, run.net.output
    for h, ((anti, ratios), w, b) in enumerate(zip(run.units, hidden.weight.tolist(), hidden.bias.tolist())):
        print(f"    hidden {h + 1}: weights [{' '.join(f'{v:6.2f}' for v in w)}]  bias {b:5.2f}  "
              f"pair ratios 1 : {ratios[1]:.2f} : {ratios[2]:.2f}  antisymmetry {anti:.3f}")
    print(f"    output: weights [{' '.join(f'{v:6.2f}' for v in output.weight.tolist()[0])}]  "
          f"bias {output.bias.item():5.2f}")


def save_plot(path, draw):
    """draw(plt) into the PNG `path`, or say why not when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")  # files only, no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: plot {path} skipped")
        return
    plt.figure()
    draw(plt)
    plt.tight_layout()
    plt.savefig(path)
    plt.close()
    print(f"plot saved to {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20, help="number of runs (seeds 0..N-1)")
    ap.add_argument("--max-sweeps", type=int, default=20000)
    ap.add_argument("--tolerance", type=float, default=0.1,
                    help="train on until every output is this close to its target, then inspect the weights")
    ap.add_argument("--plot", default="rumelhart1986_symmetry.png", help="where to save the error curves")
    ap.add_argument("--fast", action="store_true", help="4 seeds, at most 3000 sweeps (for tests)")
    args = ap.parse_args()
    if args.fast:
        args.seeds, args.max_sweeps = 4, 3000

    X, y = symmetry_data()
    print(f"{len(X)} patterns, {int(y.sum().item())} symmetric; 6-2-1 logistic net, eps=0.1, alpha=0.9, "
          f"weights U(-0.3, 0.3), full-batch; up to {args.max_sweeps} sweeps per run")
    print("solved = every output within 0.5 of its target; weights inspected once every output is within "
          f"{args.tolerance}\n")
    runs, start = [], time.perf_counter()
    for seed in range(args.seeds):
        run = train(seed, X, y, args.max_sweeps, args.tolerance)
        runs.append(run)
        report(run, X, y, args)

    solved = [r for r in runs if r.solved_at is not None]
    paper = [r for r in solved if is_paper_solution(r.units)]
    others = [r for r in solved if r not in paper]
    stuck = [r for r in runs if r.solved_at is None]
    print(f"\nsummary over {len(runs)} seeds ({time.perf_counter() - start:.1f} s):")
    line = f"  solved: {len(solved)}/{len(runs)}"
    if solved:
        counts = [r.solved_at for r in solved]
        line += (f"; sweeps to solution: median {statistics.median(counts):.0f}, min {min(counts)}, "
                 f"max {max(counts)} (paper: 1425)")
    print(line)
    line = f"  stuck (no solution within {args.max_sweeps} sweeps): {len(stuck)}"
    if stuck:
        line += " (" + ", ".join(f"seed {r.seed}: E = {r.errors[-1]:.3f}" for r in stuck) + ")"
    print(line)
    print(f"  paper's pattern (opposite signs across the mirror, magnitudes 1:2:4): {len(paper)}/{len(solved)} "
          "solved runs")
    if others:
        print(f"  other solutions: {len(others)} (" + "; ".join(
            f"seed {r.seed}: " + ", ".join(f"1:{q[1]:.2f}:{q[2]:.2f}" for _, q in r.units) for r in others) + ")")

    def draw(plt):
        plt.title("Symmetry detection: error per sweep")
        for r in runs:
            stuck = r.solved_at is None
            plt.semilogy(r.errors, label=f"seed {r.seed} (stuck)" if stuck else None,
                         color="tab:red" if stuck else "tab:blue", alpha=0.6)
        plt.axvline(1425, color="k", linestyle="--", label="paper: 1425 sweeps")
        plt.legend()
        plt.xlabel("Sweep")
        plt.ylabel("E = 1/2 sum (y - d)^2")
    save_plot(args.plot, draw)


if __name__ == "__main__":
    main()
