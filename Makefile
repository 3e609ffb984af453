# compresslab: every target creates or reuses the pinned venv first.
# `make grade` grades the bundled example submissions; `make test` is what CI runs.

PYTHON_BASE ?= $(firstword $(wildcard /usr/bin/python3.11) $(shell command -v python3))
VENV ?= .venv
PY := $(VENV)/bin/python
# The venv is rebuilt only when the pinned dependencies in pyproject.toml change.
PINS_HASH := $(shell sha256sum pyproject.toml | cut -c1-16)
STAMP := $(VENV)/.installed-$(PINS_HASH)

SUBMISSIONS ?= data/examples
OUT ?= grades
NOTEBOOKS ?= $(sort $(basename $(notdir $(wildcard solution/*.ipynb))))

export PYTHONHASHSEED := 0
export MPLBACKEND := Agg

.PHONY: setup release grade merge test bench mutation checkpoints fixtures clean

setup: $(STAMP)

$(STAMP):
	rm -rf $(VENV)
	$(PYTHON_BASE) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

## Regenerate assignment/ and autograder/ from solution/ (byte-for-byte reproducible).
release: $(STAMP)
	$(PY) -m compresslab.release $(NOTEBOOKS)

## Grade a folder of submissions: make grade SUBMISSIONS=dir OUT=dir [JOBS=n] [TIMEOUT=s] [CELL_TIMEOUT=s] [MEMORY_GB=n] [PROCESSES=n] [SCRATCH_GB=n] [FULL=1] [UNSAFE=1]
## (JOBS, TIMEOUT, CELL_TIMEOUT, MEMORY_GB, PROCESSES, SCRATCH_GB and UNSAFE are read from the environment by the grader; re-running resumes.
##  UNSAFE=1 grades without the sandbox where bubblewrap or user namespaces are missing: see the README's threat model.)
## MANUAL=manual.csv merges points given by hand (written answers, regrades) without grading again; ROSTER=roster.csv
## (a Canvas Gradebook export) writes OUT/canvas.csv; NAMES=1 shows names instead of anonymous codes in OUT/written/.
grade: $(STAMP)
	$(PY) -m compresslab.grading.cli $(SUBMISSIONS) --out $(OUT) $(if $(FULL),--full) $(if $(MANUAL),--manual $(MANUAL)) $(if $(ROSTER),--roster $(ROSTER)) $(if $(NAMES),--names)

## Merge a class graded in parts on several machines: make merge PARTS="grades-1 grades-2" SUBMISSIONS=all OUT=grades
## (the parts' journals are merged into OUT, then `make grade` resumes from them: nothing is graded again).
merge: $(STAMP)
	$(PY) -m compresslab.grading.merge $(PARTS) --submissions $(SUBMISSIONS) --out $(OUT)

test: $(STAMP)
	$(PY) -m pytest

## Retrain the fp32 checkpoints in data/checkpoints (deterministic).
checkpoints: $(STAMP)
	$(PY) -m compresslab.checkpoints --all

## Regenerate the hidden-test fixtures in data/fixtures from the reference solutions, then what each check expects
## (data/fixtures/*.checks.pt, from the reference example that `make release` writes), then how each catalogued
## mistake fails the tests (data/fixtures/*.mistakes.pt and compresslab/public_mistakes.py), then the release, which ships them.
fixtures: $(STAMP)
	$(PY) -m compresslab.record_fixtures $(NOTEBOOKS)

## Grade every catalogued wrong implementation (mutants/); refresh the README's mutation table.
mutation: $(STAMP)
	$(PY) -m compresslab.mutation --out mutation-results.md

bench: $(STAMP)
	$(PY) -m compresslab.bench --out bench-results.md

clean:
	rm -rf $(VENV) grades build
