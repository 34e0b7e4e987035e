# fleetauth.ssh: the two commands a newcomer runs are `make demo` and `make test`.
#
# Controllers tested (both run everything below):
#   2.19: ansible-core 2.19 on Python 3.11 (the machine's python3)
#   2.21: ansible-core 2.21 on Python 3.13 (from pyenv), where
#         ansible.builtin.paramiko_ssh no longer exists.
# Each gets a virtual environment under .venv/<core>/ pinned by
# tests/requirements/constraints-<core>.txt.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(abspath .)
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $$HOME/.pyenv)
PYTHON_2.19 ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.11*/bin/python3.11) $(shell command -v python3.11))
PYTHON_2.21 ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.13*/bin/python3.13) $(shell command -v python3.13))
CORE_2.19 := ansible-core==2.19.14
CORE_2.21 := ansible-core==2.21.5
CONTROLLERS ?= 2.19 2.21
# The controller used for lint, demo and the full molecule matrix.
MAIN ?= 2.19

LAB := python3 $(ROOT)/tests/lab/lab.py
COLLECTIONS := $(ROOT)/tests/output/collections
LINK := $(COLLECTIONS)/ansible_collections/fleetauth/ssh
SUITES ?= bullseye bookworm trixie
# Molecule scenarios run on the main controller; SMOKE runs on every controller.
SCENARIOS ?= $(notdir $(patsubst %/molecule.yml,%,$(wildcard extensions/molecule/*/molecule.yml)))
SMOKE ?= default kbdint_connection

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_FORCE_COLOR ?= 0
export ANSIBLE_NOCOLOR ?= 1
export PY_COLORS ?= 0

venv = $(ROOT)/.venv/$(1)
bin = $(ROOT)/.venv/$(1)/bin

.PHONY: help test demo lint docs docs-check build-check sanity units integration molecule lab-build venvs link clean bench changelog

help:
	@echo "make demo   bring a lab fleet up and run the collection's playbooks against it (root, debootstrap, systemd-container)"
	@echo "make test   everything CI runs: ruff, ansible-lint, ansible-test sanity, unit and molecule tests on both controllers"
	@echo "make lint | sanity | units | integration | molecule SCENARIOS='default' | bench | clean"

# ------------------------------------------------------------------ environments

# A venv is (re)built only when its pinned constraints or dev.in differ from what
# it was built with (content, not mtime: worktrees and fresh clones stay cheap).
.venv/%/.stamp: FORCE
	@if ! cat tests/requirements/constraints-$*.txt tests/requirements/dev.in | cmp -s - $@; then \
	  echo "== creating .venv/$* (ansible-core $*, $(PYTHON_$*))"; \
	  test -x "$(PYTHON_$*)" || { echo "no Python for ansible-core $*: set PYTHON_$*=/path/to/python"; exit 1; }; \
	  rm -rf .venv/$* && $(PYTHON_$*) -m venv .venv/$* && \
	  .venv/$*/bin/pip install -q --disable-pip-version-check -c tests/requirements/constraints-$*.txt "$(CORE_$*)" -r tests/requirements/dev.in && \
	  cat tests/requirements/constraints-$*.txt tests/requirements/dev.in > $@; \
	fi

FORCE:

venvs: $(foreach c,$(CONTROLLERS),.venv/$(c)/.stamp)

link:
	@mkdir -p $(dir $(LINK))
	@test -L $(LINK) || ln -sfn $(ROOT) $(LINK)

# ------------------------------------------------------------------ checks

test: lint docs-check build-check sanity units integration
	@echo "== make test: all passed"

lint: .venv/$(MAIN)/.stamp link
	@echo "== ruff"
	$(call bin,$(MAIN))/ruff check .
	$(call bin,$(MAIN))/ruff format --check .
	@echo "== ansible-lint (production profile)"
	@# ANSIBLE_HOME under tests/output: a fleetauth.ssh installed in ~/.ansible/collections must not shadow this tree.
	ANSIBLE_HOME=$(ROOT)/tests/output/ansible-home PATH=$(call bin,$(MAIN)):$$PATH ansible-lint --offline --profile production
	@echo "== antsibull-changelog lint"
	$(call bin,$(MAIN))/antsibull-changelog lint

# docs/reference/ is generated from the plugins' own DOCUMENTATION.
docs: .venv/$(MAIN)/.stamp link
	PATH=$(call bin,$(MAIN)):$$PATH $(call bin,$(MAIN))/python docs/generate_reference.py
docs-check: .venv/$(MAIN)/.stamp link
	PATH=$(call bin,$(MAIN)):$$PATH $(call bin,$(MAIN))/python docs/generate_reference.py --check

# The artifact users get: build the tarball, install it, list its plugins.
build-check: .venv/$(MAIN)/.stamp
	@echo "== ansible-galaxy collection build + install + ansible-doc"
	rm -rf tests/output/build && mkdir -p tests/output/build
	$(call bin,$(MAIN))/ansible-galaxy collection build --output-path tests/output/build .
	$(call bin,$(MAIN))/ansible-galaxy collection install --force -p tests/output/build/installed tests/output/build/fleetauth-ssh-*.tar.gz
	ANSIBLE_COLLECTIONS_PATH=$(ROOT)/tests/output/build/installed $(call bin,$(MAIN))/ansible-doc -l fleetauth.ssh
	ANSIBLE_COLLECTIONS_PATH=$(ROOT)/tests/output/build/installed $(call bin,$(MAIN))/ansible-doc -t connection -l fleetauth.ssh

# ansible-test needs the collection at .../ansible_collections/fleetauth/ssh; it runs
# on a copy of the files git knows (tracked and new), under tests/output/, made a
# git repository of its own so ansible-test lists exactly those files.
sanity: $(foreach c,$(CONTROLLERS),sanity-$(c))
sanity-%: .venv/%/.stamp
	@echo "== ansible-test sanity (ansible-core $*)"
	$(call bin,$*)/python tests/sanity/prime_cache.py $$($(call bin,$*)/python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
	rm -rf tests/output/sanity-$*
	mkdir -p tests/output/sanity-$*/ansible_collections/fleetauth/ssh
	git ls-files -co --exclude-standard -z | grep -zv '^\.ci/' | xargs -0 cp --parents -t tests/output/sanity-$*/ansible_collections/fleetauth/ssh
	cd tests/output/sanity-$*/ansible_collections/fleetauth/ssh && git init -q && git add -A && \
	  PATH=$(call bin,$*):$$PATH ansible-test sanity --venv --python $$($(call bin,$*)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])') --color no --truncate 0

units: $(foreach c,$(CONTROLLERS),units-$(c))
units-%: .venv/%/.stamp link
	@echo "== unit tests (ansible-core $*)"
	PYTHONPATH=$(COLLECTIONS) $(call bin,$*)/python -m pytest -q -p no:cacheprovider tests/unit

# ------------------------------------------------------------------ lab and molecule

lab-build:
	@for s in $(SUITES); do $(LAB) build --suite $$s || exit 1; done

integration: lab-build
	@$(MAKE) --no-print-directory molecule CONTROLLER=$(MAIN) SCENARIOS="$(SCENARIOS)"
	@for c in $(filter-out $(MAIN),$(CONTROLLERS)); do \
	  $(MAKE) --no-print-directory molecule CONTROLLER=$$c SCENARIOS="$(SMOKE)" || exit 1; done

CONTROLLER ?= $(MAIN)
molecule: .venv/$(CONTROLLER)/.stamp link
	@for s in $(SCENARIOS); do \
	  echo "== molecule scenario $$s (ansible-core $(CONTROLLER))"; \
	  PATH=$(call bin,$(CONTROLLER)):$$PATH FLEETAUTH_CONTROLLER=$(CONTROLLER) \
	    molecule test -s $$s || exit 1; \
	done

# ------------------------------------------------------------------ demo, bench, housekeeping

DEMO_LAB ?= demo
DEMO_HOSTS ?= 3
DEMO_SUITE ?= bookworm
DEMO_REPORTS ?= $(ROOT)/tests/output/demo
demo: .venv/$(MAIN)/.stamp link
	$(LAB) build --suite $(DEMO_SUITE)
	$(LAB) down --name $(DEMO_LAB)
	$(LAB) up --name $(DEMO_LAB) --hosts $(DEMO_HOSTS) --suite $(DEMO_SUITE)
	PATH=$(call bin,$(MAIN)):$$PATH ansible-playbook -i $$($(LAB) inventory --name $(DEMO_LAB)) \
	  playbooks/demo.yml -e demo_report_dir=$(DEMO_REPORTS)
	@echo "== reports: $(DEMO_REPORTS)/before/report.html and $(DEMO_REPORTS)/after/report.html"
	@echo "== demo lab '$(DEMO_LAB)' is still up: $(LAB) status / $(LAB) down --name $(DEMO_LAB)"

bench: .venv/$(MAIN)/.stamp link lab-build
	@for b in bench/bench_*.py; do PATH=$(call bin,$(MAIN)):$$PATH $(call bin,$(MAIN))/python $$b || exit 1; done

changelog: .venv/$(MAIN)/.stamp
	$(call bin,$(MAIN))/antsibull-changelog release

clean:
	rm -rf tests/output .pytest_cache .ruff_cache
