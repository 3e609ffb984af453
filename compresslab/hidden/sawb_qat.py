"""The ``sawb_qat`` hidden tests' bounded runs, on the CPU with one thread against ResNet-20's shipped checkpoint and
the embedded dataset (``common.grading_digits``):

- ``graded_variable_precision``: the variable-precision search of Part 3 on ``GRADED_VP_IMAGES`` test images, with the
  constraint ``fp32 - GRADED_VP_MAX_DROP``;
- ``graded_zero_shot``: Part 4's W4A4 model (``GRADED_ZERO_SHOT_BITS``) calibrated on images distilled with the
  student's loss, which may lose at most ``GRADED_ZERO_SHOT_MAX_DROP`` points against fp32 on ``graded_test_subset()``.
"""

from collections.abc import Callable

import torch

from ..checkpoints import load_pretrained, pretrained_info
from ..data import first_examples, first_images
from ..device import torch_threads
from ..fake_quantization import QuantOps
from ..sawb_qat_helpers import VPResult, variable_precision_search
from ..training import evaluate
from ..zero_shot import distill_images, zero_shot_accuracy
from .common import graded_test_subset, grading_digits

GRADED_VP_IMAGES = 128  # the hidden variable-precision check: first test images searched on, first training images calibrating
GRADED_VP_MAX_DROP = 2.0  # ... and the points of accuracy below fp32 (the checkpoint's, full test set) the result may lose

GRADED_ZERO_SHOT_BITS = (4, 4)  # the hidden zero-shot check: W4A4 calibrated on images distilled with the student's loss ...
GRADED_ZERO_SHOT_MAX_DROP = 10.0  # ... loses at most this many points against fp32 on the graded test subset


def graded_variable_precision(ops: QuantOps, greedy_bitwidth_path: Callable, start: int | None = None) -> tuple[VPResult, float]:
    """The hidden variable-precision check's search, on the CPU with one thread: ResNet-20's checkpoint, the first
    ``GRADED_VP_IMAGES`` test images of ``grading_digits()`` searched on, as many training images calibrating, and the
    constraint ``fp32 - GRADED_VP_MAX_DROP``. start: the guess ``search_path`` tries first. Returns (result, fp32 accuracy)."""
    cpu, digits = torch.device("cpu"), grading_digits()
    fp32 = pretrained_info("resnet20")["fp32_accuracy"]
    images, labels = first_examples(digits.test.dataset, GRADED_VP_IMAGES)
    calibration = first_images(digits.train.dataset, GRADED_VP_IMAGES)
    with torch_threads(1):
        result = variable_precision_search(load_pretrained("resnet20", cpu), ops, greedy_bitwidth_path, images, labels, calibration,
                                           fp32 - GRADED_VP_MAX_DROP, device=cpu, start=start)
    return result, fp32


def graded_zero_shot(ops: QuantOps, bn_statistics_loss: Callable) -> tuple[float, float]:
    """The hidden zero-shot check's run, on the CPU with one thread: images distilled from ResNet-20's checkpoint with
    ``bn_statistics_loss`` (``zero_shot``'s defaults), W4A4 (``GRADED_ZERO_SHOT_BITS``) calibrated on them, and its
    accuracy on ``graded_test_subset()``. Returns (that accuracy, the fp32 accuracy on the same images)."""
    cpu, subset = torch.device("cpu"), graded_test_subset()
    with torch_threads(1):
        fp32_model = load_pretrained("resnet20", cpu)
        fp32 = evaluate(fp32_model, subset, device=cpu, progress=False)
        images, _ = distill_images(fp32_model, bn_statistics_loss, device=cpu)
        accuracy = zero_shot_accuracy(fp32_model, ops, *GRADED_ZERO_SHOT_BITS, images, subset, device=cpu)
    return accuracy, fp32
