#!/usr/bin/env bash
# chaos.sh runs heed's crash harness (internal/chaos): the real heed binary,
# killed (SIGKILL), stopped (SIGTERM), starved of disk and paused while
# approved posts come due, against a webhook receiver that records every
# delivery. It fails on a duplicate, a lost post, a send after a pause, an
# unknown outcome that a graceful stop left or that the keyed target got,
# or a refused start. Arguments go to it:
#   scripts/chaos.sh -kills 500 -terms 50 -diskfull 5 -pauses 20 -dir DIR
# or several replicas on a throwaway PostgreSQL cluster, killed at random:
#   scripts/chaos.sh -replicas 3 -postgres -posts 2000 -kills 50 -pauses 1
# (see docs/RELIABILITY.md; `scripts/chaos.sh -h` lists the flags).
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run -tags goolm ./internal/chaos "$@"
