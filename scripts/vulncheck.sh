#!/usr/bin/env bash
# vulncheck.sh runs govulncheck (pinned) on heed. It asks the Go
# vulnerability database at vuln.go.dev; where that cannot be reached it
# builds the database from a pinned snapshot of golang.org/x/vulndb, which
# the Go module proxy serves, once, cached under ${HEED_CACHE:-~/.cache/heed}.
#
# It fails on a vulnerability that heed's code calls in a module it
# requires: the fix is a `go get` of the fixed version. One in the standard
# library is fixed by the Go that builds heed, not by heed's code: it is
# listed as a warning that names the Go release to build with (the
# Dockerfile builds with the newest Go 1.26).
set -euo pipefail
cd "$(dirname "$0")/.."

govulncheck=golang.org/x/vuln/cmd/govulncheck@v1.9.0
snapshot=v0.0.0-20261105234957-e22db6528018
cache=${HEED_CACHE:-$HOME/.cache/heed}

db=https://vuln.go.dev
if ! curl -fsS --max-time 10 -o /dev/null "$db/index/db.json" 2>/dev/null; then
  local_db=$cache/vulndb-$snapshot
  if [ ! -f "$local_db/index/db.json" ]; then
    echo "vuln.go.dev cannot be reached: building the database from golang.org/x/vulndb@$snapshot"
    dir=$(go mod download -json "golang.org/x/vulndb@$snapshot" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    rm -rf "$local_db.tmp"
    (cd /tmp && go run "golang.org/x/vulndb/cmd/indexdb@$snapshot" -vulns "$dir/data/osv" -out "$local_db.tmp")
    mv "$local_db.tmp" "$local_db"
  fi
  db=file://$local_db
  echo "vulnerability database: golang.org/x/vulndb@$snapshot (vuln.go.dev cannot be reached)"
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
# Exit status 3 only says vulnerabilities were found; the findings decide.
go run "$govulncheck" -db "$db" -tags goolm -format json ./... >"$out" || [ $? -eq 3 ]

# A finding whose trace reaches a function is one heed's code calls.
called='select(.finding) | .finding | select(.trace[0].function != null)'
modules=$(jq -r "$called | select(.trace[0].module != \"stdlib\") | \"\(.osv) in \(.trace[0].module)@\(.trace[0].version): fixed in \(.fixed_version)\"" "$out" | sort -u)
stdlib=$(jq -r "$called | select(.trace[0].module == \"stdlib\") | \"\(.osv) in \(.trace[0].package): fixed in Go \(.fixed_version)\"" "$out" | sort -u)
if [ -n "$stdlib" ]; then
  echo "warning: the Go that built this ($(go env GOVERSION)) has vulnerabilities heed calls; build releases with the Go named:"
  echo "$stdlib" | sed 's/^/  /'
fi
if [ -n "$modules" ]; then
  echo "heed calls vulnerable code in a module it requires; go get the fixed version:"
  echo "$modules" | sed 's/^/  /'
  exit 1
fi
echo "govulncheck: no vulnerable code called in the modules heed requires"
