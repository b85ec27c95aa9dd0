#!/usr/bin/env bash
# gotosocial.sh builds and runs a throwaway GoToSocial server, the real
# Mastodon-API server heed's Mastodon publisher is tested against.
#
#   scripts/gotosocial.sh build       build GoToSocial v0.19.2 once, cached under
#                                      ${HEED_CACHE:-$HOME/.cache/heed}/gotosocial-v0.19.2/
#   scripts/gotosocial.sh start DIR   start a server with its state in DIR (SQLite,
#                                      127.0.0.1, a free port), create a confirmed
#                                      account, obtain a token through the OAuth flow
#                                      and write DIR/env (HEED_GTS_URL, HEED_GTS_TOKEN,
#                                      HEED_GTS_USER)
#   scripts/gotosocial.sh stop DIR    stop the server started in DIR
#
# With HEED_GTS_WATCH_PID set, start also stops the server when that
# process ends (tests pass their own pid, so a crashed run leaves nothing).
#
# Needs only Go and the Go module proxy (plus curl). Why the build is unusual:
# v0.19.2 is the only version the proxy serves, its go.mod names another module
# path (code.superseriousbusiness.org/gotosocial), so it is built from its
# extracted module; two of its dependencies do not build on Go 1.25+, so it is
# built with Go 1.24 fetched through the proxy as a toolchain module.
set -euo pipefail

GTS_VERSION=v0.19.2
GTS_MODULE=github.com/superseriousbusiness/gotosocial
GTS_TOOLCHAIN=go1.24.13
CACHE_ROOT=${HEED_CACHE:-$HOME/.cache/heed}
GTS_HOME=$CACHE_ROOT/gotosocial-$GTS_VERSION
GTS_BIN=$GTS_HOME/gotosocial
START_DEADLINE=${HEED_GTS_START_DEADLINE:-120}

die() {
	echo "gotosocial.sh: $*" >&2
	exit 1
}

log() { echo "gotosocial.sh: $*" >&2; }

need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 is required but not installed${2:+ ($2)}"
}

usage() {
	echo "usage: $0 build | start DIR | stop DIR" >&2
	exit 2
}

built() {
	[ -x "$GTS_BIN" ] && [ -d "$GTS_HOME/web/template" ] && [ -d "$GTS_HOME/web/assets" ]
}

cmd_build() {
	if built; then
		log "using cached $GTS_BIN"
		return 0
	fi
	need go "install Go from https://go.dev/dl/"
	mkdir -p "$CACHE_ROOT" || die "cannot create cache directory $CACHE_ROOT"
	local work
	work=$(mktemp -d "$CACHE_ROOT/gotosocial-build.XXXXXX") || die "cannot create a build directory under $CACHE_ROOT"
	# The build directory is removed however the build ends.
	trap 'chmod -R u+w "'"$work"'" 2>/dev/null; rm -rf "'"$work"'"' EXIT

	log "downloading $GTS_MODULE@$GTS_VERSION through the module proxy"
	local json dir
	# Run outside any module so the download cannot touch a go.mod.
	json=$(cd "$work" && GOFLAGS=-modcacherw GO111MODULE=on go mod download -json "$GTS_MODULE@$GTS_VERSION") ||
		die "go mod download $GTS_MODULE@$GTS_VERSION failed (is GOPROXY reachable? see output above)"
	dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -n "$dir" ] && [ -d "$dir" ] || die "go mod download did not report a module directory: $json"

	cp -R "$dir" "$work/src" || die "cannot copy $dir to $work/src"
	chmod -R u+w "$work/src"
	# Its vendor/ holds only a stale modules.txt; with it present the go
	# command insists on vendoring.
	rm -rf "$work/src/vendor"

	log "fetching Go toolchain $GTS_TOOLCHAIN through the module proxy"
	(cd "$work/src" && GOTOOLCHAIN=$GTS_TOOLCHAIN go version) >&2 ||
		die "cannot fetch the Go toolchain $GTS_TOOLCHAIN through the module proxy"

	log "building GoToSocial $GTS_VERSION with $GTS_TOOLCHAIN (takes a few minutes when cold)"
	# Tags and flags follow GoToSocial's own scripts/build.sh; pure Go.
	(cd "$work/src" && GOTOOLCHAIN=$GTS_TOOLCHAIN CGO_ENABLED=0 GOFLAGS=-modcacherw \
		go build -trimpath \
		-tags "netgo osusergo static_build kvformat timetzdata" \
		-ldflags "-s -w -X main.Version=$GTS_VERSION" \
		-o "$work/gotosocial" ./cmd/gotosocial) >&2 ||
		die "building GoToSocial failed (see the compiler output above)"

	# The server renders its sign-in and authorize pages from web/template
	# and serves web/assets; the JavaScript bundles are not needed for the API.
	mkdir -p "$work/out/web" || die "cannot create $work/out"
	cp -R "$work/src/web/template" "$work/src/web/assets" "$work/out/web/" || die "cannot copy web templates and assets"
	mv "$work/gotosocial" "$work/out/gotosocial"
	# Publish the finished directory in one step so a half-built cache is never used.
	rm -rf "$GTS_HOME"
	mv "$work/out" "$GTS_HOME" || die "cannot move the build to $GTS_HOME"
	log "built $GTS_BIN"
}


# free_port prints a TCP port nothing listens on at 127.0.0.1. The server
# could still lose a race for it; start then fails with a clear message.
free_port() {
	local i port
	for i in $(seq 1 50); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	die "found no free TCP port on 127.0.0.1"
}

# json_field NAME reads a top-level string field from the JSON on stdin.
# GoToSocial's answers are compact JSON, so a pattern is enough and the
# script needs no jq on a fresh machine.
json_field() {
	sed -n 's/.*"'"$1"'":"\([^"]*\)".*/\1/p' | head -n 1
}

# running DIR succeeds when DIR's server process is alive.
running() {
	local pid
	[ -f "$1/gotosocial.pid" ] || return 1
	pid=$(cat "$1/gotosocial.pid")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# gts runs the cached binary against DIR's configuration.
gts() {
	GTS_WAZERO_COMPILATION_CACHE="$GTS_HOME/wazero-cache" \
		"$GTS_BIN" --config-path "$DIR/config.yaml" "$@"
}

cmd_start() {
	need curl "apt-get install curl"
	built || die "GoToSocial is not built: run '$0 build' first"
	mkdir -p "$1" || die "cannot create $1"
	DIR=$(cd "$1" && pwd)
	if running "$DIR"; then
		die "a server is already running in $DIR (pid $(cat "$DIR/gotosocial.pid")); run '$0 stop $DIR' first"
	fi
	# The server's host (which holds the port) is fixed at its first start,
	# so every start gets a fresh state directory.
	[ ! -e "$DIR/gotosocial.db" ] || die "$DIR already holds a GoToSocial database; start each server in a new directory"
	local port url started=$SECONDS
	port=$(free_port)
	url="http://localhost:$port"
	mkdir -p "$DIR/storage"

	# host includes the port so that the URLs the server hands out (status
	# URLs, the OAuth redirect) point back at it.
	cat >"$DIR/config.yaml" <<EOF
host: "localhost:$port"
protocol: "http"
bind-address: "127.0.0.1"
port: $port
db-type: "sqlite"
db-address: "$DIR/gotosocial.db"
storage-backend: "local"
storage-local-base-path: "$DIR/storage"
web-template-base-dir: "$GTS_HOME/web/template/"
web-asset-base-dir: "$GTS_HOME/web/assets/"
log-level: "warn"
letsencrypt-enabled: false
accounts-registration-open: false
# Tests publish in bursts from one address.
advanced-rate-limit-requests: 0
advanced-throttling-multiplier: 0
cache:
  memory-target: "50MiB"
EOF

	log "starting GoToSocial on 127.0.0.1:$port (state in $DIR)"
	# stdin, stdout and stderr are detached so that a caller waiting on this
	# script's output is not held open by the server.
	# Started directly, not through gts(), so that $! is the server's own pid.
	GTS_WAZERO_COMPILATION_CACHE="$GTS_HOME/wazero-cache" \
		"$GTS_BIN" --config-path "$DIR/config.yaml" server start \
		</dev/null >>"$DIR/gotosocial.log" 2>&1 &
	local pid=$!
	echo "$pid" >"$DIR/gotosocial.pid"
	if [ -n "${HEED_GTS_WATCH_PID:-}" ]; then
		watch_parent "$HEED_GTS_WATCH_PID" "$pid"
	fi

	local deadline=$((SECONDS + START_DEADLINE))
	until curl -fsS -o /dev/null "$url/api/v1/instance" 2>/dev/null; do
		if ! running "$DIR"; then
			tail -n 30 "$DIR/gotosocial.log" >&2
			rm -f "$DIR/gotosocial.pid"
			die "GoToSocial exited during start-up (log above, full log in $DIR/gotosocial.log)"
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			tail -n 30 "$DIR/gotosocial.log" >&2
			cmd_stop "$DIR" || true
			die "GoToSocial was not ready on $url after ${START_DEADLINE}s (log above)"
		fi
		sleep 0.2
	done
	log "ready on $url after $((SECONDS - started))s"

	# The admin CLI works on the database the running server has migrated.
	local user=heed email=heed@example.org password token
	password="heed-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')-Pw!"
	gts admin account create --username "$user" --email "$email" --password "$password" \
		</dev/null >>"$DIR/admin.log" 2>&1 ||
		fail_started "admin account create failed (see $DIR/admin.log)"
	gts admin account confirm --username "$user" </dev/null >>"$DIR/admin.log" 2>&1 ||
		fail_started "admin account confirm failed (see $DIR/admin.log)"

	token=$(oauth_token "$url" "$email" "$password") || fail_started "could not obtain an access token"

	(
		umask 077
		printf 'HEED_GTS_URL=%s\nHEED_GTS_TOKEN=%s\nHEED_GTS_USER=%s\n' "$url" "$token" "$user" >"$DIR/env"
	)
	log "account @$user ready after $((SECONDS - started))s; wrote $DIR/env"
}

# watch_parent PARENT PID stops the server PID once process PARENT is gone,
# so a test run that dies before its cleanup leaves no server behind.
watch_parent() {
	local parent=$1 pid=$2 conf="$DIR/config.yaml"
	(
		while kill -0 "$parent" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do
			sleep 1
		done
		if grep -qa -- "$conf" "/proc/$pid/cmdline" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null
		fi
	) </dev/null >/dev/null 2>&1 &
}

# fail_started stops the half-set-up server before failing, so a failed
# start leaves nothing running.
fail_started() {
	cmd_stop "$DIR" >/dev/null 2>&1 || true
	die "$*"
}

# oauth_token URL EMAIL PASSWORD walks the authorization-code flow a person
# would: register an app with the out-of-band redirect, sign in, authorize,
# exchange the code. It prints the access token and nothing else.
oauth_token() {
	local url=$1 email=$2 password=$3 oob=urn:ietf:wg:oauth:2.0:oob
	local jar="$DIR/cookies.txt" app client_id client_secret loc code tok
	rm -f "$jar"

	app=$(curl -fsS -X POST "$url/api/v1/apps" \
		--data-urlencode "client_name=heed-test" \
		--data-urlencode "redirect_uris=$oob" \
		--data-urlencode "scopes=read write") || die "registering an OAuth app failed"
	client_id=$(printf '%s' "$app" | json_field client_id)
	client_secret=$(printf '%s' "$app" | json_field client_secret)
	[ -n "$client_id" ] && [ -n "$client_secret" ] || die "the app registration answer had no client_id/client_secret"

	curl -fsS -o /dev/null -c "$jar" -b "$jar" -G "$url/oauth/authorize" \
		--data-urlencode "client_id=$client_id" \
		--data-urlencode "redirect_uri=$oob" \
		--data-urlencode "response_type=code" \
		--data-urlencode "scope=read write" || die "GET /oauth/authorize failed"
	loc=$(curl -fsS -o /dev/null -c "$jar" -b "$jar" -w '%{redirect_url}' -X POST "$url/auth/sign_in" \
		--data-urlencode "username=$email" \
		--data-urlencode "password=$password") || die "signing in failed"
	case "$loc" in
	*/oauth/authorize) ;;
	*) die "signing in did not lead to the authorize page (redirected to '$loc')" ;;
	esac
	curl -fsS -o /dev/null -c "$jar" -b "$jar" "$url/oauth/authorize" || die "the authorize page failed to load"
	loc=$(curl -fsS -o /dev/null -c "$jar" -b "$jar" -w '%{redirect_url}' -X POST "$url/oauth/authorize") ||
		die "authorizing the app failed"
	code=$(printf '%s' "$loc" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')
	[ -n "$code" ] || die "authorizing did not redirect with a code (redirected to '$loc')"
	rm -f "$jar"

	tok=$(curl -fsS -X POST "$url/oauth/token" \
		--data-urlencode "grant_type=authorization_code" \
		--data-urlencode "code=$code" \
		--data-urlencode "client_id=$client_id" \
		--data-urlencode "client_secret=$client_secret" \
		--data-urlencode "redirect_uri=$oob") || die "exchanging the code for a token failed"
	tok=$(printf '%s' "$tok" | json_field access_token)
	[ -n "$tok" ] || die "the token answer had no access_token"
	curl -fsS -o /dev/null -H "Authorization: Bearer $tok" "$url/api/v1/accounts/verify_credentials" ||
		die "the new token was refused by verify_credentials"
	printf '%s\n' "$tok"
}

cmd_stop() {
	local dir=$1 pid i
	[ -f "$dir/gotosocial.pid" ] || die "no server was started in $dir (no $dir/gotosocial.pid)"
	pid=$(cat "$dir/gotosocial.pid")
	if ! kill -0 "$pid" 2>/dev/null; then
		log "the server in $dir (pid $pid) was not running"
		rm -f "$dir/gotosocial.pid"
		return 0
	fi
	# Signal the process only if it is the server started for this directory.
	grep -qa -- "$dir/config.yaml" "/proc/$pid/cmdline" 2>/dev/null ||
		die "pid $pid in $dir/gotosocial.pid is not this directory's GoToSocial; not stopping it"
	kill -TERM "$pid"
	for i in $(seq 1 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "the server did not stop within 30s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$dir/gotosocial.pid"
	log "stopped GoToSocial in $dir"
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
	[ -d "$2" ] || die "no such directory: $2"
	cmd_stop "$(cd "$2" && pwd)"
	;;
*)
	usage
	;;
esac
