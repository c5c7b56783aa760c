# Peregrine build, test and lint entry points.
GO      ?= go
BIN     ?= bin/peregrine
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build test lint bench bench-overhead fuzz clean generate check-generate

# The pinned BPF toolchain, from Debian's packages (clang-19, llvm-19).
BPF_CLANG  ?= clang-19
BPF_STRIP  ?= llvm-strip-19
BPF_CFLAGS ?= -O2 -g -Wall -Werror
export BPF_CLANG BPF_STRIP BPF_CFLAGS

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/peregrine

# The test command the README and CI use: the main module, then deploy/,
# a module of its own (its tests validate the manifests with the
# Kubernetes and kustomize libraries, kept out of the main go.mod).
test:
	$(GO) test -count=1 ./...
	cd deploy && $(GO) test -count=1 ./...

# golangci-lint, pinned in its own module (tools/go.mod) so that the main
# go.mod stays free of its dependencies; .golangci.yml enables the linters,
# depguard among them for the layering the design states.
GOLANGCI_LINT ?= $(GO) tool -modfile=$(CURDIR)/tools/go.mod golangci-lint

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOLANGCI_LINT) run ./...
	cd deploy && $(GO) vet ./... && $(GOLANGCI_LINT) run ./...

# Benchmarks: replay throughput and allocations with the upstream rules.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The overhead harness, side by side with bpftrace and (with FALCO set to
# a command line that runs it) Falco, with the upstream stable rules;
# writes docs/overhead.json and docs/overhead.svg. Needs root.
UPSTREAM ?= ../shared/falco/falco_rules.yaml
BENCH_FLAGS ?=
bench-overhead: build
	$(BIN) bench --upstream $(UPSTREAM) --scaling --out docs/overhead.json $(if $(FALCO),--peer "falco=$(FALCO)") $(BENCH_FLAGS)

# A short run of every fuzz target.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseCondition -fuzztime $(FUZZTIME) ./falcocompat
	$(GO) test -run '^$$' -fuzz FuzzLoadRules -fuzztime $(FUZZTIME) ./falcocompat
	$(GO) test -run '^$$' -fuzz FuzzExpansion -fuzztime $(FUZZTIME) ./falcocompat
	$(GO) test -run '^$$' -fuzz FuzzDecodeEvent -fuzztime $(FUZZTIME) ./policy
	$(GO) test -run '^$$' -fuzz FuzzGlob -fuzztime $(FUZZTIME) ./policy
	$(GO) test -run '^$$' -fuzz FuzzParseOutput -fuzztime $(FUZZTIME) ./policy
	$(GO) test -run '^$$' -fuzz FuzzSoundness -fuzztime $(FUZZTIME) ./compiler
	$(GO) test -run '^$$' -fuzz FuzzTreeEquivalence -fuzztime $(FUZZTIME) ./compiler
	$(GO) test -run '^$$' -fuzz FuzzKernelAndUserspaceAgree -fuzztime $(FUZZTIME) ./runtime

# Rebuild the eBPF objects and their Go bindings (committed).
generate:
	cd bpf && $(GO) generate ./...

# Fail when a rebuild does not give the committed objects byte for byte.
check-generate: generate
	@git diff --exit-code --stat -- bpf/ || { echo "bpf objects differ from a rebuild: run make generate and commit"; exit 1; }

clean:
	rm -rf bin
