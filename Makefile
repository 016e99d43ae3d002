# pxe-catalog: `make run` starts nginx + the worker on 127.0.0.1 with a demo catalog;
# `make test` runs every test. Both install missing Debian packages first.
SWIFT       ?= swift
PORT        ?= 8080
STATE_DIR   ?= $(CURDIR)/.state
CATALOG_DIR ?=
ADMIN_TOKEN_FILE ?=
RELEASE_BIN := .build/release/pxe-catalog

FUZZ_SECONDS ?= 60
FUZZ_DIR    := .build/fuzz

.PHONY: all deps build build-debug run test fuzz check-concurrency clean

all: build

deps:
	@deploy/dev/install-deps.sh

build: deps
	$(SWIFT) build -c release --product pxe-catalog

build-debug: deps
	$(SWIFT) build --build-tests

run: build
	@PORT="$(PORT)" STATE_DIR="$(STATE_DIR)" CATALOG_DIR="$(CATALOG_DIR)" ADMIN_TOKEN_FILE="$(ADMIN_TOKEN_FILE)" \
		deploy/dev/run.sh "$(RELEASE_BIN)"

test: build-debug
	$(SWIFT) test --skip-build

# libFuzzer on the PNG metadata reader for FUZZ_SECONDS; crashes land in $(FUZZ_DIR)/artifacts.
fuzz: build
	mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds $(FUZZ_DIR)/artifacts
	$(RELEASE_BIN) demo-catalog $(FUZZ_DIR)/seeds-tree >/dev/null
	find $(FUZZ_DIR)/seeds-tree -name '*.png' -exec cp {} $(FUZZ_DIR)/seeds/ \;
	swiftc -sanitize=fuzzer,address -parse-as-library -swift-version 6 -O -module-name PNGFuzz \
		-I Sources/CZlib Fuzz/PNGMetadataFuzzer.swift Sources/PXECatalog/*.swift -lz -o $(FUZZ_DIR)/png-metadata
	$(FUZZ_DIR)/png-metadata $(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds -max_total_time=$(FUZZ_SECONDS) \
		-max_len=65536 -timeout=10 -rss_limit_mb=4096 -artifact_prefix=$(FUZZ_DIR)/artifacts/ -print_final_stats=1

# The unit and end-to-end tests under ThreadSanitizer (separate build folder); the end-to-end
# tests then drive a ThreadSanitizer build of the worker too.
check-concurrency: deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	E2E_WORKER_BINARY=$(CURDIR)/.build-tsan/debug/pxe-catalog TSAN_OPTIONS=halt_on_error=1 \
		$(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan

clean:
	rm -rf .build .state
