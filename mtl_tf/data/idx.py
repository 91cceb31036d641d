"""Reading and writing IDX files, the format MNIST and Fashion-MNIST ship in.

An IDX file is a 4-byte magic number (two zero bytes, a dtype code, the number of
dimensions), then one big-endian uint32 per dimension, then the payload in C order,
big-endian. The files are normally gzip-compressed; :func:`read_idx` recognises gzip
by its magic bytes (``1f 8b``) rather than by the file suffix, so renamed files work.

Everything is validated strictly, because a truncated download otherwise surfaces much
later as a baffling reshape error or, worse, as silently wrong training data. Every error
names the file, the problem and the fix. Nothing here uses pickle.
"""

from __future__ import annotations

import gzip
import math
import os
import tempfile
import zlib

import numpy as np

from mtl_tf.io_utils import umask_mode

__all__ = ["IdxFormatError", "read_idx", "write_idx"]

_GZIP_MAGIC = b"\x1f\x8b"

# IDX dtype code -> numpy dtype (big-endian, as stored on disk).
_CODE_TO_DTYPE: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# Keyed by (kind, itemsize) so that both byte orders of an input array map to one code.
_DTYPE_TO_CODE: dict[tuple[str, int], int] = {
    (dt.kind, dt.itemsize): code for code, dt in _CODE_TO_DTYPE.items()
}

# A declared payload this large (1 TiB) can only come from a damaged header.
_ABSURD_PAYLOAD = 2**40

_FIX = "re-download the file or point --data_dir at a complete copy"


class IdxFormatError(ValueError):
    """Raised when a file is not a valid, complete IDX file."""


def _display_name(path: str | os.PathLike) -> str:
    """Returns ``parent/name`` for messages: short, but says which data set it is."""
    path = os.fspath(path)
    parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
    name = os.path.basename(path)
    return f"{parent}/{name}" if parent else name


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (gzip-compressed or raw) into a native-endian numpy array.

    Args:
      path: File to read. Compression is detected from the content, not the suffix.

    Returns:
      The array with the shape and dtype recorded in the file header, in native byte
      order (e.g. ``uint8 [60000, 28, 28]`` for MNIST training images).

    Raises:
      FileNotFoundError: If ``path`` does not exist.
      IdxFormatError: If the file is corrupt gzip, has a bad magic number, an unknown
        dtype code, zero dimensions, or a payload whose size is not exactly
        ``prod(dims) * itemsize`` (truncated or trailing data).
    """
    name = _display_name(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{os.fspath(path)}: no such IDX file; {_FIX}")
    with open(path, "rb") as f:
        data = f.read()

    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            # gzip reports bad CRCs as BadGzipFile (an OSError) and cut-off streams as
            # EOFError; both mean the download is damaged.
            raise IdxFormatError(f"{name}: corrupt gzip stream ({e}); {_FIX}") from e

    if len(data) < 4:
        raise IdxFormatError(
            f"{name}: too short for an IDX header ({len(data)} bytes, need at least 4); "
            f"{_FIX}"
        )
    if data[0] != 0 or data[1] != 0:
        raise IdxFormatError(
            f"{name}: bad IDX magic number {data[:4].hex()} (must start with two zero "
            f"bytes); this is not an IDX file: {_FIX}"
        )
    code, ndim = data[2], data[3]
    if code not in _CODE_TO_DTYPE:
        known = ", ".join(f"0x{c:02X}" for c in _CODE_TO_DTYPE)
        raise IdxFormatError(
            f"{name}: unknown IDX dtype code 0x{code:02X} (known: {known}); {_FIX}"
        )
    if ndim < 1:
        raise IdxFormatError(f"{name}: IDX header declares 0 dimensions; {_FIX}")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IdxFormatError(
            f"{name}: truncated IDX header (expected {header_size} bytes for {ndim} "
            f"dimensions, got {len(data)}); {_FIX}"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _CODE_TO_DTYPE[code]
    # Python ints: a numpy int64 product wraps around (2**31 * 2**31 * 4 is 2**64 -> 0),
    # so a damaged header declaring a huge shape would pass as an empty payload.
    expected = math.prod(dims) * dtype.itemsize
    got = len(data) - header_size
    if got < expected and expected >= _ABSURD_PAYLOAD:
        # No IDX data set comes near a terabyte: the header is damaged, not the download
        # short, and "expected 18446744073709551616 bytes" alone would not say so.
        shape = "x".join(str(d) for d in dims)
        raise IdxFormatError(
            f"{name}: damaged IDX header: it declares shape {shape} ({expected} bytes) "
            f"but the file holds {got} bytes of data; {_FIX}"
        )
    if got < expected:
        raise IdxFormatError(
            f"{name}: truncated IDX payload (expected {expected} bytes, got {got}); {_FIX}"
        )
    if got > expected:
        raise IdxFormatError(
            f"{name}: {got - expected} bytes of trailing data after the IDX payload "
            f"(expected {expected} bytes for shape {dims}, got {got}); {_FIX}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(dims)
    # astype copies into a writable, native-endian array (frombuffer is read-only).
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Writes ``array`` as an IDX file, atomically.

    The file is gzip-compressed if ``path`` ends with ``.gz``; the gzip header gets
    ``mtime=0`` and no file name so identical arrays give byte-identical files. The data
    goes to a temporary file in the same directory first and is then moved into place
    with ``os.replace``, so readers never see a half-written file.

    Args:
      path: Destination file.
      array: Array with at least one dimension, of dtype uint8, int8, int16, int32,
        float32 or float64.

    Raises:
      ValueError: If the dtype or shape cannot be represented in IDX.
    """
    array = np.asarray(array)
    key = (array.dtype.kind, array.dtype.itemsize)
    if key not in _DTYPE_TO_CODE:
        raise ValueError(
            f"{os.fspath(path)}: IDX cannot store dtype {array.dtype}; convert to one of "
            "uint8, int8, int16, int32, float32, float64"
        )
    if not 1 <= array.ndim <= 255:
        raise ValueError(
            f"{os.fspath(path)}: IDX needs 1 to 255 dimensions, got shape {array.shape}"
        )
    if any(d >= 2**32 for d in array.shape):
        raise ValueError(f"{os.fspath(path)}: dimension too large for IDX: {array.shape}")
    code = _DTYPE_TO_CODE[key]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    payload = np.ascontiguousarray(array, dtype=_CODE_TO_DTYPE[code]).tobytes()

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw:
            # mkstemp creates the file 0600; a data file gets the mode open() would give
            # it (0644 under umask 022), so other users can read it as they can any file.
            os.fchmod(raw.fileno(), umask_mode(directory=False))
            if path.endswith(".gz"):
                # filename="" keeps the random temp name out of the gzip header.
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                    gz.write(header)
                    gz.write(payload)
            else:
                raw.write(header)
                raw.write(payload)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
