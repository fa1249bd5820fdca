# lamina's entry points. `make demo` and `make test` set up what they need.
GO ?= go
export PATH := $(PATH):/usr/local/go/bin
BIN := bin
TEST_TIMEOUT ?= 20m

.PHONY: all build setup test test-short fuzz demo bench-fs bench-unpack bench-runtime conformance vet clean

all: build

# A static lamina: every container's init is a re-execution of it, and
# without the dynamic loader and libc's NSS each start is about a
# millisecond cheaper (see make bench-runtime). osusergo and netgo give
# pure-Go user and DNS lookups; the cgo parts (the nsenter constructor,
# libseccomp) link statically against libc.a and libseccomp.a.
LAMINA_TAGS ?= osusergo,netgo
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LAMINA_LDFLAGS ?= -linkmode external -extldflags -static -X main.version=$(VERSION)

build:
	$(GO) build -ldflags '-X main.version=$(VERSION)' -o $(BIN)/unionmount ./cmd/unionmount
	$(GO) build -tags $(LAMINA_TAGS) -ldflags '$(LAMINA_LDFLAGS)' -o $(BIN)/lamina ./cmd/lamina

setup:
	bash scripts/setup.sh

vet:
	$(GO) vet ./...

# The full suite: unit tests, the POSIX conformance suite, the differential
# suite against kernel overlayfs, rootless and crash tests. Needs root for
# the mount tests (they skip with a reason otherwise).
test: setup build vet
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

test-short: build
	$(GO) test -short -count=1 ./...

# Runs every fuzz target for FUZZTIME each (they also run as unit tests
# over their seed corpus in `make test`).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) || exit 1; \
	  done; \
	done

# The main job: a union mount at work, then a small image built locally,
# served from a local registry, pulled and run through the union.
demo: setup build
	bash scripts/demo.sh

# Filesystem benchmark: ext4, kernel overlayfs, lamina FUSE with and
# without passthrough, fuse-overlayfs. Writes bench/results/fs.{md,svg}.
# BENCH_CPUS=0 confines the whole run (daemons and workloads) to CPU 0, so
# that no FUSE round trip has to wake another, idle CPU; BENCH_OUT moves
# the report.
BENCH_OUT ?= bench/results
bench-fs: build
	bash scripts/setup.sh debootstrap unionfs-fuse
	$(GO) build -o $(BIN)/benchfs ./bench/cmd/benchfs
	$(if $(BENCH_CPUS),taskset -c $(BENCH_CPUS)) $(BIN)/benchfs --unionmount $(BIN)/unionmount --out $(BENCH_OUT)

# Unpack benchmark: umoci unpack vs lamina (pull into a fresh store, and the
# oci/layer unpack alone) on the same three-layer image of the debootstrap
# tree. Writes bench/results/unpack.md. Needs root; a few minutes.
bench-unpack:
	bash scripts/setup.sh debootstrap umoci
	$(GO) run ./bench/cmd/benchunpack --out bench/results
# Runtime benchmark: create+start+wait+delete of a /bin/true container,
# lamina against runc and crun (when installed), interleaved. Needs root.
# Writes bench/results/runtime.md. BENCH_RUNS sets the runs per runtime.
BENCH_RUNS ?= 200
bench-runtime: build
	$(GO) run ./bench/cmd/benchrt --lamina $(BIN)/lamina --runs $(BENCH_RUNS) --out bench/results

# OCI conformance: the runtime-tools validation suite (pinned in
# bench/conformance, fetched through the Go module proxy and built in a
# temporary directory) against bin/lamina and runc when installed. Needs
# root; a few minutes. Not part of `make test`. Writes
# bench/results/conformance.md; CONFORMANCE_FLAGS passes more flags
# (e.g. --tests state,kill --logs /tmp/conformance-logs).
CONFORMANCE_FLAGS ?=
conformance: build
	$(GO) run ./bench/cmd/conformance --lamina $(BIN)/lamina --out bench/results $(CONFORMANCE_FLAGS)

clean:
	rm -rf $(BIN)
