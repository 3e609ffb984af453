"""compresslab: the library behind the compression notebooks and their grader.

One module per job:

- ``compresslab.device``      pick CUDA when present, else CPU
- ``compresslab.paths``       the course-folder map: where masters, releases, bundles, autograders, fixtures, reference
                              checks, mistakes, examples and mutant catalogs live (``course()``)
- ``compresslab.data``        the embedded digits dataset and CIFAR-10 from a local folder
- ``compresslab.models``      ``Net``/``NetWithBias`` (EE290-2 Lab 1), ``VGG`` (seed 000), ``resnet20``, ``ConvStack``
- ``compresslab.training``    seeded training and evaluation loops with progress bars (epochs with a cosine schedule,
                              or a fixed number of constant-lr steps)
- ``compresslab.profiling``   parameters, size at a bit width, MACs (torchprofile), latency
- ``compresslab.plots``       histograms and comparison plots (matplotlib)
- ``compresslab.checkpoints`` the shipped fp32 checkpoints: load, and rebuild deterministically
- ``compresslab.checks``      the public checks' assertions, with messages in the student's terms
- ``compresslab.portable_random`` seeded random test inputs with the same bits on every CPU
- ``compresslab.int8_cnn_helpers``, ``pruning_helpers``, ``kmeans_linear_helpers``, ``sawb_qat_helpers``
                              the heavy lifting of one notebook each (int8_cnn, pruning,
                              kmeans_linear, sawb_qat); ``sawb_derivation`` derives SAWB coefficients
- ``compresslab.integer_kernels`` exact integer matrix products and convolutions (sawb_qat's integer-only layers)
- ``compresslab.fake_quantization`` fake-quantized conv/linear layers running a notebook's quantization functions,
                              calibration, quantization-aware training, batch-norm re-estimation (sawb_qat)
- ``compresslab.zero_shot``   zero-shot calibration on distilled images (sawb_qat Part 4)
- ``compresslab.fixtures``    the hidden tests' fixed inputs and expected outputs, at run time (load, secrets zeroed)
- ``compresslab.notebook_fixtures`` one fixture builder per notebook
- ``compresslab.record_fixtures`` ``make fixtures``: fixtures, reference checks, mistakes, then the release
- ``compresslab.notebooks``   execute a notebook (nbclient)
- ``compresslab.release``     the student release, examples and autograder zips (``make release``)
- ``compresslab.bundle``      the student's zip: notebook, the library modules it imports, its data
- ``compresslab.grading``     ``make grade`` (see its package docstring)
- ``compresslab.mutation``    grading catalogued wrong implementations (``mutants/<notebook>.py``; ``make mutation``)
- ``compresslab.mistakes``    how each catalogued mistake fails the tests, for the feedback (a ``make fixtures`` step)
- ``compresslab.bench``       ``make bench``
"""

__version__ = "0.1.0"
