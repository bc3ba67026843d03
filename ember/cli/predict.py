"""`ember predict CHECKPOINT INPUT...`: classify image files (via Pillow: converted to the
model's channels and resized to its input side) or images inside an IDX file, written
`idx:PATH:INDEX`; prints the class name and probability of each."""
import os
import re

import numpy as np

import ember
from ember.vision.datasets.mnist import read_idx

from . import _common
from ._common import CLIError


def add_parser(subparsers):
    p = subparsers.add_parser(
        "predict", help="classify images with a checkpoint",
        description="Classify images with a checkpoint written by `ember train`. An INPUT is an image file "
                    "(PNG, JPEG, ...; needs Pillow) or idx:PATH:INDEX, the INDEX-th image (from 0) of an IDX "
                    "image file such as t10k-images-idx3-ubyte.gz.")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="best.pt or last.pt from a training run")
    p.add_argument("inputs", metavar="INPUT", nargs="+", help="image file or idx:PATH:INDEX")
    p.add_argument("--top", type=_common.int_at_least(1), default=1, metavar="K",
                   help="how many classes to list per input (default 1)")
    p.add_argument("--invert", action="store_true",
                   help="invert image files first (dark object on a light background, unlike MNIST's)")
    p.set_defaults(run=run)
    return p


def _pil():
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


def _labels_beside(path):
    """The IDX label file that goes with an image file (t10k-images-... -> t10k-labels-...), if any."""
    name = os.path.basename(path)
    if "-images-" not in name:
        return None
    stem = name.replace("-images-idx3-", "-labels-idx1-")
    for candidate in (stem, stem[:-3] if stem.endswith(".gz") else stem + ".gz"):
        full = os.path.join(os.path.dirname(path), candidate)
        if os.path.isfile(full):
            return full
    return None


def read_idx_entry(spec, cache):
    """(uint8 image (H, W) or (H, W, C), true label or None) for `idx:PATH:INDEX`."""
    m = re.fullmatch(r"idx:(.+):(-?\d+)", spec)
    if m is None:
        raise CLIError(f"{spec!r}: expected idx:PATH:INDEX, e.g. idx:t10k-images-idx3-ubyte.gz:0", code=2)
    path, index = m.group(1), int(m.group(2))
    if path not in cache:
        if not os.path.isfile(path):
            raise CLIError(f"IDX file not found: {path}")
        try:
            images = read_idx(path)
            label_path = _labels_beside(path)
            labels = read_idx(label_path) if label_path else None
        except (ValueError, OSError) as e:
            raise CLIError(f"cannot read {path}: {e}") from None
        if images.ndim not in (3, 4):
            raise CLIError(f"{path} holds an array of shape {images.shape}, not a stack of images")
        if labels is not None and (labels.ndim != 1 or len(labels) != len(images)):
            labels = None
        cache[path] = images, labels
    images, labels = cache[path]
    if not 0 <= index < len(images):
        raise CLIError(f"{spec}: index {index} is out of range for the {len(images)} images in {path}")
    return images[index], (int(labels[index]) if labels is not None else None)


def to_input(image, config, invert=False):
    """A uint8 image array as the model's (1, C, side, side) normalised float32 input."""
    channels, side = config["in_channels"], config["side"]
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.shape[:2] != (side, side) or (image.ndim == 3) != (channels == 3):
        Image = _pil()
        if Image is None:
            raise CLIError(f"an image of shape {image.shape} must be converted to {channels}x{side}x{side}, "
                           "which needs Pillow: pip install pillow")
        pil = Image.fromarray(image).convert("L" if channels == 1 else "RGB")
        image = np.asarray(pil.resize((side, side), Image.BILINEAR))
    if invert:
        image = 255 - image
    chw = image[None] if image.ndim == 2 else image.transpose(2, 0, 1)
    return _common.normalize(chw[None], config["mean"], config["std"])


def read_image_file(path, config):
    Image = _pil()
    if Image is None:
        raise CLIError(f"reading {path} needs Pillow: pip install pillow (or give idx:PATH:INDEX entries)")
    if not os.path.isfile(path):
        raise CLIError(f"image not found: {path}")
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("L" if config["in_channels"] == 1 else "RGB"))
    except (OSError, ValueError) as e:  # Pillow's UnidentifiedImageError is an OSError
        raise CLIError(f"cannot read image {path}: {e}") from None


def run(args):
    ckpt = _common.load_checkpoint(args.checkpoint)
    config = ckpt["config"]
    classes = config["classes"]
    model = _common.model_from_checkpoint(ckpt, args.checkpoint)
    cache = {}
    for spec in args.inputs:
        truth = None
        if spec.startswith("idx:"):
            image, truth = read_idx_entry(spec, cache)
            x = to_input(image, config)
        else:
            x = to_input(read_image_file(spec, config), config, args.invert)
        with ember.no_grad():
            probs = model(ember.from_numpy(x)).softmax(1)[0].numpy()
        order = np.argsort(-probs, kind="stable")[:args.top]
        ranked = ", ".join(f"{classes[k]} {100 * probs[k]:.1f}%" for k in order)
        known = f"  (true: {classes[truth]})" if truth is not None and truth < len(classes) else ""
        print(f"{spec}: {ranked}{known}")
    return 0
