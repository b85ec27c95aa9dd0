#!/usr/bin/env bash
# dendrite.sh builds and runs a throwaway Dendrite homeserver, the real Matrix
# server heed's Matrix adapter and matrix publish target are tested against.
#
#   scripts/dendrite.sh build       build Dendrite v0.15.2 once from the tools module
#                                    in scripts/dendrite-tools, cached under
#                                    ${HEED_CACHE:-$HOME/.cache/heed}/dendrite-v0.15.2/;
#                                    prints the directory holding the binaries
#   scripts/dendrite.sh start DIR   start a homeserver with its state in DIR (SQLite,
#                                    no federation, no open registration, 127.0.0.1 on
#                                    a free port) and write DIR/env with
#                                    HEED_DENDRITE_URL and HEED_DENDRITE_SECRET (the
#                                    shared registration secret). Starting a DIR that
#                                    was started before reuses its config, keys, data
#                                    and port, so a stopped server comes back as it was.
#   scripts/dendrite.sh stop DIR    stop the homeserver started in DIR (its data stays)
#
# Environment:
#   HEED_CACHE                      cache root (default $HOME/.cache/heed)
#   HEED_DENDRITE_START_DEADLINE    seconds to wait for the server to answer (default 60)
#   HEED_DENDRITE_WATCH_PID         if set, the server is stopped when this process exits
#                                   (test binaries pass their own pid so a killed test
#                                   run leaves no server behind)
#   HEED_DENDRITE_DB                a PostgreSQL URL: the server keeps its state there, not in
#                                   SQLite files in DIR (read when DIR is first configured)
#
# Needs Go, the Go module proxy and curl. Dendrite is built from a module of its
# own because `go install …@v0.15.2` trips on a proxy that refuses version lists,
# and because its dependencies must never reach heed's go.mod.
set -euo pipefail

DENDRITE_VERSION=v0.15.2
DENDRITE_MODULE=github.com/element-hq/dendrite
COMMANDS=(dendrite create-account generate-keys generate-config)
# Also built from the tools module: sqlite-wal, which puts Dendrite's SQLite
# databases in WAL mode before the first start.
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLS_DIR=$SCRIPT_DIR/dendrite-tools
CACHE_ROOT=${HEED_CACHE:-$HOME/.cache/heed}
BIN=$CACHE_ROOT/dendrite-$DENDRITE_VERSION
START_DEADLINE=${HEED_DENDRITE_START_DEADLINE:-60}
STOP_DEADLINE=15

die() {
	echo "dendrite.sh: $*" >&2
	exit 1
}

log() { echo "dendrite.sh: $*" >&2; }

need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 is required but not installed${2:+ ($2)}"
}

usage() {
	echo "usage: $0 build | start DIR | stop DIR" >&2
	exit 2
}

# The stamp ties the cached binaries to the tools module's sources and
# pins, so a changed pin rebuilds instead of silently running the old server.
stamp() { cat "$TOOLS_DIR/go.mod" "$TOOLS_DIR/go.sum" "$TOOLS_DIR/sqlite-wal/main.go" | sha256sum | cut -d' ' -f1; }

built() {
	local c
	for c in "${COMMANDS[@]}" sqlite-wal; do
		[ -x "$BIN/$c" ] || return 1
	done
	[ "$(cat "$BIN/.stamp" 2>/dev/null)" = "$(stamp)" ]
}

cmd_build() {
	[ -f "$TOOLS_DIR/go.mod" ] && [ -f "$TOOLS_DIR/go.sum" ] ||
		die "the tools module is missing ($TOOLS_DIR/go.mod and go.sum must be committed)"
	if built; then
		echo "$BIN"
		return 0
	fi
	need go "install Go from https://go.dev/dl/"
	need sha256sum
	mkdir -p "$CACHE_ROOT" || die "cannot create cache directory $CACHE_ROOT"

	# Several test binaries may ask for a build at once on a cold cache;
	# the lock makes the others wait for the first instead of compiling too.
	exec 9>"$CACHE_ROOT/.dendrite-build.lock" || die "cannot create lock file in $CACHE_ROOT"
	if command -v flock >/dev/null 2>&1; then
		flock 9 || die "cannot lock $CACHE_ROOT/.dendrite-build.lock"
	fi
	if built; then
		echo "$BIN"
		return 0
	fi

	local work pkgs=() c
	work=$(mktemp -d "$CACHE_ROOT/dendrite-build.XXXXXX") || die "cannot create a build directory under $CACHE_ROOT"
	trap 'rm -rf "'"$work"'"' EXIT
	for c in "${COMMANDS[@]}"; do
		pkgs+=("$DENDRITE_MODULE/cmd/$c")
	done
	pkgs+=(./sqlite-wal)
	log "building Dendrite $DENDRITE_VERSION (a few minutes when cold; cached afterwards)"
	# GOWORK=off: a go.work elsewhere must not pull this module into another build.
	# -mod=readonly: the committed go.sum is the whole truth; nothing is re-resolved.
	(cd "$TOOLS_DIR" && GOWORK=off CGO_ENABLED=0 go build -mod=readonly -trimpath -o "$work/" "${pkgs[@]}") >&2 ||
		die "building Dendrite $DENDRITE_VERSION failed (see the compiler output above; is the Go module proxy reachable?)"
	stamp >"$work/.stamp"
	# Publish the finished directory in one step so a half-built cache is never used.
	rm -rf "$BIN"
	mv "$work" "$BIN" || die "cannot move the build to $BIN"
	trap - EXIT
	log "built $BIN"
	echo "$BIN"
}

# answers PORT: the client API of a server on PORT responds.
answers() {
	curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$1/_matrix/client/versions" 2>/dev/null
}

# port_free PORT: nothing accepts connections on PORT.
port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		if port_free "$p"; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found on 127.0.0.1"
}

# listens PID PORT: PID itself holds the listening socket on 127.0.0.1:PORT
# (read from /proc, so that a server another test started on the same port
# is never taken for ours).
listens() {
	local hex inode fd
	hex=$(printf '%04X' "$2")
	for inode in $(awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" { print $10 }' /proc/net/tcp 2>/dev/null); do
		for fd in /proc/"$1"/fd/*; do
			[ "$(readlink "$fd" 2>/dev/null)" = "socket:[$inode]" ] && return 0
		done
	done
	return 1
}

# ours PID: PID is a dendrite process started from this cache.
ours() {
	[ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -- "$BIN/dendrite "
}

configure() {
	local dir=$1 secret
	(cd "$dir" && "$BIN/generate-keys" --private-key matrix_key.pem >/dev/null) ||
		die "generate-keys failed in $dir"
	if [ -n "${HEED_DENDRITE_DB:-}" ]; then
		# One PostgreSQL database for every component: what Dendrite runs
		# on in production. On SQLite its components' writers collide
		# under load ("database is locked"), after which it answers HTTP
		# 500 or panics.
		"$BIN/generate-config" -ci -dir "$dir" -server localhost -db "$HEED_DENDRITE_DB" >"$dir/dendrite.yaml.new" ||
			die "generate-config failed"
		[ "$(grep -c -- '^    max_open_conns: 90$' "$dir/dendrite.yaml.new")" = 1 ] ||
			die "unexpected generate-config output: no single global max_open_conns: 90"
		sed -i 's|^    max_open_conns: 90$|    max_open_conns: 40|' "$dir/dendrite.yaml.new"
	else
		"$BIN/generate-config" -ci -dir "$dir" -server localhost >"$dir/dendrite.yaml.new" ||
			die "generate-config failed"
		# Write-ahead logging for every database (see sqlite-wal/main.go for why).
		local dbs
		dbs=$(grep -o 'file:[^[:space:]]*\.db' "$dir/dendrite.yaml.new" | sed 's/^file://')
		[ -n "$dbs" ] || die "unexpected generate-config output: no SQLite databases under $dir"
		# shellcheck disable=SC2086 # one path per word (Dendrite's config cannot hold spaces in them either)
		"$BIN/sqlite-wal" $dbs || die "could not switch Dendrite's databases to WAL"
	fi
	# A fresh secret per server rather than the -ci config's well-known one.
	secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	# Rewrite the few keys that matter; each must match exactly once, so a
	# changed generate-config output fails here instead of running open.
	local want
	for want in '^  private_key: matrix_key.pem$' '^  disable_federation: false$' \
		'^  registration_disabled: false$' '^  registration_shared_secret: complement$' '^  level: trace$'; do
		[ "$(grep -c -- "$want" "$dir/dendrite.yaml.new")" = 1 ] ||
			die "unexpected generate-config output: no single line matching '$want'"
	done
	sed -i \
		-e "s|^  private_key: matrix_key.pem\$|  private_key: $dir/matrix_key.pem|" \
		-e 's|^  disable_federation: false$|  disable_federation: true|' \
		-e 's|^  registration_disabled: false$|  registration_disabled: true|' \
		-e "s|^  registration_shared_secret: complement\$|  registration_shared_secret: $secret|" \
		-e 's|^  level: trace$|  level: info|' \
		"$dir/dendrite.yaml.new"
	chmod 600 "$dir/dendrite.yaml.new"
	mv "$dir/dendrite.yaml.new" "$dir/dendrite.yaml"
	echo "$secret" >"$dir/secret"
	chmod 600 "$dir/secret"
}

cmd_start() {
	need curl
	local dir pid port secret deadline attempt
	mkdir -p "$1" || die "cannot create $1"
	dir=$(cd "$1" && pwd)
	if [ -f "$dir/dendrite.pid" ] && ours "$(cat "$dir/dendrite.pid")"; then
		die "a homeserver is already running for $dir (pid $(cat "$dir/dendrite.pid")); stop it first"
	fi
	built || cmd_build >/dev/null
	[ -f "$dir/dendrite.yaml" ] || configure "$dir"
	secret=$(cat "$dir/secret")

	for attempt in 1 2 3 4 5; do
		if [ -f "$dir/port" ]; then
			port=$(cat "$dir/port")
			port_free "$port" || die "port $port (kept from the previous start of $dir) is in use"
		else
			port=$(pick_port)
		fi
		: >"$dir/dendrite.log"
		(cd "$dir" && exec setsid "$BIN/dendrite" -config "$dir/dendrite.yaml" \
			-http-bind-address "127.0.0.1:$port" </dev/null >>"$dir/dendrite.log" 2>&1) &
		pid=$!
		echo "$pid" >"$dir/dendrite.pid"
		deadline=$((SECONDS + START_DEADLINE))
		while ! { answers "$port" && listens "$pid" "$port"; }; do
			if ! kill -0 "$pid" 2>/dev/null; then
				# Another process took the port between the check and the bind.
				if grep -q 'address already in use' "$dir/dendrite.log" && [ ! -f "$dir/port" ]; then
					continue 2
				fi
				tail -n 20 "$dir/dendrite.log" >&2
				die "Dendrite exited during start-up (log: $dir/dendrite.log)"
			fi
			if [ "$SECONDS" -ge "$deadline" ]; then
				kill "$pid" 2>/dev/null || true
				tail -n 20 "$dir/dendrite.log" >&2
				die "Dendrite did not answer on 127.0.0.1:$port within ${START_DEADLINE}s (log: $dir/dendrite.log)"
			fi
			sleep 0.1
		done
		echo "$port" >"$dir/port"
		{
			echo "HEED_DENDRITE_URL=http://127.0.0.1:$port"
			echo "HEED_DENDRITE_SECRET=$secret"
		} >"$dir/env"
		chmod 600 "$dir/env"
		if [ -n "${HEED_DENDRITE_WATCH_PID:-}" ]; then
			# Stop the server when the process that asked for it is gone.
			(
				while kill -0 "$HEED_DENDRITE_WATCH_PID" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do
					sleep 1
				done
				if ours "$pid"; then kill "$pid" 2>/dev/null || true; fi
			) </dev/null >/dev/null 2>&1 &
		fi
		log "Dendrite $DENDRITE_VERSION ready at http://127.0.0.1:$port (pid $pid, state in $dir)"
		return 0
	done
	die "could not bind a free port on 127.0.0.1 after 5 attempts"
}

cmd_stop() {
	local dir pid deadline
	[ -d "$1" ] || die "$1 is not a directory"
	dir=$(cd "$1" && pwd)
	[ -f "$dir/dendrite.pid" ] || die "no homeserver was started in $dir"
	pid=$(cat "$dir/dendrite.pid")
	if ! ours "$pid"; then
		rm -f "$dir/dendrite.pid"
		log "no homeserver running for $dir"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + STOP_DEADLINE))
	while ours "$pid"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "Dendrite (pid $pid) ignored SIGTERM for ${STOP_DEADLINE}s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	rm -f "$dir/dendrite.pid"
	log "stopped Dendrite for $dir"
}

case "${1:-}" in
build)
	[ $# -eq 1 ] || usage
	cmd_build
	;;
start)
	[ $# -eq 2 ] || usage
	cmd_start "$2"
	;;
stop)
	[ $# -eq 2 ] || usage
	cmd_stop "$2"
	;;
*)
	usage
	;;
esac
