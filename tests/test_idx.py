"""Tests for mtl_tf.data.idx: round trips and strict rejection of damaged files."""

import gzip
import os

import numpy as np
import pytest

from mtl_tf.data.idx import IdxFormatError, read_idx, write_idx

_CASES = [
    (np.uint8, (5,)),
    (np.uint8, (3, 28, 28)),
    (np.int8, (4, 3)),
    (np.int16, (2, 3, 4)),
    (np.int32, (7, 1)),
    (np.float32, (2, 2, 2, 2)),
    (np.float64, (6,)),
]


@pytest.mark.parametrize("suffix", [".gz", ""])
@pytest.mark.parametrize("dtype,shape", _CASES)
def test_round_trip(tmp_path, dtype, shape, suffix):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal(shape) * 100).astype(dtype)
    path = tmp_path / f"a-idx{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype)
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_round_trip_big_endian_input(tmp_path):
    array = np.arange(12, dtype=">i4").reshape(3, 4)
    write_idx(tmp_path / "b.idx", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "b.idx"), array)


def test_gzip_detected_by_content_not_suffix(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "x.gz", array)
    os.rename(tmp_path / "x.gz", tmp_path / "renamed-ubyte")
    np.testing.assert_array_equal(read_idx(tmp_path / "renamed-ubyte"), array)


def test_raw_layout_is_standard(tmp_path):
    write_idx(tmp_path / "l", np.array([1, 2, 3], dtype=np.uint8))
    assert (tmp_path / "l").read_bytes() == b"\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02\x03"


def test_gz_output_is_deterministic(tmp_path):
    array = np.arange(1000, dtype=np.int16).reshape(10, 100)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="uint16"):
        write_idx(tmp_path / "u", np.zeros(3, np.uint16))
    with pytest.raises(ValueError, match="dimensions"):
        write_idx(tmp_path / "s", np.array(3, np.uint8))


def _raw(tmp_path, name, content: bytes, compress: bool):
    path = tmp_path / name
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


@pytest.mark.parametrize("compress", [True, False])
def test_rejects_bad_magic(tmp_path, compress):
    path = _raw(tmp_path, "bad-magic-ubyte.gz", b"\x01\x00\x08\x01\x00\x00\x00\x01\x07", compress)
    with pytest.raises(IdxFormatError, match="bad-magic-ubyte.gz.*magic"):
        read_idx(path)


def test_rejects_unknown_dtype_code(tmp_path):
    path = _raw(tmp_path, "code.gz", b"\x00\x00\x07\x01\x00\x00\x00\x01\x07", True)
    with pytest.raises(IdxFormatError, match=r"code.gz.*0x07"):
        read_idx(path)


def test_rejects_zero_dims(tmp_path):
    path = _raw(tmp_path, "nodims", b"\x00\x00\x08\x00", False)
    with pytest.raises(IdxFormatError, match="nodims.*0 dimensions"):
        read_idx(path)


@pytest.mark.parametrize("compress", [True, False])
def test_rejects_truncated_payload(tmp_path, compress):
    good = tmp_path / "good"
    write_idx(good, np.zeros((10, 28, 28), np.uint8))
    path = _raw(tmp_path, "train-images-idx3-ubyte.gz", good.read_bytes()[:1016], compress)
    with pytest.raises(IdxFormatError) as info:
        read_idx(path)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert "truncated IDX payload (expected 7840 bytes, got 1000)" in message
    assert "--data_dir" in message


def test_rejects_truncated_header(tmp_path):
    path = _raw(tmp_path, "short-header", b"\x00\x00\x08\x03\x00\x00", False)
    with pytest.raises(IdxFormatError, match="short-header.*truncated IDX header"):
        read_idx(path)


@pytest.mark.parametrize("compress", [True, False])
def test_rejects_trailing_bytes(tmp_path, compress):
    good = tmp_path / "good"
    write_idx(good, np.zeros((4, 3), np.int32))
    path = _raw(tmp_path, "trailing-idx", good.read_bytes() + b"\x00\x01", compress)
    with pytest.raises(IdxFormatError, match="trailing-idx.*2 bytes of trailing data"):
        read_idx(path)


def test_rejects_corrupt_gzip_crc(tmp_path):
    write_idx(tmp_path / "c.gz", np.arange(100, dtype=np.uint8))
    data = bytearray((tmp_path / "c.gz").read_bytes())
    data[-8] ^= 0xFF  # the CRC32 of the gzip trailer
    path = _raw(tmp_path, "crc-ubyte.gz", bytes(data), False)
    with pytest.raises(IdxFormatError, match="crc-ubyte.gz.*corrupt gzip"):
        read_idx(path)


def test_rejects_truncated_gzip_stream(tmp_path):
    write_idx(tmp_path / "c.gz", np.arange(1000, dtype=np.int32))
    data = (tmp_path / "c.gz").read_bytes()
    path = _raw(tmp_path, "cut-ubyte.gz", data[: len(data) // 2], False)
    with pytest.raises(IdxFormatError, match="cut-ubyte.gz.*corrupt gzip"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope-ubyte"):
        read_idx(tmp_path / "nope-ubyte")


@pytest.mark.parametrize("compress", [True, False])
def test_rejects_header_whose_size_overflows_int64(tmp_path, compress):
    # 2**31 * 2**31 * 4 = 2**64 bytes: an int64 product wraps to 0 and an empty payload
    # used to pass the size check, failing later in reshape without naming the file.
    header = b"\x00\x00\x08\x03" + np.array([2**31, 2**31, 4], ">u4").tobytes()
    path = _raw(tmp_path, "train-images-idx3-ubyte.gz", header, compress)
    with pytest.raises(IdxFormatError) as info:
        read_idx(path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path.name}/train-images-idx3-ubyte.gz: damaged IDX header")
    assert "shape 2147483648x2147483648x4 (18446744073709551616 bytes)" in message
    assert "holds 0 bytes" in message and "--data_dir" in message


def test_large_header_without_payload_is_truncation(tmp_path):
    header = b"\x00\x00\x0c\x03" + np.array([1000, 1000, 1000], ">u4").tobytes()  # int32
    path = _raw(tmp_path, "big-ubyte", header + b"\x00" * 12, False)
    with pytest.raises(IdxFormatError, match=r"big-ubyte: truncated IDX payload \(expected "
                       r"4000000000 bytes, got 12\)"):
        read_idx(path)


def test_zero_items_is_a_valid_idx_file(tmp_path):
    # The format allows it; the data set loader says the file holds no images.
    write_idx(tmp_path / "e.gz", np.zeros((0, 28, 28), np.uint8))
    assert read_idx(tmp_path / "e.gz").shape == (0, 28, 28)
