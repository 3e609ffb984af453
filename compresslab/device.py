"""Device selection: CUDA when a GPU is present, else CPU. Never hard-code ``.cuda()``."""

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
