# Portcullis build and test entry points. `make test` is what CI runs.
GO      ?= go
BIN     := bin/portcullis
NPM_DIR := host/internal/e2e/testdata/npm

.PHONY: all build run test test-go npm-deps vet fmt bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/portcullis

# The gateway on its embedded default: demo upstream, data in ./portcullis-data.
run:
	$(GO) run ./cmd/portcullis serve

# Real MCP servers and the TypeScript SDK client used by the end-to-end tests, pinned in package.json.
npm-deps:
	cd $(NPM_DIR) && npm ci --no-audit --no-fund --loglevel=error
	cd host/internal/conformance/testdata && npm ci --no-audit --no-fund --loglevel=error
	cd sdk/assemblyscript && npm ci --no-audit --no-fund --loglevel=error

test: npm-deps vet
	$(GO) test -race -count=1 -timeout 15m ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) vet ./...

# Go micro-benchmarks, then the load-tool scenarios (direct vs through the gateway); results in bench/results/.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./host/jsonrpc/ ./host/gateway/
	bash bench/scenarios.sh

clean:
	rm -rf bin portcullis-data
