#!/usr/bin/env bash
# bench.sh runs heed's benchmarks with the command lines docs/PERFORMANCE.md
# reports, and prints a summary.
#
#   scripts/bench.sh [store|dispatch|pause|peakmem|replicas ...]   default: the first four
#
#   store     Service.Due, Service.NextWake and Service.PauseAll over 10k, 100k
#             and 1M stored occurrences (medians of 5 runs, ratio 1M/10k)
#   dispatch  lag of 10,000 approved occurrences due at once, target 100 ms/call
#   pause     pause to halt under that load
#   peakmem   peak RSS of `heed run` over 1,000,000 scheduled posts
#   replicas  1-3 replicas on PostgreSQL against SQLite: throughput, claim
#             latency, pause to halt, failover (starts a throwaway PostgreSQL)
#
# Raw `go test` output goes to ${HEED_BENCH_OUT:-a temp dir}, printed at the
# end. The store databases are built once per run in a temp dir (about a
# minute for 1M rows) and removed at exit. Needs Go; peakmem needs Linux.
set -euo pipefail

die() {
	echo "bench.sh: $*" >&2
	exit 1
}

command -v go >/dev/null 2>&1 || die "go is required but not installed"
cd "$(dirname "$0")/.."

out=${HEED_BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/heed-bench.XXXXXX")}
mkdir -p "$out"
cache=$(mktemp -d "${TMPDIR:-/tmp}/heed-bench-db.XXXXXX")
trap 'rm -rf "$cache"' EXIT

parts=("$@")
if ((${#parts[@]} == 0)); then parts=(store dispatch pause peakmem); fi
for p in "${parts[@]}"; do
	case $p in store | dispatch | pause | peakmem | replicas) ;; *) die "unknown part $p: use store, dispatch, pause, peakmem or replicas" ;; esac
done

machine() {
	echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown CPU)," \
		"$(go version | awk '{ print $3, $4 }'), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
}

# run NAME CMD...: prints the command, runs it with its output kept in
# $out/NAME.txt.
run() {
	local name=$1
	shift
	echo "\$ $*"
	local status
	set +e
	"$@" 2>&1 | tee "$out/$name.txt" | grep -E '^(Benchmark|--- FAIL|FAIL|ok|panic)'
	status=${PIPESTATUS[0]}
	set -e
	[[ $status == 0 ]] || die "$name failed ($status); see $out/$name.txt"
}

# medians NAME: median of every metric of each benchmark over its runs, and
# the ratio of the 1M to the 10k figure.
medians() {
	awk '
	/^Benchmark/ && NF >= 4 {
		name = $1; sub(/-[0-9]+$/, "", name)
		if (!(name in seen)) { seen[name] = 1; order[++n] = name }
		for (i = 3; i < NF; i += 2) {
			key = name SUBSEP $(i + 1)
			if (!(key in count)) { units[name] = units[name] " " $(i + 1) }
			vals[key, ++count[key]] = $i
		}
	}
	function median(key,   m, i, j, t, a) {
		m = count[key]
		for (i = 1; i <= m; i++) a[i] = vals[key, i]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
	}
	END {
		for (k = 1; k <= n; k++) {
			name = order[k]; line = sprintf("%-55s", name)
			split(substr(units[name], 2), u, " ")
			for (i = 1; u[i] != ""; i++) {
				v = median(name SUBSEP u[i]); med[name, u[i]] = v
				line = line sprintf((v == int(v)) ? "  %.0f %s" : "  %.4g %s", v, u[i])
			}
			print line " (median of " count[name SUBSEP u[1]] ")"
		}
		for (k = 1; k <= n; k++) {
			name = order[k]
			if (name !~ /occurrences=10000\//) continue
			big = name; sub(/occurrences=10000\//, "occurrences=1000000/", big)
			if (!((big, "ns/op") in med) || med[name, "ns/op"] == 0) continue
			op = name; sub(/.*\//, "", op)
			printf "ratio 1M/10k %-10s %.2f\n", op, med[big, "ns/op"] / med[name, "ns/op"]
		}
	}' "$out/$1.txt"
}

machine
for p in "${parts[@]}"; do
	echo
	echo "== $p"
	case $p in
	store)
		run store env HEED_BENCH_CACHE="$cache" go test -tags goolm -run '^$' -bench '^BenchmarkStore$' -benchmem -benchtime 0.5s -count 5 -timeout 30m ./sqlite/
		medians store
		;;
	dispatch)
		run dispatch go test -tags goolm -run '^$' -bench '^BenchmarkDispatch$' -benchtime 1x -timeout 30m ./dispatch/
		;;
	pause)
		run pause go test -tags goolm -run '^$' -bench '^BenchmarkPauseUnderLoad$' -benchtime 1x -count 3 -timeout 30m ./dispatch/
		medians pause
		;;
	peakmem)
		echo "\$ HEED_PEAKMEM_BASELINE=1 scripts/peakmem.sh 1000000 30"
		HEED_PEAKMEM_BASELINE=1 scripts/peakmem.sh 1000000 30 2>&1 | tee "$out/peakmem.txt"
		echo "\$ HEED_PEAKMEM_FROM=1m HEED_PEAKMEM_TO=365d scripts/peakmem.sh 1000000 60"
		HEED_PEAKMEM_FROM=1m HEED_PEAKMEM_TO=365d scripts/peakmem.sh 1000000 60 2>&1 | tee "$out/peakmem-year.txt"
		;;
	replicas)
		run replicas go test -tags goolm -run '^$' -bench '^BenchmarkReplica' -benchmem -benchtime 1x -timeout 30m ./dispatch/
		;;
	esac
done
echo
machine
echo "raw output: $out"
