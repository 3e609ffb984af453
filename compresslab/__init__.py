"""compresslab: the library behind the compression notebooks and their grader.

One module per job, in four floors (``tests/test_package_shape.py`` checks the rules; CONTRIBUTING.md explains them).

Student-facing (a notebook's bundle ships the ones its cells and public tests import, nothing else):

- ``compresslab.device``      pick CUDA when present, else CPU
- ``compresslab.data``        the embedded digits dataset, CIFAR-10 from a local folder, the first images of a dataset
- ``compresslab.models``      ``Net``/``NetWithBias`` (EE290-2 Lab 1), ``VGG`` (seed 000), ``resnet20``, ``ConvStack``
- ``compresslab.training``    the training loops (epochs with a cosine schedule, or constant-lr steps) and evaluation
- ``compresslab.profiling``   parameters, size at a bit width (``model_size_bits``), MACs (torchprofile), latency
- ``compresslab.checkpoints`` the shipped fp32 checkpoints: load, and rebuild deterministically
- ``compresslab.checks``      the public checks' assertions, with messages in the student's terms
- ``compresslab.portable_random`` seeded random test inputs with the same bits on every CPU
- ``compresslab.plots``       every plot (matplotlib): the shared ones in the package, a notebook's own in
                              ``plots/<notebook>.py``
- ``compresslab.<notebook>_helpers``  the heavy lifting of one notebook (``int8_cnn``, ``pruning``, ``kmeans_linear``,
                              ``sawb_qat``); their functions take the student's functions as arguments
- ``compresslab.integer_kernels`` exact integer matrix products and convolutions (sawb_qat's integer-only layers)
- ``compresslab.fake_quantization`` fake-quantized conv/linear layers running a notebook's quantization functions,
                              calibration, quantization-aware training, batch-norm re-estimation (sawb_qat, weight_ptq)
- ``compresslab.zero_shot``   zero-shot calibration on distilled images (sawb_qat Part 4)
- ``compresslab.sawb_derivation`` derives the SAWB coefficients of 8 and 9 bits
- ``compresslab.outcomes``, ``quantized_handin`` the results a student hands in (files), their format and self-check
- ``compresslab.handin``      the student's ``grader``: checks, export zip (Otter)
- ``compresslab.stubs``       Otter Assign's marks in a release: the stub marker, the answer tag, the written placeholder
- ``compresslab.fixtures``    the hidden tests' fixed inputs and expected outputs, at run time (load, secrets zeroed)
- ``compresslab.public_mistakes`` what catalogued mistakes output on the public checks (generated; ``checks`` names them)

Grading only (the grader and the hidden tests; never in a bundle):

- ``compresslab.hidden``      the hidden tests' helpers: ``common`` (the dataset graded on), one module per notebook
- ``compresslab.grading``     ``make grade`` (see its package docstring)

Course tooling (the staff's commands):

- ``compresslab.paths``       the course-folder map: where masters, releases, bundles, autograders, fixtures, reference
                              checks, mistakes, examples and mutant catalogs live (``course()``)
- ``compresslab.notebook_fixtures`` one fixture builder per notebook
- ``compresslab.record_fixtures`` ``make fixtures``: fixtures, reference checks, mistakes, then the release
- ``compresslab.notebooks``   execute a notebook (nbclient)
- ``compresslab.release``     the student release, examples and autograder zips (``make release``)
- ``compresslab.handed_in_examples`` the files the example submissions hand in (written by ``make release``)
- ``compresslab.bundle``, ``autograder_zip`` the student's zip and the Gradescope upload
- ``compresslab.mutation``    grading catalogued wrong implementations (``mutants/<notebook>.py``; ``make mutation``)
- ``compresslab.mistakes``    how each catalogued mistake fails the tests, for the feedback (a ``make fixtures`` step)
- ``compresslab.bench``       ``make bench``
"""

__version__ = "0.1.0"
