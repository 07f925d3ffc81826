#!/bin/sh
# Regenerates the Go code of the .proto files under proto/ with pinned tools.
#
# The tools are installed into <repo>/tools/bin (git-ignored) with
# "GOBIN=... go install"; go install is a no-op when the binary is already
# built from the same version, so re-running is cheap and produces
# byte-identical output.
set -eu

BUF_VERSION=v1.75.0
PROTOC_GEN_GO_VERSION=v1.36.12

repo=$(cd "$(dirname "$0")/.." && pwd)
bin="$repo/tools/bin"
mkdir -p "$bin"
# Keep the tool binaries out of git even without a top-level .gitignore entry.
[ -f "$bin/.gitignore" ] || printf '*\n' >"$bin/.gitignore"

GOBIN="$bin" go install "github.com/bufbuild/buf/cmd/buf@$BUF_VERSION"
GOBIN="$bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"

cd "$repo/proto"
"$bin/buf" lint
"$bin/buf" generate
