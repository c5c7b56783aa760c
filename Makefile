# Peregrine build, test and lint entry points.
GO      ?= go
BIN     ?= bin/peregrine
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build test lint bench fuzz clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/peregrine

# The test command the README and CI use.
test:
	$(GO) test ./...

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Benchmarks: replay throughput and allocations with the upstream rules.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# A short run of every fuzz target.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseCondition -fuzztime $(FUZZTIME) ./falcocompat
	$(GO) test -run '^$$' -fuzz FuzzLoadRules -fuzztime $(FUZZTIME) ./falcocompat
	$(GO) test -run '^$$' -fuzz FuzzDecodeEvent -fuzztime $(FUZZTIME) ./policy
	$(GO) test -run '^$$' -fuzz FuzzGlob -fuzztime $(FUZZTIME) ./policy

clean:
	rm -rf bin
