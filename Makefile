# pxe-catalog: `make run` starts nginx + the worker on 127.0.0.1 with a demo catalog;
# `make test` runs every test. Both install missing Debian packages first.
SWIFT       ?= swift
PORT        ?= 8080
LISTEN      ?= 127.0.0.1
STATE_DIR   ?= $(CURDIR)/.state
CATALOG_DIR ?=
ADMIN_TOKEN_FILE ?=
RELEASE_BIN := .build/release/pxe-catalog

# Installation layout (`make install PREFIX=/usr DESTDIR=pkgroot` for packaging).
PREFIX        ?= /usr/local
DESTDIR       ?=
BINDIR        ?= $(PREFIX)/bin
SYSCONFDIR    ?= /etc
DOCDIR        ?= $(PREFIX)/share/doc/pxe-catalog
SYSTEMDDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR   ?= $(PREFIX)/lib/sysusers.d
SOCKET        ?= /run/pxe-catalog/fcgi.sock
CATALOG_ROOTS ?= /srv/pxe-catalog/images
INSTALL_BIN   ?= $(RELEASE_BIN)
UNIT_SED = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
	-e 's|@SOCKET@|$(SOCKET)|g' -e 's|@CATALOG_ROOTS@|$(CATALOG_ROOTS)|g'

FUZZ_SECONDS ?= 60
FUZZ_DIR    := .build/fuzz

BENCH_ARGS ?=

DATADIR       ?= $(PREFIX)/share/pxe-catalog
BASHCOMPDIR   ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR    ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR   ?= $(PREFIX)/share/fish/vendor_completions.d
STATIC_DIR    := .build/static
TOOLS         := .build/tools/bin
# Where the end-to-end tests record every response they receive, for the contract check.
RESPONSES_DIR := .build/contract/responses

.PHONY: all deps test-deps boot-parts installer-parts secure-boot-loaders static static-check build build-debug run boot-demo lab test contract bench fuzz check-concurrency install install-files clean

all: build

# What building and running needs (`make run`); `make boot-demo` adds QEMU, iPXE's ROMs and
# OVMF, `make test` everything the tests use (deploy/dev/install-deps.sh says what and why).
deps:
	@deploy/dev/install-deps.sh run

test-deps:
	@deploy/dev/install-deps.sh test

# Debian's kernel and a busybox initramfs for the containers that boot (demo and tests), once.
boot-parts: deps
	@deploy/dev/boot-parts.sh .build/boot-parts

# Debian 12's netboot installer (kernel and initrd), unpacked, for the unattended-install tests.
installer-parts: deps
	@deploy/dev/installer-parts.sh .build/installer

# Debian's signed shim and network GRUB, unpacked (never installed), for the Secure Boot tests.
secure-boot-loaders: deps
	@deploy/dev/secure-boot-loaders.sh .build/secure-boot

# The files nginx serves itself (openapi.json from docs/openapi.yaml; the console's static
# files as they are: no build step). Debian's python3 with its python3-yaml.
static: deps
	/usr/bin/python3 deploy/dev/build-static.py docs/openapi.yaml $(STATIC_DIR)
	rm -rf $(STATIC_DIR)/console && cp -R console $(STATIC_DIR)/console

# The same, with docs/openapi.yaml checked to be a valid OpenAPI 3.1 document first.
static-check: test-deps
	$(TOOLS)/python deploy/dev/build-static.py --check docs/openapi.yaml $(STATIC_DIR)

# Release build with the Swift runtime linked in: the binary needs only libc and the C
# libraries it links (libfcgi, zlib, zstd, libdeflate, libcrypto, SQLite); libpq (libpq5) is
# opened at run time, only when state.backend is postgresql.
build: deps static
	$(SWIFT) build -c release --static-swift-stdlib --product pxe-catalog

build-debug: test-deps static static-check
	$(SWIFT) build --build-tests

# LISTEN=127.0.0.1 is nginx's address (a lab bridge's, or 0.0.0.0 to let other machines in).
run: build
	@PORT="$(PORT)" LISTEN="$(LISTEN)" STATE_DIR="$(STATE_DIR)" CATALOG_DIR="$(CATALOG_DIR)" ADMIN_TOKEN_FILE="$(ADMIN_TOKEN_FILE)" \
		deploy/dev/run.sh "$(RELEASE_BIN)"

# Boots a QEMU machine from the server `make run` started (the menu's default: the demo's Linux
# entry; ENTRY=<id> for one entry, UEFI=1 for UEFI firmware) and reports what came up. Installs
# QEMU, iPXE's ROMs and OVMF when they are missing.
boot-demo: build
	@deploy/dev/install-deps.sh boot-demo
ifeq ($(NET),lab)
	@$(if $(HTTPBOOT),deploy/dev/http-boot-vars.sh .build/boot-demo/http-boot-vars.fd)
	$(RELEASE_BIN) try-boot http://10.77.0.1/ --lab pxe-lab $(if $(UEFI)$(HTTPBOOT)$(SECUREBOOT),--uefi) $(if $(SECUREBOOT),--secure-boot) $(if $(HTTPBOOT),--uefi-vars .build/boot-demo/http-boot-vars.fd)
else
	$(RELEASE_BIN) try-boot http://$(if $(filter 0.0.0.0,$(LISTEN)),127.0.0.1,$(LISTEN)):$(PORT)/ $(if $(ENTRY),--entry $(ENTRY)) $(if $(UEFI),--uefi)
endif

# A boot network of its own (root): a network namespace with a bridge, the worker, nginx and
# dnsmasq on it (DHCP in server mode); `make boot-demo NET=lab` boots machines on it.
lab: build boot-parts secure-boot-loaders
	@deploy/dev/install-deps.sh boot-demo
	@deploy/dev/lab.sh "$(RELEASE_BIN)"

# Every test, then every response the end-to-end tests received checked against
# docs/openapi.yaml, then every test again under ThreadSanitizer (worker included).
test: build-debug boot-parts secure-boot-loaders installer-parts
	rm -rf $(RESPONSES_DIR) && mkdir -p $(RESPONSES_DIR)
	E2E_RESPONSES_DIR=$(CURDIR)/$(RESPONSES_DIR) $(SWIFT) test --skip-build
	$(MAKE) --no-print-directory contract
	$(MAKE) --no-print-directory check-concurrency

# The recorded responses against the OpenAPI document (each documented operation must have
# been seen, each response must match its status, content type and schema).
contract:
	$(TOOLS)/python Tests/Contract/test_check_responses.py $(STATIC_DIR)/openapi.json
	$(TOOLS)/python Tests/Contract/check_responses.py $(STATIC_DIR)/openapi.json $(RESPONSES_DIR)

# Benchmarks against nginx static and a minimal C responder (about fifteen minutes); results and
# chart in bench/results/ (latest.md, latest.png).
bench: build
	@deploy/dev/install-deps.sh bench
	python3 bench/run.py $(BENCH_ARGS)

# libFuzzer on the PNG metadata reader, the payload decoder and the kernel signature reader,
# FUZZ_SECONDS each; crashes land
# in $(FUZZ_DIR)/artifacts. The format's sources are compiled into each fuzzer as one module
# (their `import StrictJSON` dropped), with the C modules' headers.
FUZZ_SOURCES = Sources/StrictJSON/*.swift Sources/PixelRTS/*.swift
FUZZ_FLAGS = -sanitize=fuzzer,address -parse-as-library -swift-version 6 -O -I Sources/CZlib -I Sources/CZstd -I Sources/CDeflate -I Sources/CCrypto -lz -lzstd -ldeflate -lcrypto
fuzz: build
	rm -rf $(FUZZ_DIR)/src && mkdir -p $(FUZZ_DIR)/src $(FUZZ_DIR)/corpus-metadata $(FUZZ_DIR)/corpus-decoder $(FUZZ_DIR)/corpus-kernel $(FUZZ_DIR)/seeds $(FUZZ_DIR)/seeds-kernel $(FUZZ_DIR)/artifacts
	for file in $(FUZZ_SOURCES); do sed '/^import StrictJSON$$/d' $$file > $(FUZZ_DIR)/src/$$(basename $$file); done
	$(RELEASE_BIN) demo-catalog $(FUZZ_DIR)/seeds-tree >/dev/null
	find $(FUZZ_DIR)/seeds-tree -name '*.png' -size -256k -exec cp {} $(FUZZ_DIR)/seeds/ \;
	head -c 3000 /dev/urandom > $(FUZZ_DIR)/seed-part && head -c 700 /dev/zero >> $(FUZZ_DIR)/seed-part
	for method in none zlib zstd; do $(RELEASE_BIN) pack $(FUZZ_DIR)/seeds/packed-$$method.rts.png --segment kernel=$(FUZZ_DIR)/seed-part \
		--segment initrd=$(FUZZ_DIR)/seed-part $$([ $$method = none ] || echo --compress $$method) >/dev/null; done
	swiftc $(FUZZ_FLAGS) -module-name PNGFuzz Fuzz/PNGMetadataFuzzer.swift Fuzz/FuzzSupport.swift $(FUZZ_DIR)/src/*.swift -o $(FUZZ_DIR)/png-metadata
	swiftc $(FUZZ_FLAGS) -module-name DecoderFuzz Fuzz/PayloadDecoderFuzzer.swift Fuzz/FuzzSupport.swift $(FUZZ_DIR)/src/*.swift -o $(FUZZ_DIR)/payload-decoder
	$(FUZZ_DIR)/png-metadata $(FUZZ_DIR)/corpus-metadata $(FUZZ_DIR)/seeds -max_total_time=$(FUZZ_SECONDS) \
		-max_len=65536 -timeout=10 -rss_limit_mb=4096 -artifact_prefix=$(FUZZ_DIR)/artifacts/ -print_final_stats=1
	$(FUZZ_DIR)/payload-decoder $(FUZZ_DIR)/corpus-decoder $(FUZZ_DIR)/seeds -max_total_time=$(FUZZ_SECONDS) \
		-max_len=262144 -timeout=10 -rss_limit_mb=4096 -artifact_prefix=$(FUZZ_DIR)/artifacts/ -print_final_stats=1
	deploy/dev/boot-parts.sh .build/boot-parts && /usr/bin/python3 Fuzz/kernel_seed.py .build/boot-parts/vmlinuz $(FUZZ_DIR)/seeds-kernel/debian
	swiftc $(FUZZ_FLAGS) -package-name pxe-catalog -module-name KernelFuzz Fuzz/KernelSignatureFuzzer.swift Sources/PXECatalog/KernelSignature.swift -o $(FUZZ_DIR)/kernel-signature
	$(FUZZ_DIR)/kernel-signature $(FUZZ_DIR)/corpus-kernel $(FUZZ_DIR)/seeds-kernel -max_total_time=$(FUZZ_SECONDS) \
		-max_len=16384 -timeout=10 -rss_limit_mb=4096 -artifact_prefix=$(FUZZ_DIR)/artifacts/ -print_final_stats=1

# The unit and end-to-end tests under ThreadSanitizer (separate build folder); the end-to-end
# tests then drive a ThreadSanitizer build of the worker too. The QEMU boots ran in the plain pass.
check-concurrency: test-deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	E2E_WORKER_BINARY=$(CURDIR)/.build-tsan/debug/pxe-catalog E2E_SANITIZER=thread TSAN_OPTIONS=halt_on_error=1 \
		$(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan

install: build install-files

# The files of an installation, from an existing binary (INSTALL_BIN). The example config goes
# to $(SYSCONFDIR) only if there is none yet.
install-files:
	install -D -m 0755 $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/pxe-catalog
	mkdir -p $(DESTDIR)$(SYSTEMDDIR) $(DESTDIR)$(DOCDIR)
	$(UNIT_SED) deploy/pxe-catalog.service > $(DESTDIR)$(SYSTEMDDIR)/pxe-catalog.service
	$(UNIT_SED) deploy/pxe-catalog.socket > $(DESTDIR)$(SYSTEMDDIR)/pxe-catalog.socket
	$(UNIT_SED) deploy/pxe-catalog-dnsmasq.service > $(DESTDIR)$(SYSTEMDDIR)/pxe-catalog-dnsmasq.service
	chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/pxe-catalog.service $(DESTDIR)$(SYSTEMDDIR)/pxe-catalog.socket $(DESTDIR)$(SYSTEMDDIR)/pxe-catalog-dnsmasq.service
	install -D -m 0644 deploy/pxe-catalog.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/pxe-catalog
	install -D -m 0644 deploy/pxe-catalog.sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/pxe-catalog.conf
	install -m 0644 README.md docs/configuration.md $(DESTDIR)$(DOCDIR)/
	sed 's|/usr/local/share/pxe-catalog/static|$(DATADIR)/static|' deploy/pxe-catalog.json > $(DESTDIR)$(DOCDIR)/config.example.json
	chmod 0644 $(DESTDIR)$(DOCDIR)/config.example.json
	install -m 0644 nginx/pxe-catalog.conf $(DESTDIR)$(DOCDIR)/nginx-site.example.conf
	install -D -m 0644 $(STATIC_DIR)/openapi.json $(DESTDIR)$(DATADIR)/static/openapi.json
	install -d -m 0755 $(DESTDIR)$(DATADIR)/static/console
	install -m 0644 console/*.html console/*.css console/*.js console/*.svg $(DESTDIR)$(DATADIR)/static/console/
	mkdir -p $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	$(INSTALL_BIN) --generate-completion-script bash > $(DESTDIR)$(BASHCOMPDIR)/pxe-catalog
	$(INSTALL_BIN) --generate-completion-script zsh > $(DESTDIR)$(ZSHCOMPDIR)/_pxe-catalog
	$(INSTALL_BIN) --generate-completion-script fish > $(DESTDIR)$(FISHCOMPDIR)/pxe-catalog.fish
	chmod 0644 $(DESTDIR)$(BASHCOMPDIR)/pxe-catalog $(DESTDIR)$(ZSHCOMPDIR)/_pxe-catalog $(DESTDIR)$(FISHCOMPDIR)/pxe-catalog.fish
	install -m 0644 docs/openapi.yaml $(DESTDIR)$(DOCDIR)/
	test -e $(DESTDIR)$(SYSCONFDIR)/pxe-catalog/config.json || \
		install -D -m 0640 $(DESTDIR)$(DOCDIR)/config.example.json $(DESTDIR)$(SYSCONFDIR)/pxe-catalog/config.json

clean:
	rm -rf .build .state
