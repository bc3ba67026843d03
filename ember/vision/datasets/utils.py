"""What the datasets share: the VisionDataset base (repr, transforms), optional Pillow,
and downloading (streamed to a temporary file, MD5-checked, renamed into place) with
gzip/tar extraction that never leaves a half-written file under its final name."""
import gzip
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request

try:  # Pillow is optional: without it datasets hand out uint8 NumPy arrays
    from PIL import Image
except ImportError:
    Image = None

try:  # ember.utils.data.Dataset when present, so datasets combine with `+` like torch's
    from ...utils.data import Dataset as _DatasetBase
except ImportError:
    _DatasetBase = object

_CHUNK = 1 << 20
USER_AGENT = "ember"


# -- the dataset base ----------------------------------------------------------------------
class StandardTransform:
    """Applies `transform` to the input and `target_transform` to the target."""

    def __init__(self, transform=None, target_transform=None):
        self.transform = transform
        self.target_transform = target_transform

    def __call__(self, input, target):
        if self.transform is not None:
            input = self.transform(input)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return input, target

    def _format(self, transform, head):
        lines = repr(transform).splitlines()
        return [head + lines[0]] + [" " * len(head) + line for line in lines[1:]]

    def __repr__(self):
        body = [type(self).__name__]
        if self.transform is not None:
            body += self._format(self.transform, "Transform: ")
        if self.target_transform is not None:
            body += self._format(self.target_transform, "Target transform: ")
        return "\n".join(body)


class VisionDataset(_DatasetBase):
    """torchvision's VisionDataset: root, transform/target_transform and the repr."""

    _repr_indent = 4

    def __init__(self, root=None, transforms=None, transform=None, target_transform=None):
        if isinstance(root, str):
            root = os.path.expanduser(root)
        self.root = root
        separate = transform is not None or target_transform is not None
        if transforms is not None and separate:
            raise ValueError("Only transforms or transform/target_transform can be passed as argument")
        self.transform = transform
        self.target_transform = target_transform
        self.transforms = StandardTransform(transform, target_transform) if separate else transforms

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError

    def extra_repr(self):
        return ""

    def __repr__(self):
        body = [f"Number of datapoints: {len(self)}"]
        if self.root is not None:
            body.append(f"Root location: {self.root}")
        body += self.extra_repr().splitlines()
        if self.transforms is not None:
            body.append(repr(self.transforms))
        # NOTE: like torchvision, only the first line of a multi-line entry is indented
        return "\n".join(["Dataset " + type(self).__name__] + [" " * self._repr_indent + line for line in body])


def to_image(array):
    """A PIL image of a uint8 HW or HWC array, or (without Pillow) a copy of the array."""
    if Image is None:
        return array.copy()
    return Image.fromarray(array)


def require_pil(what):
    if Image is None:
        raise ImportError(f"{what} needs Pillow, which is not installed: pip install pillow")
    return Image


# -- integrity --------------------------------------------------------------------------------
def calculate_md5(path, chunk_size=_CHUNK):
    md5 = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            md5.update(chunk)
    return md5.hexdigest()


def check_integrity(path, md5=None):
    """True when `path` exists and (if md5 is given) its MD5 matches."""
    if not os.path.isfile(path):
        return False
    return md5 is None or calculate_md5(path) == md5


# -- downloading ------------------------------------------------------------------------------
def _partial_file(directory, name):
    # a temporary file beside the target, so that the final os.replace is atomic
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
    return os.fdopen(fd, "wb"), tmp


def _commit(fh, tmp, path):
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _discard(fh, tmp):
    fh.close()
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def download_url(url, root, filename=None, md5=None, timeout=60):
    """Download `url` to `root/filename`: streamed through a temporary file, checked against
    `md5`, then renamed into place. Returns the path; a checksum mismatch raises RuntimeError
    and leaves nothing behind."""
    root = os.path.expanduser(root)
    filename = filename or os.path.basename(url)
    path = os.path.join(root, filename)
    if check_integrity(path, md5):
        return path
    os.makedirs(root, exist_ok=True)
    fh, tmp = _partial_file(root, filename)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                fh.write(chunk)
        if md5 is not None and digest.hexdigest() != md5:
            raise RuntimeError(
                f"checksum mismatch for {url}: expected MD5 {md5}, got {digest.hexdigest()}; "
                "the download was discarded (corrupted transfer or a mirror serving another file)"
            )
        _commit(fh, tmp, path)
    except BaseException:
        _discard(fh, tmp)
        raise
    return path


def download_from_mirrors(mirrors, filename, root, md5=None):
    """Try each mirror in turn; raise RuntimeError listing every failure if none works."""
    errors = []
    for mirror in mirrors:
        url = mirror + filename
        try:
            return download_url(url, root, filename, md5)
        except (OSError, http.client.HTTPException, RuntimeError) as e:
            reason = e.reason if isinstance(e, urllib.error.URLError) else e
            errors.append(f"  {url}: {reason}")
    raise RuntimeError(f"could not download {filename}:\n" + "\n".join(errors))


# -- extraction -------------------------------------------------------------------------------
def _extract_gzip(from_path, to_path):
    fh, tmp = _partial_file(os.path.dirname(to_path) or ".", os.path.basename(to_path))
    try:
        with gzip.open(from_path, "rb") as src:
            shutil.copyfileobj(src, fh, _CHUNK)
        _commit(fh, tmp, to_path)
    except BaseException:
        _discard(fh, tmp)
        raise


def _safe_members(tar, archive):
    for member in tar.getmembers():
        name = member.name
        if os.path.isabs(name) or ".." in name.replace("\\", "/").split("/"):
            raise RuntimeError(f"{archive}: refusing to extract {name!r} outside the target folder")
        if not (member.isfile() or member.isdir()):
            raise RuntimeError(f"{archive}: refusing to extract {name!r} (links and devices are not allowed)")
        yield member


def _extract_tar(from_path, to_path):
    # extract into a private folder, then move each file into place atomically
    staging = tempfile.mkdtemp(prefix=".extract.", dir=to_path)
    try:
        with tarfile.open(from_path, "r:*") as tar:
            members = list(_safe_members(tar, from_path))
            if hasattr(tarfile, "data_filter"):
                tar.extractall(staging, members=members, filter="data")
            else:
                tar.extractall(staging, members=members)
        for dirpath, _, filenames in os.walk(staging):
            target_dir = os.path.join(to_path, os.path.relpath(dirpath, staging))
            os.makedirs(target_dir, exist_ok=True)
            for name in filenames:
                os.replace(os.path.join(dirpath, name), os.path.join(target_dir, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def extract_archive(from_path, to_path=None, remove_finished=False):
    """Extract a .tar(.gz/.tgz/.bz2/.xz) or .gz file next to it (or into `to_path`)."""
    to_path = to_path or os.path.dirname(from_path)
    name = os.path.basename(from_path)
    if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz")):
        _extract_tar(from_path, to_path)
    elif name.endswith(".gz"):
        _extract_gzip(from_path, os.path.join(to_path, name[:-3]))
    else:
        raise RuntimeError(f"don't know how to extract {from_path} (expected .tar, .tar.gz, .tgz or .gz)")
    if remove_finished:
        os.remove(from_path)
    return to_path


def download_and_extract_archive(mirrors, filename, download_root, extract_root=None, md5=None,
                                 remove_finished=False):
    path = download_from_mirrors(mirrors, filename, download_root, md5)
    return extract_archive(path, extract_root or download_root, remove_finished)


# -- reading bounded amounts ----------------------------------------------------------------
def read_exactly(f, n, path, what):
    """Read exactly n bytes in chunks (so a forged size in a header cannot make us allocate
    more than the file holds); a short read raises ValueError naming the file."""
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(_CHUNK * 16, n - len(buf)))
        if not chunk:
            raise ValueError(f"{path}: truncated {what}: expected {n} bytes, found {len(buf)}")
        buf += chunk
    return buf
