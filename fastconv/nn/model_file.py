"""The model file: a Sequential's architecture (JSON) and parameters in one .npz, written and read safely.

Layout: ``architecture.npy`` holds ``{"format": 1, "layers": [{"type": ..., "config": ...}, ...]}``
as a JSON string; ``param:{index}.{name}.npy`` holds each parameter and
``buffer:{index}.{name}.npy`` each buffer (state saved but not trained, such
as BatchNorm2d's running statistics). Reading
trusts nothing: the file's size, the names and declared sizes of its members,
the architecture and every parameter's shape and dtype are checked before a
layer is built or an array is read, so a small crafted file cannot make the
reader allocate much, and every flaw is one ValueError that names the file.
"""

import json
import zipfile

import numpy as np

from .._files import check_file_size, write_atomically
from .._geometry import SUPPORTED_DTYPES

FORMAT_VERSION = 1
MAX_FILE_BYTES = 2**30  # a model file; the arrays it declares may not add up to more either
MAX_ARCHITECTURE_BYTES = 2**20
MAX_LAYERS = 10_000
ARCHITECTURE = "architecture.npy"
# Member prefix -> (the layer attribute holding those arrays, the classmethod giving their shapes).
STATE = {"param:": ("params", "parameter_shapes"), "buffer:": ("buffers", "buffer_shapes")}
BUFFER_DTYPES = (*SUPPORTED_DTYPES, np.dtype(np.int64))
_TUPLE_KEYS = ("kernel_size", "stride", "padding", "dilation", "output_padding")


def save_model(model, path):
    """Write ``model`` (a Sequential) to ``path`` (.npz), atomically."""
    architecture = [{"type": type(layer).__name__, "config": layer.config()} for layer in model.layers]
    arrays = {"architecture": np.array(json.dumps({"format": FORMAT_VERSION, "layers": architecture}))}
    arrays.update({f"param:{k}": v for k, v in model.parameters().items()})
    arrays.update({f"buffer:{k}": v for k, v in model.buffers().items()})
    write_atomically(path, lambda f: np.savez(f, **arrays))


class _Flaw(ValueError):
    """What is wrong with a model file, before the file's name is put in front."""


def load_layers(path, layer_types):
    """The layers of the model saved at ``path``, parameters bit-exact; ``layer_types`` maps names to classes."""
    try:
        check_file_size(path, MAX_FILE_BYTES, "model file")
        with zipfile.ZipFile(path) as archive:
            members = _members(archive)
            spec = _architecture(archive, members.pop(ARCHITECTURE, None))
            entries = _layer_entries(spec, layer_types)
            expected = _expected_parameters(entries, layer_types)
            headers = {key: _array_header(archive, info) for key, info in members.items()}
            _check_parameters(headers, expected)
            layers = _build(entries, layer_types)
            for (prefix, name), info in members.items():
                index, _, key = name.partition(".")
                target = getattr(layers[int(index)], STATE[prefix][0])[key]
                if headers[prefix, name][1] != target.dtype:
                    raise _Flaw(f"{prefix}{name} is {headers[prefix, name][1]}, the layer's is {target.dtype}")
                with archive.open(info) as f:
                    target[...] = np.lib.format.read_array(f, allow_pickle=False)
    except _Flaw as flaw:
        raise ValueError(f"{path}: not a fastconv model file: {flaw}") from None
    except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, KeyError, RuntimeError) as exc:
        if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError):
            raise ValueError(f"{path}: cannot read the model file ({exc.strerror or exc})") from None
        raise ValueError(f"{path}: not a fastconv model file ({type(exc).__name__}: {exc})") from None
    return layers


def _members(archive):
    """{ARCHITECTURE or (prefix, "index.name"): ZipInfo}; a flaw for any other member or too much declared data."""
    members, total = {}, 0
    for info in archive.infolist():
        name = info.filename
        prefix = next((p for p in STATE if name.startswith(p)), None)
        if name == ARCHITECTURE:
            members[name] = info
        elif prefix and name.endswith(".npy"):
            members[prefix, name[len(prefix) : -len(".npy")]] = info
        else:
            raise _Flaw(f"unexpected member {name!r}")
        total += info.file_size
    if total > MAX_FILE_BYTES:
        raise _Flaw(f"its members declare {total} bytes, more than {MAX_FILE_BYTES}")
    return members


def _architecture(archive, info):
    if info is None:
        raise _Flaw("no architecture")
    if info.file_size > MAX_ARCHITECTURE_BYTES:
        raise _Flaw(f"architecture of {info.file_size} bytes (at most {MAX_ARCHITECTURE_BYTES})")
    with archive.open(info) as f:
        text = np.lib.format.read_array(f, allow_pickle=False)
    if text.dtype.kind != "U" or text.shape != ():
        raise _Flaw("architecture is not a JSON string")
    try:
        return json.loads(str(text))
    except (ValueError, RecursionError) as exc:
        raise _Flaw(f"architecture is not valid JSON ({type(exc).__name__})") from None


def _layer_entries(spec, layer_types):
    """[(type name, config dict)] from the architecture, each checked for form (not yet for values)."""
    if not isinstance(spec, dict) or spec.get("format") != FORMAT_VERSION:
        found = spec.get("format") if isinstance(spec, dict) else type(spec).__name__
        raise _Flaw(f"model format {found!r}, expected {FORMAT_VERSION}")
    layers = spec.get("layers")
    if not isinstance(layers, list) or len(layers) > MAX_LAYERS:
        raise _Flaw(f"'layers' must be a list of at most {MAX_LAYERS} layers")
    entries = []
    for i, entry in enumerate(layers):
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
            raise _Flaw(f"layer {i} is not a {{'type': ..., 'config': {{...}}}} entry")
        if entry.get("type") not in layer_types:
            raise _Flaw(f"layer {i} has unknown type {entry.get('type')!r} (known: {', '.join(layer_types)})")
        config = {
            str(k): tuple(v) if k in _TUPLE_KEYS and isinstance(v, list) else v for k, v in entry["config"].items()
        }
        entries.append((entry["type"], config))
    return entries


def _expected_parameters(entries, layer_types):
    """{(prefix, "index.name"): shape} of the arrays the architecture's layers will hold, without building them."""
    expected = {}
    for i, (type_name, config) in enumerate(entries):
        for prefix, (_, shapes_of) in STATE.items():
            try:
                shapes = getattr(layer_types[type_name], shapes_of)(config)
            except (TypeError, ValueError, KeyError) as exc:
                raise _Flaw(f"layer {i} ({type_name}) has a bad config: {exc}") from None
            expected.update({(prefix, f"{i}.{name}"): tuple(shape) for name, shape in shapes.items()})
    return expected


def _array_header(archive, info):
    """(shape, dtype) of a stored array, read from its header; a flaw if its data would not fit the member."""
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise _Flaw(f"{info.filename} has npy version {version}")
    if dtype not in BUFFER_DTYPES or (info.filename.startswith("param:") and dtype not in SUPPORTED_DTYPES):
        raise _Flaw(f"{info.filename} holds {dtype}, not float32 or float64 (or int64, for a buffer)")
    if int(np.prod(shape, dtype=object)) * dtype.itemsize > info.file_size:
        raise _Flaw(f"{info.filename} declares shape {shape} but holds fewer bytes")
    return tuple(shape), dtype


def _check_parameters(headers, expected):
    if set(headers) != set(expected):
        found, wanted = (sorted("".join(key) for key in keys) for keys in (headers, expected))
        raise _Flaw(f"arrays {found} do not match the architecture's {wanted}")
    for key, (shape, _) in headers.items():
        if shape != expected[key]:
            raise _Flaw(f"{''.join(key)} has shape {shape}, expected {expected[key]}")


def _build(entries, layer_types):
    layers = []
    for i, (type_name, config) in enumerate(entries):
        try:
            layers.append(layer_types[type_name](**config))
        except (TypeError, ValueError) as exc:
            raise _Flaw(f"layer {i} ({type_name}) has a bad config: {exc}") from None
    return layers
