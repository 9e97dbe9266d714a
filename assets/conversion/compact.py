"""Compact weights: an fp32 ONNX file with its weights stored as fp16 for the wire, which a client
expands back into the fp32 graph before creating its session.

onnxruntime-web's wasm backend runs an fp16 graph 1.3-1.6x slower than fp32 (it casts back and
loses fusions), yet fp32 doubles the download. So the page downloads this encoding and expands
it to the fp32 file, node for node and byte for byte, except that each weight is the fp16
rounding of the fp32 one. The expansion is exact arithmetic (fp16 -> fp32 needs no rounding),
so the page and this module produce the same bytes: the manifest names their sha256, and the
page checks it after expanding as it checks the download's before.

The file (``edgeline.weights/1``, encoding ``fp16``)::

    MAGIC (8 bytes, b"EDLWTS1\\n")
    zlib stream (RFC 1950; DecompressionStream("deflate") in a browser) of:
        u32 little-endian: length of the header
        header: UTF-8 JSON {"format", "encoding", "model_bytes", "model_sha256",
                            "ranges": [[offset, count], ...]}
        skeleton: the model's bytes outside the ranges, in order
        weights: the ranges' values as fp16, high bytes of all of them, then low bytes

A range is ``count`` little-endian float32 values at byte ``offset`` of the model: the raw data
of a top-level initializer of at least ``MIN_ELEMENTS`` values that fp16 holds (finite, within
its range). Smaller constants (a normalisation's mean, a threshold) and anything else stay in the
skeleton, exact. Splitting high from low bytes puts the sign and exponent bytes together, which
deflate packs to about half (MobileNetV2: 0.34x of fp32 in all, against 0.50x for bare fp16).
"""

import hashlib
import json
import struct
import zlib
from pathlib import Path

import numpy as np

FORMAT = "edgeline.weights/1"
ENCODING = "fp16"
MAGIC = b"EDLWTS1\n"
MIN_ELEMENTS = 1024  # weights, not constants: a small tensor saves nothing and may be exact
FLOAT = 1  # onnx.TensorProto.FLOAT
FP16_MAX = float(np.finfo(np.float16).max)


class CompactWeightsError(ValueError):
    """A file that is not compact weights this code reads, or that does not expand as it says."""


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7


def _fields(data: bytes, start: int, end: int):
    """(field number, wire type, value or (offset, length)) of each protobuf field in a range."""
    position = start
    while position < end:
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, position = _varint(data, position)
            yield number, wire, value
        elif wire == 2:
            length, position = _varint(data, position)
            yield number, wire, (position, length)
            position += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            yield number, wire, (position, size)
            position += size
        else:
            raise CompactWeightsError(f"unsupported protobuf wire type {wire} at byte {position}")


def weight_ranges(model: bytes) -> list[tuple[int, int]]:
    """(byte offset, float count) of the raw data of each float initializer of the main graph
    (ModelProto.graph = 7, GraphProto.initializer = 5, TensorProto.data_type = 2, raw_data = 9),
    read from the serialized bytes so that offsets are exact."""
    ranges = []
    for number, wire, value in _fields(model, 0, len(model)):
        if number != 7 or wire != 2:
            continue
        graph_start, graph_length = value
        for g_number, g_wire, g_value in _fields(model, graph_start, graph_start + graph_length):
            if g_number != 5 or g_wire != 2:
                continue
            data_type, raw = None, None
            tensor_start, tensor_length = g_value
            for t_number, t_wire, t_value in _fields(
                model, tensor_start, tensor_start + tensor_length
            ):
                if t_number == 2 and t_wire == 0:
                    data_type = t_value
                elif t_number == 9 and t_wire == 2:
                    raw = t_value
            if data_type == FLOAT and raw is not None and raw[1] % 4 == 0:
                ranges.append((raw[0], raw[1] // 4))
    return ranges


def _storable(values: np.ndarray) -> bool:
    return bool(np.isfinite(values).all()) and float(np.abs(values).max()) <= FP16_MAX


def encode(model: bytes) -> bytes:
    """``model`` (a serialized fp32 ONNX file) as compact weights."""
    ranges = [
        (offset, count)
        for offset, count in weight_ranges(model)
        if count >= MIN_ELEMENTS
        and _storable(np.frombuffer(model, "<f4", count=count, offset=offset))
    ]
    skeleton, halves, position = [], [], 0
    for offset, count in ranges:
        skeleton.append(model[position:offset])
        halves.append(np.frombuffer(model, "<f4", count=count, offset=offset).astype("<f2"))
        position = offset + 4 * count
    skeleton.append(model[position:])
    weights = np.concatenate(halves) if halves else np.zeros(0, "<f2")
    planes = weights.view(np.uint8).reshape(-1, 2)
    header = json.dumps(
        {
            "format": FORMAT,
            "encoding": ENCODING,
            "model_bytes": len(model),
            "model_sha256": hashlib.sha256(expand_ranges(model, ranges)).hexdigest(),
            "ranges": ranges,
        },
        separators=(",", ":"),
    ).encode()
    payload = b"".join(
        [
            struct.pack("<I", len(header)),
            header,
            *skeleton,
            planes[:, 1].tobytes(),
            planes[:, 0].tobytes(),
        ]
    )
    return MAGIC + zlib.compress(payload, 9)


def expand_ranges(model: bytes, ranges: list[tuple[int, int]]) -> bytes:
    """``model`` with the floats in ``ranges`` rounded through fp16: what ``expand`` gives."""
    out = bytearray(model)
    for offset, count in ranges:
        values = np.frombuffer(model, "<f4", count=count, offset=offset)
        out[offset : offset + 4 * count] = values.astype("<f2").astype("<f4").tobytes()
    return bytes(out)


def expand(compact: bytes) -> bytes:
    """The fp32 ONNX file that ``compact`` encodes; CompactWeightsError if it is not one, or
    does not expand to the bytes its header names."""
    if not compact.startswith(MAGIC):
        raise CompactWeightsError(f"not compact weights: the file does not start with {MAGIC!r}")
    try:
        payload = zlib.decompress(compact[len(MAGIC) :])
        (header_length,) = struct.unpack_from("<I", payload)
        header = json.loads(payload[4 : 4 + header_length])
    except (zlib.error, struct.error, ValueError) as error:
        raise CompactWeightsError(f"compact weights are damaged: {error}") from None
    if header.get("format") != FORMAT or header.get("encoding") != ENCODING:
        raise CompactWeightsError(
            f"compact weights of format {header.get('format')!r}, encoding "
            f"{header.get('encoding')!r}: this code reads {FORMAT} {ENCODING}"
        )
    ranges = [(int(offset), int(count)) for offset, count in header["ranges"]]
    total = sum(count for _, count in ranges)
    size = header["model_bytes"]
    skeleton_start = 4 + header_length
    weights_start = skeleton_start + size - 4 * total
    if len(payload) != weights_start + 2 * total:
        raise CompactWeightsError("compact weights are damaged: the payload has the wrong length")
    high = np.frombuffer(payload, np.uint8, count=total, offset=weights_start).astype(np.uint16)
    low = np.frombuffer(payload, np.uint8, count=total, offset=weights_start + total)
    weights = ((high << 8) | low).view("<f2").astype("<f4")
    out = bytearray(size)
    position, taken, cursor = 0, 0, skeleton_start
    for offset, count in ranges:
        out[position:offset] = payload[cursor : cursor + offset - position]
        cursor += offset - position
        out[offset : offset + 4 * count] = weights[taken : taken + count].tobytes()
        taken += count
        position = offset + 4 * count
    out[position:] = payload[cursor : cursor + size - position]
    expanded = bytes(out)
    if hashlib.sha256(expanded).hexdigest() != header["model_sha256"]:
        raise CompactWeightsError("compact weights do not expand to the model their header names")
    return expanded


def encode_fp16_weights(src: Path, dst: Path, calibration: object = None) -> None:
    """A ``Converter``: the fp32 file ``src`` as compact weights at ``dst``."""
    dst.write_bytes(encode(src.read_bytes()))


def expand_file(src: Path, dst: Path) -> None:
    """Write the fp32 ONNX file that the compact weights at ``src`` encode."""
    dst.write_bytes(expand(src.read_bytes()))
