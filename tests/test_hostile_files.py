"""Crafted files (bombs, truncations, bit flips, absurd headers, malicious pickles) give one clear ValueError.

Each group of files is read in a child process under an address-space limit,
so that a regression fails (MemoryError) instead of swapping, and the child
reports its peak memory, which must stay under 300 MB.
"""

import gzip
import io
import json
import pickle
import struct
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from fastconv import nn

PEAK_LIMIT_MB = 300
ADDRESS_SPACE_LIMIT = 3 * 2**30

CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
from fastconv import nn
from fastconv.training import data
readers = {{"idx": data.read_idx, "cifar": data.read_cifar_batch, "model": nn.load}}
outcome = {{}}
for kind, path in json.loads(sys.argv[1]):
    try:
        readers[kind](path)
        outcome[path] = "read without error"
    except ValueError as exc:
        outcome[path] = "ValueError: " + str(exc)
    except BaseException as exc:
        outcome[path] = f"{{type(exc).__name__}}: {{exc}}"
# VmHWM: this process's own peak (ru_maxrss would count the parent's size at the fork)
status = open("/proc/self/status").read().split("VmHWM:")[1]
outcome["peak_mb"] = int(status.split()[0]) / 1024
print(json.dumps(outcome))
"""


def read_in_child(cases):
    """{path: "ValueError: ..." or another outcome} and the child's peak memory for [(kind, path)]."""
    code = CHILD.format(limit=ADDRESS_SPACE_LIMIT)
    listing = json.dumps([(kind, str(path)) for kind, path in cases])
    result = subprocess.run([sys.executable, "-c", code, listing], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout)
    return outcome, outcome.pop("peak_mb")


def assert_clear_errors(outcome, expected):
    """Each file gave a one-line ValueError naming it and saying ``expected[path]``."""
    for path, phrase in expected.items():
        message = outcome[str(path)]
        assert message.startswith("ValueError: "), message
        assert str(path) in message and "\n" not in message, message
        assert phrase in message, (phrase, message)


def zeros_gzipped(path, header, zero_bytes):
    """``header`` then ``zero_bytes`` zeros, gzipped a megabyte at a time (a small file that inflates)."""
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header)
        block = bytes(2**20)
        for _ in range(zero_bytes // len(block)):
            f.write(block)


def idx_header(dtype_code, shape):
    return bytes([0, 0, dtype_code, len(shape)]) + b"".join(struct.pack(">I", n) for n in shape)


def test_idx_bombs_absurd_headers_and_damage(tmp_path):
    images = np.arange(5 * 28 * 28, dtype=np.uint8).reshape(5, 28, 28)
    good = tmp_path / "good-idx3-ubyte.gz"
    good.write_bytes(gzip.compress(idx_header(0x08, images.shape) + images.tobytes()))
    claims_2_31 = tmp_path / "claims-2-31.gz"
    zeros_gzipped(claims_2_31, idx_header(0x08, (2**31, 28, 28)), 2 * 2**20)
    bomb = tmp_path / "bomb.gz"  # a sound header for 10 images, then 400 MB more
    zeros_gzipped(bomb, idx_header(0x08, (10, 28, 28)), 400 * 2**20)
    wraps = tmp_path / "wraps-2-64"  # dimensions whose product passes 2**64
    wraps.write_bytes(idx_header(0x08, (2**32 - 1,) * 3) + bytes(64))
    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(good.read_bytes()[:-30])
    flipped = tmp_path / "flipped.gz"
    raw = bytearray(good.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    flipped.write_bytes(bytes(raw))
    bad_magic = tmp_path / "bad-magic"
    bad_magic.write_bytes(b"\x00\x00\x07\x01" + bytes(8))
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    outcome, peak = read_in_child(
        [("idx", p) for p in (good, claims_2_31, bomb, wraps, truncated, flipped, bad_magic, empty)]
    )
    assert outcome[str(good)] == "read without error"
    assert_clear_errors(
        outcome,
        {
            claims_2_31: "more than the",
            bomb: "more data than the IDX header promises",
            wraps: "more than the",
            truncated: "truncated",
            flipped: "corrupt",
            bad_magic: "not an IDX file",
            empty: "truncated IDX header",
        },
    )
    assert peak < PEAK_LIMIT_MB


class _HugeString:
    """Pickles as a BINBYTES8 opcode announcing 2**40 bytes that are not there."""


def test_cifar_pickles_that_announce_more_than_they_hold_or_run_code(tmp_path):
    announces_2_40 = tmp_path / "announces-2-40"
    announces_2_40.write_bytes(b"\x80\x04\x8e" + struct.pack("<Q", 2**40) + b"abc")
    evil = tmp_path / "evil"
    evil.write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")
    huge_list = tmp_path / "labels-not-ints"
    huge_list.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": ["a", "b"]}))
    out_of_range = tmp_path / "labels-out-of-range"
    out_of_range.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 10]}))
    too_big = tmp_path / "too-big"
    with open(too_big, "wb") as f:
        f.truncate(2**28)  # sparse: 256 MiB of zeros, above the batch size limit
    outcome, peak = read_in_child([("cifar", p) for p in (announces_2_40, evil, huge_list, out_of_range, too_big)])
    assert_clear_errors(
        outcome,
        {
            announces_2_40: "not a CIFAR-10 python batch",
            evil: "refusing to load",
            huge_list: "unreadable data or labels",
            out_of_range: "labels must lie in 0..9",
            too_big: "more than a CIFAR-10 batch may have",
        },
    )
    assert peak < PEAK_LIMIT_MB


def _model_file(path, layers, arrays=None, extra=None, format_version=1, architecture=None):
    """An .npz model file with the given architecture (list of layer entries) and arrays."""
    text = architecture if architecture is not None else json.dumps({"format": format_version, "layers": layers})
    members = {"architecture": np.array(text)}
    members.update({f"param:{k}": v for k, v in (arrays or {}).items()})
    with open(path, "wb") as f:
        np.savez(f, **members)
    if extra:
        with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            with archive.open(extra[0], "w", force_zip64=True) as member:
                header = io.BytesIO()
                np.lib.format.write_array_header_1_0(
                    header, {"descr": "<f8", "fortran_order": False, "shape": (extra[1] // 8,)}
                )
                member.write(header.getvalue())
                block = bytes(2**20)
                for _ in range(extra[1] // len(block)):
                    member.write(block)


def test_model_files_that_lie(tmp_path):
    model = nn.Sequential(nn.Linear(4, 3, rng=0))
    good = tmp_path / "good.npz"
    model.save(good)
    params = {k: v for k, v in model.parameters().items()}
    linear = {"type": "Linear", "config": {"in_features": 4, "out_features": 3, "bias": True, "dtype": "float32"}}
    cases = {}

    def case(name, phrase, **kwargs):
        path = tmp_path / name
        _model_file(path, kwargs.pop("layers", [linear]), kwargs.pop("arrays", params), **kwargs)
        cases[path] = phrase

    big = dict(linear, config=dict(linear["config"], in_features=10**7, out_features=10))
    case("declares-1e7.npz", "expected (10, 10000000)", layers=[big])
    case(
        "declares-1e12.npz",
        "in_features must be at most 2147483647",
        layers=[dict(big, config=dict(big["config"], in_features=10**12))],
    )
    case("extra-300mb.npz", "unexpected member", extra=("huge.npy", 300 * 2**20))
    case("unknown-type.npz", "unknown type 'Evil'", layers=[{"type": "Evil", "config": {}}])
    case("not-a-dict.npz", "model format", architecture="[1, 2, 3]")
    case("deep.npz", "not valid JSON", architecture="[" * 100_000 + "]" * 100_000)
    case("bad-config.npz", "bad config", layers=[dict(linear, config=dict(linear["config"], in_features="four"))])
    case("future.npz", "model format 2", format_version=2)
    complex_params = {k: v.astype(np.complex64) for k, v in params.items()}
    case("complex.npz", "not float32 or float64", arrays=complex_params)
    case("wrong-dtype.npz", "the layer's is float32", arrays={k: v.astype(np.float64) for k, v in params.items()})
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:-100])
    flipped = tmp_path / "flipped.npz"
    raw = bytearray(good.read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    flipped.write_bytes(bytes(raw))
    cases.update(
        {
            empty: "not a fastconv model file",
            truncated: "not a fastconv model file",
            flipped: "not a fastconv model file",
        }
    )
    outcome, peak = read_in_child([("model", good)] + [("model", p) for p in cases])
    assert outcome[str(good)] == "read without error"
    assert_clear_errors(outcome, cases)
    assert peak < PEAK_LIMIT_MB


def test_cli_reports_a_bomb_in_one_line(tmp_path):
    for prefix in ("train", "t10k"):
        zeros_gzipped(tmp_path / f"{prefix}-images-idx3-ubyte.gz", idx_header(0x08, (2**31, 28, 28)), 2**20)
        (tmp_path / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_header(0x08, (3,)) + bytes(3))
    code = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE_LIMIT}, {ADDRESS_SPACE_LIMIT}))
        from fastconv import cli
        sys.exit(cli.main(["train", "--dataset", "mnist:{tmp_path}", "--out", "{tmp_path / "run"}", "--no-progress"]))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "fastconv train: error:" in result.stderr
    assert "more than the" in result.stderr
    assert not (tmp_path / "run").exists()


def test_crc_check_is_what_catches_a_flipped_byte_in_a_stored_array(tmp_path):
    # A stored (uncompressed) member: the flip lands in the data, and only the CRC can tell.
    model = nn.Sequential(nn.Linear(64, 32, rng=0))
    path = tmp_path / "m.npz"
    model.save(path)
    raw = bytearray(path.read_bytes())
    offset = raw.index(model.parameters()["0.weight"].tobytes()[:16]) + 100
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="m.npz: not a fastconv model file"):
        nn.load(path)
