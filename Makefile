# Autoheal: every command sets itself up (pinned Python tools in .venv, the cargo build).
# Needs only the Rust toolchain, Python 3 and make.

CARGO ?= cargo
VENV  := .venv/bin

.PHONY: all venv build test test-rust lint-template check-layers sam-check check-calls lint demo bench lambda clean help

all: test

help:
	@echo "make demo           run the incident scenarios end to end against the emulator"
	@echo "make test           every test: template lint, sam build (stand-in), unit, end-to-end (emulator), IAM per call"
	@echo "make bench          benchmarks (numbers go to BENCHMARKS.md)"
	@echo "make lambda         arm64 release binaries (cargo lambda build); sam build does the same per function"

venv:
	@tools/venv.sh

build: venv
	$(CARGO) build --workspace --locked

# In this order: the call check reads the journal that test-rust's end-to-end suite writes.
test: venv check-layers lint-template sam-check test-rust check-calls

# Every emulator the suite starts journals each call a function makes (tests/world/emulator.py).
CALL_JOURNAL := target/call-journal

test-rust: venv
	rm -rf $(CALL_JOURNAL)
	AUTOHEAL_CALL_JOURNAL_DIR=$(CURDIR)/$(CALL_JOURNAL) $(CARGO) test --workspace --locked --no-fail-fast

# Each journaled call against its own function's IAM policy; then once with a permission removed
# (task-watch's iam:PassRole), which must fail, so a check that stopped checking cannot stay green.
check-calls: venv
	$(VENV)/python tools/check-calls.py $(CALL_JOURNAL)
	$(VENV)/python tools/check-calls.py --plant-missing task-watch:PassScheduledTaskRoles $(CALL_JOURNAL)

# sam validate --lint, and sam build with a stand-in cargo-lambda (no release build).
sam-check: venv
	@tools/check-sam-build.sh

lint-template: venv
	@tools/lint-template.sh

# The library's import graph: no circle, every import runs down the flow (docs/architecture.md).
check-layers:
	@python3 tools/check-layers.py shared/src

# Not part of `make test`: clippy is a third build profile, and CI builds each profile once.
lint: lint-template
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) fmt --all --check

demo: build
	@$(VENV)/python tools/demo.py

bench: venv
	@tools/bench.sh

# Deployable artifacts: target/lambda/<function>/bootstrap (needs the aarch64 std:
# rustup target add aarch64-unknown-linux-gnu). ARCH=x86-64 builds x86_64 instead.
ARCH ?= arm64
lambda: venv
	PATH="$(CURDIR)/$(VENV):$$PATH" $(VENV)/cargo-lambda lambda build --release --$(ARCH) --locked

clean:
	$(CARGO) clean
	rm -rf .venv .tools
