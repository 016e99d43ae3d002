# pxe-catalog: `make run` starts nginx + the worker on 127.0.0.1 with a demo catalog;
# `make test` runs every test. Both install missing Debian packages first.
SWIFT       ?= swift
PORT        ?= 8080
STATE_DIR   ?= $(CURDIR)/.state
CATALOG_DIR ?=
RELEASE_BIN := .build/release/pxe-catalog

.PHONY: all deps build build-debug run test clean

all: build

deps:
	@deploy/dev/install-deps.sh

build: deps
	$(SWIFT) build -c release --product pxe-catalog

build-debug: deps
	$(SWIFT) build --build-tests

run: build
	@PORT="$(PORT)" STATE_DIR="$(STATE_DIR)" CATALOG_DIR="$(CATALOG_DIR)" deploy/dev/run.sh "$(RELEASE_BIN)"

test: build-debug
	$(SWIFT) test --skip-build

clean:
	rm -rf .build .state
