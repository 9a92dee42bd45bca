# The two commands: `make run` brings the whole system up, `make test` runs every test.
SHELL := /bin/bash
UV_VERSION := 0.13.8
# Where `pip install` puts console scripts for this python3 (pyenv, venv or system), so a
# freshly installed uv is found by every recipe and script.
PY_SCRIPTS := $(shell python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)
export PATH := $(PY_SCRIPTS):$(HOME)/.local/bin:$(PATH)

.PHONY: help install run test test-unit test-integration test-e2e demo infra-up infra-down \
        infra-status topics lint format typecheck check check-alerts check-k8s chaos schemas bench \
        bench-authz soak clean images compose-test

help:
	@echo "make run    - install what is missing, start Kafka, Redis, sinks and the six services"
	@echo "make test   - unit, integration and end-to-end tests against real infrastructure"
	@echo "make demo   - drive the access and invoice journeys against a running system"
	@echo "make check  - ruff, mypy and the tests"
	@echo "make bench  - outbox relay and consumer throughput vs raw aiokafka"
	@echo "make bench-authz - check, batch and invoice list under load, overload, OpenFGA, revocation"
	@echo "make chaos  - kill -9, database and broker outages during billing runs, effects counted"
	@echo "make soak   - relay + consumer at half capacity for 30 min (SOAK_ARGS=...)"
	@echo "make images - build every container image here (Debian, PyPI, Maven Central; no registry)"
	@echo "make compose-test - images, docker-compose.yml up, journeys through the gateway, down"

install:
	@command -v uv >/dev/null 2>&1 || python3 -m pip install -q "uv==$(UV_VERSION)" \
		|| python3 -m pip install -q --user --break-system-packages "uv==$(UV_VERSION)"
	uv sync --all-packages --locked

infra-up:
	deploy/local/infra.sh up

infra-down:
	deploy/local/infra.sh down

infra-status:
	deploy/local/infra.sh status

topics: install
	uv run portal-topics ensure

# make does not pass SIGTERM on to its recipe; run.sh watches make's pid and stops the
# system when make goes away, so `kill <make pid>` stops everything too.
MAKE_PID := $(shell echo $$PPID)

run: install
	PORTAL_SUPERVISOR_PID=$(MAKE_PID) deploy/local/run.sh

test: install
	deploy/local/test.sh all

test-unit: install
	deploy/local/test.sh unit

test-integration: install
	deploy/local/test.sh integration

test-e2e: install
	deploy/local/test.sh e2e

demo: install
	uv run python deploy/local/demo.py

lint: install
	uv run ruff check .
	uv run ruff format --check .

format: install
	uv run ruff format .
	uv run ruff check --fix .

typecheck: install
	uv run mypy libs/contracts/src libs/servicekit/src services/*/src

# promtool checks the alert rules and runs their unit tests; built with Go on first use.
PROMTOOL := $(shell go env GOPATH 2>/dev/null)/bin/promtool
check-alerts:
	@test -x "$(PROMTOOL)" || (. deploy/local/versions.env && GOFLAGS=-mod=mod GOSUMDB=off \
		go install github.com/prometheus/prometheus/cmd/promtool@$$PROMTOOL_MODULE_VERSION)
	cd deploy/monitoring && "$(PROMTOOL)" check rules alerts.yml && "$(PROMTOOL)" test rules alerts.test.yml

# kustomize build of deploy/k8s (and jobs/), every document strictly decoded into the
# Kubernetes and Gateway API types (tools/k8s-validate), the gateway's files current.
KUSTOMIZE := $(shell go env GOPATH 2>/dev/null)/bin/kustomize
K8S_VALIDATE := var/bin/k8s-validate
check-k8s:
	@test -x "$(KUSTOMIZE)" || (. deploy/local/versions.env && GOFLAGS=-mod=mod GOSUMDB=off \
		go install sigs.k8s.io/kustomize/kustomize/v5@$$KUSTOMIZE_VERSION)
	cd tools/k8s-validate && GOFLAGS=-mod=mod GOSUMDB=off go build -o ../../$(K8S_VALIDATE) .
	"$(KUSTOMIZE)" build deploy/k8s | $(K8S_VALIDATE)
	"$(KUSTOMIZE)" build deploy/k8s/jobs | $(K8S_VALIDATE)
	$(K8S_VALIDATE) < deploy/k8s/secrets.template.yaml
	uv run python tools/gateway.py --check

check: lint typecheck check-alerts check-k8s test

schemas: install
	uv run python -m contracts.export
	uv run python tools/export_docs.py

# Faults at random points of billing runs, every effect counted (minutes; not in `make test`).
chaos: install
	deploy/local/infra.sh up
	uv run portal-topics ensure
	SINK_URL=http://127.0.0.1:8025 TEST_POSTGRES_URL=postgresql+asyncpg://portal:portal@127.0.0.1:5432/postgres \
		uv run python tests-e2e/chaos.py $(CHAOS_ARGS)

bench: install
	deploy/local/infra.sh up
	uv run python bench/throughput.py

# Authorization under load (vegeta) with OpenFGA side by side, then revocation (50 trials);
# BENCH_AUTHZ_ARGS="--db postgres" for PostgreSQL. Both Go tools are built on first use.
VEGETA := $(shell go env GOPATH 2>/dev/null)/bin/vegeta
OPENFGA := $(shell go env GOPATH 2>/dev/null)/bin/openfga
bench-authz: install
	@test -x "$(VEGETA)" || GOSUMDB=off go install github.com/tsenart/vegeta/v12@v12.12.0
	@test -x "$(OPENFGA)" || GOSUMDB=off go install github.com/openfga/openfga/cmd/openfga@v1.22.1
	deploy/local/infra.sh up
	uv run python bench/authz_load.py $(BENCH_AUTHZ_ARGS)
	uv run python bench/revocation.py $(BENCH_AUTHZ_ARGS)

# Not part of `make test`: 30 minutes by default; e.g. SOAK_ARGS="--minutes 10 --db postgres".
soak: install
	deploy/local/infra.sh up
	uv run python bench/soak.py $(SOAK_ARGS)

# Container images from Debian packages, PyPI and Maven Central (podman is installed and
# configured first on a machine without Docker); up-to-date images are skipped.
images:
	deploy/images/setup-podman.sh
	deploy/images/build.sh

# The compose stack end to end through the gateway, then torn down (docs/deploy.md).
compose-test: install
	deploy/images/compose-test.sh

clean:
	rm -rf var .venv
