# Switchboard. `make run` and `make test` are all a fresh Debian machine with Rust needs: they
# install nats-server and redis-server when missing, and find (or start) a NATS with JetStream
# and a writable Redis on loopback; `make stop` stops the servers that make started.

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never
# The NATS and Redis that scripts/ensure-services.sh found or started.
WITH_SERVICES = ./scripts/with-services.sh

.PHONY: run run-release test test-specs catalog bench lint fmt deps services stop build clean-local

## run: build (the dev profile: quick to build, shared with `make test`) and run the whole
## platform in one process; `make run-release` runs the release build (`make bench`'s)
run: services
	$(WITH_SERVICES) $(CARGO) run -p switchboard-cli --bin switchboard -- dev

run-release: services
	$(WITH_SERVICES) $(CARGO) run --release -p switchboard-cli --bin switchboard -- dev

## test: the whole suite (unit, integration against real NATS and Redis, deploy checks);
## needs nothing outside the repository
test: services
	$(WITH_SERVICES) ./scripts/test.sh

## test-specs: the catalog checked against the providers' own API descriptions in
## ../shared/provider-specs (or $PROVIDER_SPECS), which live outside the repository; with the
## generated catalog: a sample of its tools from 12 toolkits run through the platform
test-specs: services catalog
	$(CARGO) test -p switchboard-catalog --features provider-specs \
		--test provider_specs --test trigger_specs --test oauth2_specs --test full_catalog
	$(CARGO) test -p switchboard-import --features provider-specs \
		--test catalog_drift --test provider_specs --test discovery_specs
	$(WITH_SERVICES) $(CARGO) test -p switchboard-tests --features provider-specs --test generated_tools

## catalog: generate the full catalog into toolkits/generated/ from the providers' descriptions
## ($PROVIDER_SPECS, default ../shared/provider-specs), toolkits/overlays/ and the hand-written
## toolkits/*.yaml; serve it with `--set catalog.dir=toolkits/generated`
PROVIDER_SPECS ?= ../shared/provider-specs
catalog:
	$(CARGO) run -p switchboard-cli --bin switchboard -- catalog generate \
		--specs $(PROVIDER_SPECS) --overlays toolkits/overlays --out toolkits/generated

## bench: sessions and end-to-end ExecuteTool throughput/latency (vs a direct HTTP call), peak memory
bench: services
	$(WITH_SERVICES) $(CARGO) run --release -p switchboard-cli --bin switchboard -- bench

## stop: stop the NATS and Redis servers that `make` started (and nothing else)
stop:
	./scripts/stop-services.sh

## lint: formatting and clippy, warnings as errors
lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## build: the release binaries (one codegen unit, thin LTO), as the image builds them
build:
	$(CARGO) build --workspace --release

deps:
	./scripts/ensure-deps.sh

services: deps
	./scripts/ensure-services.sh

clean-local: stop
	rm -rf .switchboard
