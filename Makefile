# The two commands of the README: `make lab` (set up, then stand up the lab trust group) and `make test`.
SHELL := /bin/bash
VENV  := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup lab test unit bench lint clean-lab
setup:
	@bash scripts/bootstrap.sh

lab: setup
	@bash scripts/lab.sh

test: setup
	@bash scripts/test.sh

unit: setup
	@$(VENV)/bin/python -m pytest -q tests -m "not interop and not slow"

bench: setup
	@bash scripts/bench.sh

clean-lab:
	@bash scripts/lab.sh --stop || true
	@rm -rf .lab
