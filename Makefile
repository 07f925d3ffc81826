# stated — build, test, lint, benchmark.
#
# Tools are pinned and installed into ./tools/bin (git-ignored) on first use.

GO          ?= go
TOOLS       := $(CURDIR)/tools/bin
STATICCHECK := $(TOOLS)/staticcheck
STATICCHECK_VERSION := v0.8.2
# Real S3 servers for the S3 tests (internal/s3server runs them as separate
# processes, never imported; MinIO is AGPL): MinIO and the Versity S3
# gateway (versitygw, posix backend). The first installs take about two
# and three minutes; the binaries stay in ./tools/bin.
MINIO             := $(TOOLS)/minio
MINIO_VERSION     := v0.0.0-20260212201848-7aac2a2c5b7c
VERSITYGW         := $(TOOLS)/versitygw
VERSITYGW_VERSION := v1.8.0
S3_SERVERS        := $(MINIO) $(VERSITYGW)
S3_ENV            := STATED_MINIO_BIN=$(MINIO) STATED_VERSITYGW_BIN=$(VERSITYGW)

# Packages whose concurrency matters run under the race detector.
RACE_PKGS := ./backend/... ./state/... ./serializer/... ./internal/... ./snapshot/... ./providers/... ./engine/... ./incremental/... ./ttl/...
# The others (listed when the tests run).
OTHER_PKGS = $(filter-out $(shell $(GO) list $(RACE_PKGS)),$(shell $(GO) list ./...))

.PHONY: all build test test-unit lint fmt-check vet staticcheck tidy-check bench bench-quick run proto fuzz tools clean

all: build test

build:
	$(GO) build ./...

test: lint test-unit

# The S3 tests need both servers; they fail (never skip) without them.
test-unit: $(S3_SERVERS)
	$(S3_ENV) $(GO) test -race -count=1 $(RACE_PKGS)
	# Block counts are only meaningful without the race detector (Pebble's
	# invariant checks change how iterators reuse blocks).
	$(GO) test -count=1 -run 'TestSweepReadsOnlyExpiredBlocks' ./backend/lsm/
	$(S3_ENV) $(GO) test -count=1 $(OTHER_PKGS)

lint: fmt-check vet staticcheck tidy-check

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './tools/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

tidy-check:
	$(GO) mod tidy -diff

$(STATICCHECK):
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(MINIO):
	GOBIN=$(TOOLS) $(GO) install github.com/minio/minio@$(MINIO_VERSION)

$(VERSITYGW):
	GOBIN=$(TOOLS) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

tools: $(STATICCHECK) $(S3_SERVERS)

# Every benchmark (≤ 10 minutes) or the quick set (≤ 60 s); both write
# bench/results.json and bench/README.md.
bench: $(MINIO)
	STATED_MINIO_BIN=$(MINIO) $(GO) run ./bench

bench-quick: $(MINIO)
	STATED_MINIO_BIN=$(MINIO) $(GO) run ./bench -quick

# The main job on the embedded default: wordcount on a bundled text with
# checkpoints on local disk under ./data, then the ten most frequent words.
# A second run restores the final checkpoint of the first and adds nothing.
run:
	$(GO) run ./examples/wordcount --input examples/wordcount/sample.txt --output ./data/wordcount --parallelism 2 \
	  --set execution.checkpointing.dir=./data/checkpoints \
	  --set execution.checkpointing.savepoint-dir=./data/savepoints --restore latest
	@echo "ten most frequent words (committed output in ./data/wordcount):"
	@cat ./data/wordcount/part-* | awk -F'\t' '$$2 > n[$$1] { n[$$1] = $$2 } END { for (w in n) print n[w] "\t" w }' | sort -k1,1nr -k2 | head -10

proto:
	bash proto/generate.sh

# Longer fuzzing of every decoder (FUZZTIME per target).
FUZZTIME ?= 30s
fuzz:
	@for pkg in ./serializer ./state ./internal/statecodec ./snapshot ./providers/s3; do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf ./data
