#!/usr/bin/env bash
# The whole test suite: what the README's test command and CI run.
# It needs only Go (and gcc for the race detector). The Matrix and Mastodon
# tiers build and start their own Dendrite and GoToSocial through
# scripts/dendrite.sh and scripts/gotosocial.sh (cached under ~/.cache/heed);
# the web view's browser tier drives Debian's chromium, which
# scripts/chromium.sh installs when it is missing;
# the PostgreSQL tier starts its own cluster (internal/pgtest), installing
# Debian's postgresql package first when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './scripts/dendrite-tools/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

step "go vet"
go vet -tags goolm ./...

step "staticcheck (pinned)"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -tags goolm ./...

step "govulncheck (pinned)"
scripts/vulncheck.sh

step "build without cgo (the shipped binary, with goolm: pure-Go Olm for encrypted Matrix rooms)"
CGO_ENABLED=0 go build -tags goolm -o /dev/null ./cmd/heed

# The real-server tiers need these; building them first keeps a cold build
# (minutes) out of the test timeout. Both are cached under ${HEED_CACHE:-~/.cache/heed}.
step "build Dendrite (Matrix tier)"
scripts/dendrite.sh build
step "build GoToSocial (Mastodon tier)"
scripts/gotosocial.sh build
step "Chromium (the web view's browser tier)"
scripts/chromium.sh

step "go test -race ./... (the race detector alone uses cgo)"
log=$(mktemp)
set +e
CGO_ENABLED=1 go test -tags goolm -race -count=1 -timeout 40m -v ./... >"$log" 2>&1
rc=$?
set -e
if [ $rc -ne 0 ]; then
  # Everything but the passing noise, so the failure reads in context.
  grep -vE '^\s*(=== (RUN|PAUSE|CONT|NAME)|--- PASS)' "$log" || true
else
  grep -E '^(ok|FAIL|\?)\s' "$log" || true
fi
passed=$(grep -cE '^\s*--- PASS' "$log" || true)
failed=$(grep -cE '^\s*--- FAIL' "$log" || true)
skipped=$(grep -cE '^\s*--- SKIP' "$log" || true)
if [ $rc -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi # a build failure or panic fails without a --- FAIL line
rm -f "$log"

if [ $rc -ne 0 ]; then
  echo "tests: $passed passed, $failed failed, $skipped skipped"
  exit $rc
fi

step "the store on PostgreSQL: the packages that drive it hardest, and the wiring (health, metrics, retention), the API, the web view and the feeds, again, on a throwaway cluster (internal/pgtest)"
HEED_TEST_DATABASE=postgres CGO_ENABLED=1 go test -tags goolm -race -count=1 ./internal/invariants ./internal/safeguards ./dispatch ./bot ./app ./httpd/api ./web ./feeds

step "fuzz, bounded"
fuzz() { # package target seconds
  if grep -rqs "func $2(" "$1"; then
    go test -tags goolm -run '^$' -fuzz "^$2\$" -fuzztime "${3}s" "$1"
  fi
}
fuzz ./publish/textlen FuzzCounters 20
fuzz ./bot/slack FuzzEventsHandler 30

# Every mutation's source text is checked on every run; the guards are
# removed in turn for half the table, the half picked by the commit, two
# at a time, so that a cold run stays within its time (`scripts/mutate.sh`
# alone runs the whole table).
shard=$(( 0x$(git rev-parse --short=7 HEAD 2>/dev/null || echo 0) % 2 ))
step "mutations: each guard removed in turn, its tests must fail (half $shard of 2, picked by the commit)"
scripts/mutate.sh -j 2 -shard "$shard/2"

step "chaos: the real binary killed, stopped, paused and out of disk while posts come due"
scripts/chaos.sh -kills 15 -terms 3 -diskfull 1 -pauses 2 -timeout 4m

step "chaos, replicas: three heed runs on one PostgreSQL, killed at random while posts come due, paused midway"
scripts/chaos.sh -replicas 3 -postgres -kills 8 -posts 200 -window 20s -pauses 1 -timeout 3m

step "summary"
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $rc
