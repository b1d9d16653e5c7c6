# scxvm: test sched_ext schedulers in QEMU guests.
#
#   make run     boot the default kernel with the default scheduler and scenario
#   make test    everything CI runs
#
# Other targets: deps build kernel kernel-build kernel-stock schedulers
# test-matrix bench
# lint clean. Every target is quiet and fast when its output is cached; the
# cache lives in $(SCXVM_CACHE_DIR) (see README.md).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

GO ?= go
SCXVM_CACHE_DIR ?= $(if $(XDG_CACHE_HOME),$(XDG_CACHE_HOME)/scxvm,$(HOME)/.cache/scxvm)
export SCXVM_CACHE_DIR
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(SCXVM_CACHE_DIR)/bin/staticcheck-$(STATICCHECK_VERSION)
TEST_TIMEOUT ?= 30m
# Extra arguments for `make run`, e.g. make run ARGS='--kernel 6.12 pingpong'.
ARGS ?=
# REFRESH=1 makes `make kernel` / `make kernel-stock` update their package
# lists and fetch a newer package version if there is one.
REFRESH ?=
FETCH_FLAGS := $(if $(REFRESH),--refresh)

.PHONY: help deps build kernel kernel-build kernel-stock schedulers selftests run test test-matrix test-selftests bench lint clean

help:
	@echo 'make run           boot the default kernel, scheduler and scenario'
	@echo 'make test          install deps, fetch/build kernels and schedulers, vet, run all tests'
	@echo 'make deps          install missing Debian packages (apt-get; nothing when present)'
	@echo 'make build         build bin/scxvm and the guest agent bin/scxvm-agent'
	@echo 'make kernel        fetch Debian'"'"'s sched_ext kernel (7.3) into the cache'
	@echo 'make kernel-build  build (or seed) the 6.12 kernel from kernel/fragment.config'
	@echo 'make kernel-stock  fetch Debian 12'"'"'s stock 6.12 kernel (no sched_ext; for tests)'
	@echo 'make schedulers    build tools/sched_ext example schedulers for both kernels'
	@echo 'make selftests     build the sched_ext selftests runner for both kernels'
	@echo 'make test-matrix   every example scheduler on both kernels, steady and pingpong: table + matrix.json'
	@echo 'make test-selftests every sched_ext selftest of both kernels in their guests'
	@echo 'make bench         run the Go benchmarks, then scxvm bench (table + bin/bench.json)'
	@echo 'make lint          gofmt, go vet, staticcheck'
	@echo 'make clean         remove bin/ (the cache stays; rm -rf $$SCXVM_CACHE_DIR drops it)'

deps:
	@kernel/deps

build:
	@if compgen -G 'cmd/scxvm/*.go' >/dev/null; then \
		CGO_ENABLED=0 $(GO) build -o bin/scxvm ./cmd/scxvm && \
		CGO_ENABLED=0 $(GO) build -o bin/scxvm-agent ./cmd/scxvm-agent; \
	else \
		echo 'make build: cmd/scxvm does not exist yet; nothing to build' >&2; \
	fi

# kernel, kernel-stock: `scxvm kernel fetch` (Go: verified download and
# unpacking of Debian's packages, no apt or dpkg needed).
kernel: build
	@bin/scxvm kernel fetch $(FETCH_FLAGS) debian >/dev/null

kernel-build:
	@kernel/build-kernel

kernel-stock: build
	@bin/scxvm kernel fetch $(FETCH_FLAGS) stock-6.12 >/dev/null

schedulers: kernel kernel-build
	@kernel/deps schedulers
	@kernel/build-schedulers

# selftests: the kernel's tools/testing/selftests/sched_ext runner, built
# from each kernel's source tree (unpacked by `make schedulers`) against its
# vmlinux BTF, cached under $(SCXVM_CACHE_DIR)/selftests/.
selftests: build kernel kernel-build schedulers
	@bin/scxvm selftest --build-only --kernel debian >/dev/null
	@bin/scxvm selftest --build-only --kernel 6.12 >/dev/null

run: build kernel
	@kernel/deps run
	@if [[ ! -x bin/scxvm ]]; then \
		echo 'make run: bin/scxvm is not built yet (cmd/scxvm missing): nothing to run' >&2; exit 1; \
	fi
	@bin/scxvm run $(ARGS)

# SCXVM_MATRIX=1: the scheduler matrix (vmtest/matrix, 2.5-3.5 min alone
# on 2 busy cores) is part of `make test`; `make test SCXVM_MATRIX=` skips it.
SCXVM_MATRIX ?= 1
# The tests run under internal/cmd/testsummary: go test's usual output
# while they run, then the failed tests with their output, the skipped
# ones with their reason, and "N passed, N failed, N skipped". Under CI
# ($CI set, as .ci/run does) a skip for anything but hardware these
# machines lack (KVM, vhost-vsock) fails the run.
test: deps kernel kernel-build kernel-stock schedulers selftests
	@$(GO) vet ./...
	@$(GO) build -o bin/testsummary ./internal/cmd/testsummary
	@SCXVM_MATRIX=$(SCXVM_MATRIX) bin/testsummary -- $(GO) test -json -race -timeout $(TEST_TIMEOUT) ./...

# test-matrix: boot each kernel once and run every example scheduler on the
# steady and pingpong scenarios (vmtest/matrix); prints a table (pass, or
# the failure's kind and reason) and writes $(MATRIX_JSON).
MATRIX_JSON ?= bin/matrix.json
test-matrix: deps kernel kernel-build schedulers
	@mkdir -p $(dir $(MATRIX_JSON))
	@SCXVM_MATRIX=1 SCXVM_MATRIX_JSON=$(abspath $(MATRIX_JSON)) $(GO) test -count=1 -v -timeout $(TEST_TIMEOUT) -run '^TestMatrix$$' ./vmtest/matrix/

# test-selftests: every sched_ext selftest of both kernels, each as its own
# test case, in one boot per kernel (4 cpus; 15 min and more under TCG):
# a table per kernel, the results in bin/selftests-KERNEL.json, exit 1 when
# a test of either kernel failed.
test-selftests: deps kernel kernel-build schedulers selftests
	@rc=0; for k in debian 6.12; do \
		bin/scxvm selftest --kernel $$k --json bin/selftests-$$k.json || rc=1; \
	done; exit $$rc

# bench: the Go benchmarks, then `scxvm bench`: one table of the in-guest
# measurements with their targets, also written to bin/bench.json.
bench: build kernel
	@kernel/deps payloads
	@$(GO) test -run '^$$' -bench . ./...
	@CGO_ENABLED=0 $(GO) build -o bin/helloinit ./host/testdata/helloinit
	@bin/scxvm bench --helloinit bin/helloinit --json bin/bench.json

$(STATICCHECK):
	@mkdir -p $(dir $@)
	@GOBIN=$(abspath $(dir $@))/.staticcheck-install $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@mv $(dir $@)/.staticcheck-install/staticcheck $@ && rmdir $(dir $@)/.staticcheck-install

lint: $(STATICCHECK)
	@out=$$(gofmt -l .); \
	if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@$(GO) vet ./...
	@$(STATICCHECK) ./...
	@kernel/deps lint
	@shellcheck -x -e SC1091 kernel/deps kernel/build-kernel kernel/build-schedulers kernel/lib.sh .ci/run

clean:
	rm -rf bin/
