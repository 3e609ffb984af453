"""What the process running student code may say to the grader, and how the grader reads it.

The notebook's process writes *frames* on one pipe: a type byte, a 4-byte big-endian length, then
that many bytes. Every type has a size cap, and the grader (``engine``) accepts them only in order:

    NOTEBOOK  once, first, before any student code runs: the indices of the code cells it will run (JSON list)
    CELL      a cell starts: its index (4 bytes); indices strictly increase and come from NOTEBOOK's list
    CELLS_DONE once, after the last cell: the grader then hands over the tests (it never does before)
    REPORT    once, only after the grader handed over the tests: the test results (``encode_report``)

Anything else (an unknown type, a frame over its cap, a frame out of order, a cell index not announced,
a truncated frame) is ``ProtocolError``, and the notebook is graded ``crashed`` with that reason.

A report is a JSON header (plain data; every tensor replaced by a reference into a table) followed by
the tensors' raw bytes. The grader reads tensors only through ``Report.tensor``, which checks the
declared dtype, shape and byte range against what the reference run recorded for the same check
before any tensor is built, so a forged report cannot make the grader allocate more than the bytes
it sent (every tensor is contiguous by construction, a view of those bytes).
"""

import json
import math
import os
import struct

import torch

NOTEBOOK, CELL, CELLS_DONE, REPORT = b"N", b"C", b"D", b"R"
CAPS = {NOTEBOOK: 1 << 20, CELL: 4, CELLS_DONE: 0, REPORT: 256 << 20}  # bytes of payload per frame type
HEADER_CAP = 16 << 20  # bytes of a report's JSON header
TEXT_CAP = 2000  # characters kept of any text in a report (exception messages, names)
_PREFIX = struct.Struct(">cI")
DTYPES = {str(d).removeprefix("torch."): d for d in (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.uint8,
                                                    torch.int8, torch.int16, torch.int32, torch.int64, torch.bool)}


class ProtocolError(Exception):
    """The notebook's process broke the protocol; the message says how."""


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    """One frame: ``kind``, the payload's length, the payload (``kind`` must be a known type, within its cap)."""
    if len(payload) > CAPS[kind]:
        raise ValueError(f"a {kind!r} frame holds at most {CAPS[kind]} bytes, not {len(payload)}")
    return _PREFIX.pack(kind, len(payload)) + payload


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to the pipe ``fd`` (``os.write`` may take only part)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def cell_frame(index: int) -> bytes:
    return frame(CELL, struct.pack(">I", index))


def notebook_frame(code_cells: list[int]) -> bytes:
    return frame(NOTEBOOK, json.dumps(code_cells).encode())


class Conversation:
    """The grader's side of one notebook's pipe: feed it bytes as they arrive; it yields validated events.

    Events: ``("notebook", [indices])``, ``("cell", index)``, ``("cells_done", None)``, ``("report", bytes)``.
    ``tests_sent()`` must be called when the grader has handed over the tests; a REPORT before that is an error.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._cells: list[int] | None = None
        self._last_cell = -1
        self._done = False
        self._tests_sent = False
        self._reported = False

    def tests_sent(self) -> None:
        self._tests_sent = True

    def feed(self, data: bytes) -> list[tuple[str, object]]:
        self._buffer += data
        events = []
        while len(self._buffer) >= _PREFIX.size:
            kind, length = _PREFIX.unpack_from(self._buffer)
            if kind not in CAPS:
                raise ProtocolError(f"unknown message type {kind!r} on the grader's pipe")
            if length > CAPS[kind]:
                raise ProtocolError(f"a {_NAMES[kind]} message of {length} bytes (at most {CAPS[kind]})")
            if len(self._buffer) < _PREFIX.size + length:
                break
            payload = bytes(self._buffer[_PREFIX.size:_PREFIX.size + length])
            del self._buffer[:_PREFIX.size + length]
            events.append(self._event(kind, payload))
        return events

    def pending(self) -> int:
        """Bytes of an incomplete frame still buffered (a truncated message when the pipe has closed)."""
        return len(self._buffer)

    def _event(self, kind: bytes, payload: bytes) -> tuple[str, object]:
        if self._reported:
            raise ProtocolError(f"a {_NAMES[kind]} message after the report")
        if kind == NOTEBOOK:
            if self._cells is not None:
                raise ProtocolError("a second notebook message")
            cells = _json(payload, "notebook message")
            if not isinstance(cells, list) or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in cells):
                raise ProtocolError("the notebook message is not a list of cell indices")
            self._cells = cells
            return "notebook", cells
        if self._cells is None:
            raise ProtocolError(f"a {_NAMES[kind]} message before the notebook message")
        if kind == CELL:
            (index,) = struct.unpack(">I", payload) if len(payload) == 4 else (None,)
            if index is None or index not in self._cells or index <= self._last_cell or self._done:
                raise ProtocolError(f"a cell message out of order (cell {index} after cell {self._last_cell})")
            self._last_cell = index
            return "cell", index
        if kind == CELLS_DONE:
            if self._done:
                raise ProtocolError("a second 'cells done' message")
            self._done = True
            return "cells_done", None
        if not (self._done and self._tests_sent):
            raise ProtocolError("a report before the grader handed over the tests")
        self._reported = True
        return "report", payload


_NAMES = {NOTEBOOK: "notebook", CELL: "cell", CELLS_DONE: "'cells done'", REPORT: "report"}


def _json(payload: bytes, what: str):
    try:
        return json.loads(payload.decode())
    except (UnicodeDecodeError, ValueError) as error:
        raise ProtocolError(f"the {what} is not valid JSON ({error})") from None


def encode_report(report: dict) -> bytes:
    """A report (plain data: dicts with str keys, lists, str, int, float, bool, None, and CPU tensors) as bytes:
    8-byte header length, the JSON header, the tensors' bytes."""
    blobs: list[bytes] = []
    offset = 0

    def plain(value):
        nonlocal offset
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            data = t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
            ref = {"__tensor__": [str(t.dtype).removeprefix("torch."), list(t.shape), offset, len(data)]}
            blobs.append(data)
            offset += len(data)
            return ref
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, float) and not math.isfinite(value):
            return {"__float__": repr(value)}
        return value

    header = json.dumps(plain(report)).encode()
    return struct.pack(">Q", len(header)) + header + b"".join(blobs)


class TensorRef:
    """A tensor a report declares: dtype name, shape, byte range in the report's data. Not yet built."""

    def __init__(self, spec) -> None:
        if not (isinstance(spec, list) and len(spec) == 4 and isinstance(spec[0], str) and isinstance(spec[1], list)
                and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**40 for n in spec[1]) and len(spec[1]) <= 8
                and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in spec[2:])):
            raise ProtocolError("a malformed tensor in the report")
        self.dtype, self.shape, self.offset, self.nbytes = spec[0], tuple(spec[1]), spec[2], spec[3]


class Report:
    """A decoded report: ``data`` is its plain header (tensors as ``TensorRef``); ``tensor`` builds one, validated."""

    def __init__(self, payload: bytes) -> None:
        if len(payload) < 8:
            raise ProtocolError("a truncated report")
        (length,) = struct.unpack_from(">Q", payload)
        if length > HEADER_CAP or 8 + length > len(payload):
            raise ProtocolError(f"a report header of {length} bytes (at most {HEADER_CAP}, within the {len(payload)} sent)")
        self.data = _refs(_json(payload[8:8 + length], "report"))
        self._blob = memoryview(payload)[8 + length:]
        for ref in _tensor_refs(self.data):
            self._check(ref, "a tensor in the report")

    def _check(self, ref: "TensorRef", what: str) -> None:
        """Its dtype is one of ``DTYPES`` and its bytes, as many as its shape needs, lie within the report."""
        if ref.dtype not in DTYPES:
            raise ProtocolError(f"{what}: dtype {ref.dtype!r} is not accepted")
        if ref.nbytes != math.prod(ref.shape) * DTYPES[ref.dtype].itemsize or ref.offset + ref.nbytes > len(self._blob):
            raise ProtocolError(f"{what}: {ref.nbytes} bytes at {ref.offset} do not hold a {ref.dtype} tensor of shape {ref.shape} "
                                f"within the {len(self._blob)} bytes sent")

    def tensor(self, ref, like: torch.Tensor | None, what: str) -> torch.Tensor:
        """The tensor ``ref`` declares, which must have ``like``'s shape (any shape for ``None``: a trusted reference run)
        and be one of ``DTYPES``, within the report's bytes; otherwise ``ProtocolError``. Nothing is allocated before
        these checks."""
        if not isinstance(ref, TensorRef):
            raise ProtocolError(f"{what}: the report holds no tensor where the check records one")
        if like is not None and ref.shape != tuple(like.shape):
            raise ProtocolError(f"{what}: shape {ref.shape} where the reference records {tuple(like.shape)}")
        self._check(ref, what)
        dtype = DTYPES[ref.dtype]
        numel = math.prod(ref.shape)
        raw = bytearray(self._blob[ref.offset:ref.offset + ref.nbytes])
        storage_dtype = torch.int16 if dtype == torch.bfloat16 else dtype
        flat = torch.frombuffer(raw, dtype=storage_dtype) if numel else torch.empty(0, dtype=storage_dtype)
        return (flat.view(torch.bfloat16) if dtype == torch.bfloat16 else flat).reshape(ref.shape)


def _refs(value):
    """The JSON header with tensor references as ``TensorRef`` and non-finite floats restored."""
    if isinstance(value, dict):
        if set(value) == {"__tensor__"}:
            return TensorRef(value["__tensor__"])
        if set(value) == {"__float__"} and value["__float__"] in ("nan", "inf", "-inf"):
            return float(value["__float__"])
        return {k: _refs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_refs(v) for v in value]
    return value


def _tensor_refs(value):
    if isinstance(value, TensorRef):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensor_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _tensor_refs(item)


def text(value, what: str) -> str:
    """A string field of a report, capped at ``TEXT_CAP`` characters."""
    if not isinstance(value, str):
        raise ProtocolError(f"{what} is not text")
    return value[:TEXT_CAP]
