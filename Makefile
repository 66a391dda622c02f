# Targets a newcomer can guess. The real work lives in scripts/.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X github.com/regcase/regcase/internal/buildinfo.Version=$(VERSION) \
	-X github.com/regcase/regcase/internal/buildinfo.Commit=$(COMMIT) \
	-X github.com/regcase/regcase/internal/buildinfo.Date=$(DATE)

.PHONY: build run test lint bench image up down
build:
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/regcase ./cmd/regcase
run: build
	./bin/regcase
test:
	scripts/test.sh
lint:
	gofmt -l $$(git ls-files '*.go'); go vet ./...; $$(go env GOPATH)/bin/staticcheck ./...
bench:
	scripts/bench.sh
image:
	scripts/build-image.sh
up:
	scripts/dev-up.sh
down:
	docker compose -f compose.yml -f compose.dev.yml down
