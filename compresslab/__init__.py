"""compresslab: the library behind the compression notebooks and their grader.

One module per job:

- ``compresslab.device``      pick CUDA when present, else CPU
- ``compresslab.paths``       where data files live (``data/`` or ``$COMPRESSLAB_DATA``)
- ``compresslab.data``        the embedded digits dataset and CIFAR-10 from a local folder
- ``compresslab.models``      ``Net``/``NetWithBias`` (EE290-2 Lab 1), ``VGG`` (seed 000), ``resnet20``
- ``compresslab.training``    seeded training and evaluation loops with progress bars
- ``compresslab.profiling``   parameters, size at a bit width, MACs (torchprofile), latency
- ``compresslab.plots``       histograms and comparison plots (matplotlib)
- ``compresslab.checkpoints`` the shipped fp32 checkpoints: load, and rebuild deterministically
"""

__version__ = "0.1.0"
