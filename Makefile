# Entry points. `make install` and `make test` are the two commands in README.md.
SHELL := /bin/bash
ROOT := $(abspath .)
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
COLL := $(ROOT)/.collections/ansible_collections/openshift_ai/model_serving
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export PATH := $(VENV)/bin:$(PATH)
export GOTOOLCHAIN := local

.PHONY: venv deps testbed-build testbed-up testbed-down testbed-status install test test-unit test-integration lint sanity bench clean

# Python virtualenv with runtime + test requirements; re-created only when the requirement files change.
$(VENV)/.stamp: requirements.txt requirements-test.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-test.txt
	touch $@

# The collection must live at ansible_collections/openshift_ai/model_serving for Ansible to load it.
$(COLL):
	mkdir -p $(dir $(COLL))
	ln -sfn $(ROOT) $(COLL)

venv: $(VENV)/.stamp $(COLL)

testbed-build:
	testbed/build.sh

# Real servers some tests run beside the testbed (Prometheus, MariaDB), from Debian's packages.
deps:
	testbed/deps.sh

testbed-up: venv testbed-build
	$(PY) -m testbed up

testbed-down: venv
	$(PY) -m testbed down

testbed-status: venv
	$(PY) -m testbed status

# Main job: install the model-serving platform on the embedded testbed, then deploy the demo model
# of inventories/local and call it (its endpoint and answer are in the last task's output).
install: testbed-up
	K8S_AUTH_KUBECONFIG=$(ROOT)/.testbed/kubeconfig ansible-playbook -i inventories/local playbooks/install.yml
	K8S_AUTH_KUBECONFIG=$(ROOT)/.testbed/kubeconfig ansible-playbook -i inventories/local playbooks/deploy_models.yml

# Whole test suite: unit, sanity, lint, integration (testbed) and molecule scenarios, in one pytest run.
# Two xdist workers, each taking whole files (a file's module fixtures stay in one process); the 60
# slowest tests are listed at the end.
test: venv deps testbed-build
	$(PY) -m pytest tests testbed/tests -p no:cacheprovider -n 2 --dist loadfile --durations=60

test-unit: venv
	$(PY) -m pytest tests/unit -p no:cacheprovider

test-integration: venv deps testbed-build
	$(PY) -m pytest tests/integration testbed/tests -p no:cacheprovider

bench: venv deps testbed-build
	$(PY) bench/testbed_startup.py
	$(PY) bench/wait_lag.py

clean: testbed-down
	rm -rf .testbed .collections tests/output
