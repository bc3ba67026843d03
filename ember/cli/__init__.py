"""The `ember` command: train, evaluate and predict with the model zoo.

    ember train [options]            (also: python -m ember train)
    mpiexec -n N ember train --distributed [options]   (data-parallel over N processes)
    ember evaluate CHECKPOINT
    ember predict CHECKPOINT IMAGE...

`main(argv)` returns the exit status instead of exiting, so tests can call it in-process.
Problems the user can fix (bad options, missing data, an unreadable checkpoint) print one
message and return non-zero; only bugs show a traceback.
"""
import argparse
import sys

from ._common import CLIError

__all__ = ["main"]


def build_parser():
    from . import evaluate, predict, train

    parser = argparse.ArgumentParser(prog="ember", description="Train, evaluate and use ember's model zoo.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    train.add_parser(sub)
    evaluate.add_parser(sub)
    predict.add_parser(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed usage and the error (or the help)
        return e.code if isinstance(e.code, int) else 2
    try:
        return args.run(args)
    except CLIError as e:
        print(f"ember {args.command}: error: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print(f"\nember {args.command}: interrupted", file=sys.stderr)
        return 130
