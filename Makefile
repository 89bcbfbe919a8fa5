# Rapport: one command to run it, one to test it. See README.md.
SHELL := /bin/bash
UV ?= uv
PY := $(UV) run --frozen
SERVICES := identity records signaling webhooks notifications
# Processes honcho starts; Kafka only when RAPPORT_KAFKA_BOOTSTRAP does not name a broker.
PROCESSES := $(if $(RAPPORT_KAFKA_BOOTSTRAP),identity records signaling webhooks notifications mail gateway banner,)

.PHONY: audit install run migrate seed test test-unit test-integration test-e2e lint format bench kafka-jars fhir-validator kustomize manifests clean

install: web/node_modules/.package-lock.json
	$(UV) sync --frozen

# The pages are plain ES modules (no build step); npm only fetches the libraries they load.
web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund

kafka-jars: install
	$(PY) python -m devservers.kafka.launcher fetch

# HAPI FHIR's R4 instance validator (Maven jars, compiled with javac), which the tests check
# FHIR output against.
fhir-validator: install
	$(PY) python -m devservers.fhir_validator.launcher fetch

# The deploy tests render the Kubernetes overlays with kustomize (built once with Go, cached).
kustomize: install
	$(PY) python -m devservers.kustomize fetch

# docker-compose.yml, deploy/kubernetes/ and the README's configuration reference, from
# deploy/topology.py and the settings classes (a unit test fails when they are stale).
manifests: install
	$(PY) python -m deploy.manifests

migrate: install
	@mkdir -p var
	@for s in $(SERVICES); do $(PY) python -m services.$$s migrate || exit 1; done

seed: migrate
	$(PY) python -m services.identity seed-demo

# Local development: partner receivers on this machine (127.0.0.1) are allowed as webhook URLs,
# and partners' JWKS URLs may be local too.
run: export RAPPORT_WEBHOOKS_ALLOW_PRIVATE_URLS ?= true
run: export RAPPORT_IDENTITY_PARTNER_JWKS_ALLOW_PRIVATE_URLS ?= true
run: install $(if $(RAPPORT_KAFKA_BOOTSTRAP),,kafka-jars) seed
	$(PY) honcho --procfile deploy/Procfile --app-root . start $(PROCESSES)

test: install kafka-jars kustomize fhir-validator
	$(PY) pytest tests -q -p no:cacheprovider

test-unit: install kustomize fhir-validator
	$(PY) pytest tests/unit -q

test-integration: install kafka-jars fhir-validator
	$(PY) pytest tests/integration -q

test-e2e: install kafka-jars
	$(PY) pytest tests/e2e -q

lint: install
	$(PY) ruff check .
	$(PY) ruff format --check .
	$(PY) mypy shared services gateway deploy devservers
	$(PY) lint-imports

format: install
	$(PY) ruff format .
	$(PY) ruff check --fix .

# The locked dependencies against known vulnerabilities (pip-audit over uv.lock, npm audit of
# web/); fails on a finding not in deploy/audit-allowlist.toml, and on anything not audited.
audit: install
	$(PY) python -m deploy.supply_chain

# Every benchmark, then one table of their figures (BENCH="identity gateway" for some only).
bench: install kafka-jars
	$(PY) python -m bench $(BENCH)

clean:
	rm -rf var
