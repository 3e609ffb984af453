"""What only the hidden tests of ``pruning`` use: the budgets of the hidden channel-pruning checks and their bounded run.

- ``SORTING_TOLERANCE``: points of accuracy sorting the checkpoint's channels may change (it should change none);
- ``GRADED_FINETUNE_STEPS``, ``GRADED_LOGIT_IMAGES``: the sorted, channel-pruned checkpoint is fine-tuned this many
  steps and its logits on this many first test images are compared with the reference's;
- ``bounded_fine_tune_logits``: that run.

The bounded fine-grained check (``pruning_helpers.bounded_fine_tune_accuracy``) stays student-facing: the notebook
runs it on the student's sparsity choice to print what the grader will measure.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..device import torch_threads
from ..pruning_helpers import bounded_fine_tune

SORTING_TOLERANCE = 0.1  # points of accuracy channel sorting may change (it should change none)
GRADED_FINETUNE_STEPS = 4  # fine-tuning steps of FINETUNE the hidden channel-pruning check runs, compared with the reference's
GRADED_LOGIT_IMAGES = 64  # ... and the first test images whose logits it compares


def bounded_fine_tune_logits(model: nn.Module, loader: DataLoader, images: torch.Tensor,
                             steps: int = GRADED_FINETUNE_STEPS) -> torch.Tensor:
    """The hidden channel-pruning check's run: ``bounded_fine_tune`` of ``model`` for ``steps`` steps on one thread, then
    its logits on ``images`` (N, 3, 32, 32) float32 -> (N, classes). Same model, same seed: the reference's logits."""
    with torch_threads(1):
        bounded_fine_tune(model, loader, steps)
        with torch.no_grad():
            return model(images.to(torch.device("cpu")))
