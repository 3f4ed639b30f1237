# Switchboard. `make run` and `make test` are all a fresh Debian machine with Rust needs:
# they install nats-server and redis-server when missing and start them when not running.

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: run test bench lint fmt deps services build clean-local

## run: build and run the whole platform (gateway, worker, triggers) in one process
run: services
	$(CARGO) run --release -p switchboard-cli --bin switchboard -- dev

## test: the whole suite (unit, catalog-vs-provider-spec, integration against real NATS and Redis)
test: services
	./scripts/test.sh

## bench: sessions and end-to-end ExecuteTool throughput/latency (vs a direct HTTP call), peak memory
bench: services
	$(CARGO) run --release -p switchboard-cli --bin switchboard -- bench

## lint: formatting and clippy, warnings as errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

build:
	$(CARGO) build --workspace --release

deps:
	./scripts/ensure-deps.sh

services: deps
	./scripts/ensure-services.sh

clean-local:
	rm -rf .switchboard
