"""`ember evaluate CHECKPOINT`: recompute a checkpoint's test metrics (accuracy, per-class
accuracy, confusion matrix); the checkpoint names its model and dataset."""
from . import _common


def add_parser(subparsers):
    p = subparsers.add_parser("evaluate", help="test a checkpoint written by `ember train`",
                              description="Recompute the test metrics of a checkpoint written by `ember train`.")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="best.pt or last.pt from a training run")
    p.add_argument("--data-dir", metavar="DIR", help="dataset folder (default: the one the run used)")
    p.add_argument("--split", choices=("test", "train"), default="test", help="which split to score (default test)")
    p.add_argument("--batch-size", type=_common.int_at_least(1), default=1000, metavar="N",
                   help="samples per forward pass (default 1000)")
    p.set_defaults(run=run)
    return p


def run(args):
    ckpt = _common.load_checkpoint(args.checkpoint)
    config = ckpt["config"]
    model = _common.model_from_checkpoint(ckpt, args.checkpoint)
    images, labels, _ = _common.load_split(config["dataset"], args.data_dir or config["data_dir"],
                                           train=args.split == "train")
    loss, _, preds = _common.evaluate(model, images, labels, args.batch_size)
    confusion = _common.confusion_matrix(labels.numpy(), preds, len(config["classes"]))
    title = _common.DATASETS[config["dataset"]].title
    print(f"{args.checkpoint}: {config['model']} on {title}, after epoch {ckpt['epoch']}")
    print(_common.test_report(confusion, config["classes"], loss, title=args.split.capitalize()))
    return 0
