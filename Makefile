# Autoheal: every command sets itself up (pinned Python tools in .venv, the cargo build).
# Needs only the Rust toolchain, Python 3 and make.

CARGO ?= cargo
VENV  := .venv/bin

.PHONY: all venv build test test-rust lint-template check-layers lint demo bench lambda clean help

all: test

help:
	@echo "make demo           run the incident scenarios end to end against the emulator"
	@echo "make test           every test: unit, end-to-end (emulator), template lint"
	@echo "make bench          benchmarks (numbers go to BENCHMARKS.md)"
	@echo "make lambda         arm64 release artifacts for sam deploy (cargo lambda build)"

venv:
	@tools/venv.sh

build: venv
	$(CARGO) build --workspace --locked

test: venv check-layers lint-template test-rust

test-rust: venv
	$(CARGO) test --workspace --locked --no-fail-fast

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
	rm -rf .venv
