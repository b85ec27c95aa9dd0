#!/usr/bin/env bash
# mutate.sh removes each guard in internal/mutate's table in turn and fails
# unless the tests named for it fail (see internal/mutate). Arguments go to
# it: `scripts/mutate.sh -list`, `scripts/mutate.sh -run pause`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run -tags goolm ./internal/mutate "$@"
