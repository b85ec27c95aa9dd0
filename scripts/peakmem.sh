#!/usr/bin/env bash
# peakmem.sh measures the peak resident memory (VmHWM) of `heed run` over a
# database holding many scheduled posts (docs/PERFORMANCE.md).
#
#   scripts/peakmem.sh [POSTS] [SECONDS]
#
# It builds ./cmd/heed (CGO_ENABLED=0, as shipped), fills a fresh database
# with POSTS (default 1000000) one-shot posts to the default "log" target,
# spread between HEED_PEAKMEM_FROM and HEED_PEAKMEM_TO after now (default 8d
# to 400d: all beyond the default 7-day review window, so none becomes an
# occurrence; use e.g. HEED_PEAKMEM_FROM=1m HEED_PEAKMEM_TO=365d for posts
# spread over the coming year, some of which enter the window), then runs
# `heed run --db FILE` with the default config (console chat, log target)
# for SECONDS (default 30; the engine and the dispatcher poll every 500 ms).
# The console reads stdin: it gets an empty pipe that stays open. At the end
# it prints VmHWM (peak RSS) and VmRSS from /proc/PID/status and stops heed.
#
# With HEED_PEAKMEM_BASELINE=1 it first runs heed the same way over an
# empty database, to show what the posts themselves add.
#
# Needs Go and Linux /proc. Everything is built and written in a temp dir,
# removed at exit (HEED_PEAKMEM_KEEP=1 keeps it and prints where).
set -euo pipefail

POSTS=${1:-1000000}
RUN_SECONDS=${2:-30}
FROM=${HEED_PEAKMEM_FROM:-8d}
TO=${HEED_PEAKMEM_TO:-400d}

die() {
	echo "peakmem.sh: $*" >&2
	exit 1
}
log() { echo "peakmem.sh: $*" >&2; }

command -v go >/dev/null 2>&1 || die "go is required but not installed"
[[ -r /proc/self/status ]] || die "needs Linux /proc to read peak memory"
[[ $POSTS =~ ^[0-9]+$ ]] || die "POSTS must be a number, not $POSTS"
[[ $RUN_SECONDS =~ ^[0-9]+$ && $RUN_SECONDS -gt 0 ]] || die "SECONDS must be a positive number, not $RUN_SECONDS"

cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/heed-peakmem.XXXXXX")
pid=
cleanup() {
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	exec 3>&- 2>/dev/null || true
	if [[ ${HEED_PEAKMEM_KEEP:-} == 1 ]]; then
		log "kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

log "building ./cmd/heed"
CGO_ENABLED=0 go build -tags goolm -o "$work/heed" ./cmd/heed

log "filling $work/heed.db with $POSTS posts scheduled $FROM to $TO from now"
start=$SECONDS
HEED_FILL_DB=$work/heed.db HEED_FILL_POSTS=$POSTS HEED_FILL_FROM=$FROM HEED_FILL_TO=$TO HEED_FILL_TARGET=log \
	go test -tags goolm -count=1 -run '^TestFillPeakMemDB$' ./sqlite/ >"$work/fill.log" 2>&1 ||
	{ cat "$work/fill.log" >&2; die "filling the database failed"; }
log "filled in $((SECONDS - start)) s; database $(du -h "$work/heed.db" | cut -f1)"

mkfifo "$work/stdin"
# Opened read-write so that opening does not block and the pipe never
# reaches end-of-file: the console sees a terminal nobody types into.
exec 3<>"$work/stdin"

field() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$pid/status"; }

# measure DB: runs heed over DB for RUN_SECONDS and sets hwm and rss (kB).
measure() {
	"$work/heed" run --db "$1" <"$work/stdin" >"$work/run.log" 2>&1 &
	pid=$!
	# VmHWM only grows; checking every second is only to notice an early exit.
	for ((i = 0; i < RUN_SECONDS; i++)); do
		sleep 1
		kill -0 "$pid" 2>/dev/null || { cat "$work/run.log" >&2; die "heed run exited early"; }
	done
	rss=$(field VmRSS)
	hwm=$(field VmHWM)
	kill -TERM "$pid"
	wait "$pid" || true
	pid=
}

if [[ ${HEED_PEAKMEM_BASELINE:-} == 1 ]]; then
	measure "$work/empty.db"
	echo "empty database:  peak RSS VmHWM $hwm kB ($((hwm / 1024)) MiB) over ${RUN_SECONDS}s"
fi
measure "$work/heed.db"

occurrences=$("$work/heed" --db "$work/heed.db" status 2>/dev/null | tr '\n' ' ' || true)
echo "posts:           $POSTS scheduled $FROM..$TO ahead"
echo "ran:             ${RUN_SECONDS}s"
echo "peak RSS VmHWM:  $hwm kB ($((hwm / 1024)) MiB)"
echo "RSS at the end:  $rss kB ($((rss / 1024)) MiB)"
echo "heed status:     $occurrences"
echo "run log lines:   $(wc -l <"$work/run.log")"
