"""The restricted unpickler: resolves only allowed globals, refuses instance-making opcodes,
and pre-scans a pickle's declared sizes before anything is allocated."""
import pickle
import pickletools


class RestrictedUnpickler(pickle._Unpickler):
    """An Unpickler that resolves only the globals in `allowed` ((module, name) -> object);
    any other global raises pickle.UnpicklingError naming it.

    BUILD (which sets an object's state) is allowed only on fresh instances of
    `build_types`, never on a shared global; opcodes that make instances of a class
    (INST, OBJ, NEWOBJ) are refused. Python's pickle implementation is used because its
    BUILD can be checked; the pickles read here are small next to the tensors' bytes."""

    forbidden = frozenset({"INST", "OBJ", "NEWOBJ", "NEWOBJ_EX"})

    def __init__(self, file, allowed, why, build_types=(), **kwargs):
        super().__init__(file, **kwargs)
        self._allowed, self._why, self._build_types = allowed, why, tuple(build_types)

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except (KeyError, TypeError):
            raise pickle.UnpicklingError(f"refusing to load global '{module}.{name}': {self._why}") from None

    def _load_build(self):
        target = self.stack[-2] if len(self.stack) > 1 else None
        if type(target) not in self._build_types:
            raise pickle.UnpicklingError(f"BUILD on a {type(target).__name__} is not allowed")
        pickle._Unpickler.load_build(self)

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BUILD[0]] = _load_build


def _scan_pickle(stream, forbidden):
    """Walk the opcodes without running them, so that lengths and memo indices declared in
    the pickle are checked against the data before anything is allocated for them (the C
    unpickler would allocate a declared 4 GiB bytes object or memo table before reading)."""
    start, count = stream.tell(), 0
    for opcode, arg, _ in pickletools.genops(stream):
        count += 1
        if opcode.name in forbidden:
            raise pickle.UnpicklingError(f"opcode {opcode.name} is not allowed here")
        if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT") and arg > count:
            raise pickle.UnpicklingError(f"memo index {arg} is out of range")
    stream.seek(start)


def restricted_load(stream, unpickler, source):
    """unpickler.load() for a RestrictedUnpickler reading `stream` (seekable), after checking
    the pickle's opcodes and declared sizes; any failure on malformed data is a
    pickle.UnpicklingError naming the source."""
    try:
        _scan_pickle(stream, unpickler.forbidden)
        return unpickler.load()
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(f"{source}: {e}") from e
    except Exception as e:  # wrong argument types to an allowed function, truncated stream, ...
        raise pickle.UnpicklingError(f"{source}: malformed pickle data ({type(e).__name__}: {e})") from e


def _latin1_encode(obj, encoding="utf-8", errors="strict"):
    # protocol-2 pickles written by Python 3 spell bytes as _codecs.encode(text, "latin1")
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is only allowed for latin1 text")
    return obj.encode("latin1")


def _no_size(cls):
    def make(*args):
        if args and isinstance(args[0], int):  # bytes(10**12) would allocate
            raise pickle.UnpicklingError(f"{cls.__name__}(int) is not allowed")
        return cls(*args)
    return make


SAFE_BUILTINS = {("_codecs", "encode"): _latin1_encode}
for _module in ("builtins", "__builtin__"):
    SAFE_BUILTINS.update({(_module, "dict"): dict, (_module, "list"): list, (_module, "tuple"): tuple,
                          (_module, "set"): set, (_module, "frozenset"): frozenset,
                          (_module, "bytes"): _no_size(bytes), (_module, "bytearray"): _no_size(bytearray)})
