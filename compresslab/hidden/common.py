"""What the hidden tests of several notebooks share: the embedded dataset they grade on, loaded once per grading
process, and the first test images the hidden accuracy checks measure."""

from torch.utils.data import DataLoader

from ..checkpoints import embedded_digits
from ..data import DataLoaders, first_batch

GRADED_TEST_IMAGES = 128  # the hidden accuracy checks (Table 1, the int8 model): the first test images, fp32 measured on the same


def graded_test_subset(count: int = GRADED_TEST_IMAGES) -> DataLoader:
    """The first ``count`` images of ``grading_digits()``'s test set in one batch: the hidden accuracy checks' budget."""
    return first_batch(grading_digits().test.dataset, count)


def grading_digits() -> DataLoaders:
    """The data the hidden tests that run ResNet-20 grade on: the embedded dataset with ResNet-20's normalization,
    loaded once per process (``checkpoints.embedded_digits``), the same the handed-in files are graded on."""
    return embedded_digits("resnet20")
