# The two set-up commands of the README: `make run` and `make test`.
# Each one creates the virtual environment, installs the pinned requirements and trains the model
# when needed, by itself.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export RASA_TELEMETRY_ENABLED := false
export PYTHONPATH := $(CURDIR)

.PHONY: run test venv train lint validate unit stories eval bench bench-dashboard webhook admin clean

venv:
	@bash scripts/ensure_venv.sh

train: venv
	@$(PY) -m scripts.train

run: train
	@$(PY) -m scripts.run

lint: venv
	@$(VENV)/bin/ruff check actions components connectors dashboard stores scripts tests bench

validate: venv
	@$(VENV)/bin/rasa data validate --fail-on-warnings --domain domain.yml --data data --config config.yml

test: venv
	@bash scripts/test.sh

eval: train
	@$(PY) -m scripts.evaluate

bench: train
	@$(PY) -m bench.telegram_bench --replicas 3 --rates 20,25,30,35

bench-dashboard: venv
	@$(PY) -m bench.dashboard_bench

webhook: venv
	@$(PY) -m scripts.set_webhook

admin: venv
	@$(PY) -m dashboard.cli create-admin

clean:
	rm -rf models state .rasa results
