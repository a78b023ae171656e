# pycontainers: the two README commands are `make demo` and `make test`; both set up what they need.
DEVICE ?= conf/devices/demo.yml
OUT ?= build/demo
VENV := .venv/bin
PYTEST_ARGS ?=
# pytest-xdist workers: one per core (QEMU runs single-threaded TCG); every image is still built
# once per session (qemu/conftest.py). The slowest tests are listed at the end of every run.
JOBS ?= $(shell nproc)
PYTEST_PARALLEL := -n $(JOBS) --durations=25 --durations-min=5

.PHONY: setup demo test test-fast test-boards docs golden bench compare clean

setup:
	@scripts/setup

# Main job: generate, build and boot the reference device, then print the boot timeline.
demo: setup
	$(VENV)/pycontainers generate $(DEVICE) -o $(OUT)
	$(VENV)/pycontainers build $(DEVICE) -o $(OUT)
	$(VENV)/pycontainers boot $(DEVICE) -o $(OUT) --check

# Every test: generator, manager (C unit tests + black-box), QEMU harness and boot tests.
test: setup
	$(MAKE) -C runtime test
	$(VENV)/python -m pytest tests qemu $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# The single-board QEMU tests (boot, fault injection, updates, power cuts) on every QEMU board;
# `make test` runs them on qemuarm64 and the per-board boot + A/B matrix on all.
test-boards: setup
	@set -e; for b in $$(ls conf/boards/*.yml | xargs -n1 basename | sed 's/\.yml$$//'); do \
		if grep -q '^qemu: *null' conf/boards/$$b.yml; then continue; fi; \
		echo "== $$b"; $(VENV)/python -m pytest qemu --board $$b -k "not every_qemu_board" $(PYTEST_PARALLEL) $(PYTEST_ARGS); done

# Only the fast tests (no QEMU, no network).
test-fast: setup
	$(VENV)/python -m pytest tests -m "not network and not qemu" $(PYTEST_ARGS)

docs: setup
	$(VENV)/pycontainers schema --markdown > docs/device-format.md
	$(VENV)/pycontainers schema --board --markdown > docs/board-format.md

golden: setup
	$(VENV)/python tests/update_golden.py

bench: setup
	$(VENV)/python bench/boot.py

# pycm + crun against Docker and Podman in the same QEMU guest (docs/performance.md; ~25 min)
compare: setup
	$(VENV)/python bench/compare.py -o build/compare

clean:
	rm -rf build runtime/out
