"""Running named checks on every rank of an MPI job and reporting them from rank 0.

A worker makes a table `CHECKS = Checks()`, registers checks with `@CHECKS(name, group)` and runs
a group's checks in order on every rank with `CHECKS.run(group)`. A check passes by returning,
skips by raising Skip, and fails with any other exception or when it noted a problem with
`CHECKS.note(message)`: noting lets a rank whose result is wrong carry on with the collectives the
other ranks are making, where raising would leave them waiting for it. After each check the ranks
swap (status, message) over MPI.COMM_WORLD (not through ember, which is what is under test) and
rank 0 prints one line per check:

    CHECK {"name": "...", "ranks": [["pass", ""], ["fail", "traceback..."]]}

tests/distributed/mpi_launch.py reads these lines (parse_checks) and the CHECKS table (checks_of).
"""
import json
import sys
import traceback

TAG = "CHECK "


class Skip(Exception):
    """Raised by a check that does not apply (say, point-to-point in a world of one)."""


class Checks(dict):
    """A worker's checks: name -> (group, function), in the order defined. An instance is also the
    decorator that registers them: `@CHECKS(name=None, group="main")`."""

    problems = ()  # what the running check noted

    def note(self, message):
        self.problems.append(message)

    def __call__(self, name=None, group="main"):
        def register(fn):
            key = name or fn.__name__
            if key in self:
                raise ValueError(f"two checks named {key!r}")
            self[key] = (group, fn)
            return fn
        return register

    def run(self, group="main"):
        """Run every check of `group` on this rank, in step with the others; returns how many failed here."""
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
        failed = 0
        for name, (g, fn) in self.items():
            if g != group:
                continue
            self.problems = []
            try:
                fn()
                result = ("fail", "\n".join(self.problems[:3] + [f"({len(self.problems)} problems)"])) \
                    if self.problems else ("pass", "")
            except Skip as e:
                result = ("skip", str(e))
            except Exception:  # noqa: BLE001 -- any failure of the check is its result
                result = ("fail", "\n".join(self.problems[:3] + [traceback.format_exc(limit=6)]))
            failed += result[0] == "fail"
            everyone = comm.allgather(result)
            if comm.Get_rank() == 0:
                sys.stdout.write(TAG + json.dumps({"name": name, "ranks": everyone}) + "\n")
                sys.stdout.flush()
        return failed
