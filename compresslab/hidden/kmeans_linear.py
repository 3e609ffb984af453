"""What only the hidden tests of ``kmeans_linear`` (and its fixture builder) use:

- ``LAB_QAT``, ``GRADED_QAT_STEPS`` and ``bounded_qat``: the first steps of the lab's k-means QAT epoch, which the
  hidden QAT check runs with the student's functions and compares with the reference's run;
- ``GRADED_CALIBRATION_IMAGES``: the training images calibrating the hidden int8-accuracy check's activation ranges
  (its test images: ``hidden.common.GRADED_TEST_IMAGES``).
"""

from collections.abc import Callable

import torch
from torch import nn

from ..kmeans_linear_helpers import KMeansQuantizer
from ..training import TrainConfig, train

LAB_QAT = TrainConfig(epochs=1, lr=0.01, weight_decay=0.0, seed=0)  # one k-means QAT epoch as in the lab (SGD, momentum 0.9)
GRADED_QAT_STEPS = 4  # the hidden QAT check: the first steps of a LAB_QAT epoch, compared with the reference's
GRADED_CALIBRATION_IMAGES = 256  # the hidden int8-accuracy check: the first training images, calibrating activation ranges


def bounded_qat(model: nn.Module, loader, k_means_quantize: Callable, update_codebook: Callable, bitwidth: int = 2,
                steps: int = GRADED_QAT_STEPS, device: torch.device | None = None) -> KMeansQuantizer:
    """The hidden QAT check's run: k-means quantize ``model`` in place to ``bitwidth`` bits, then train it for the
    first ``steps`` steps of a ``LAB_QAT`` epoch on ``loader`` with the codebooks updated and re-applied after every
    step; return the quantizer (``quantizer.codebook[name].centroids``). Same functions, same seed: same centroids."""
    quantizer = KMeansQuantizer(model, bitwidth, k_means_quantize, update_codebook)
    train(model, loader, LAB_QAT, device=device, callbacks=[lambda: quantizer.apply(model, update_centroids=True)],
          progress=False, max_steps=steps)
    return quantizer
