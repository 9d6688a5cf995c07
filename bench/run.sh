#!/usr/bin/env bash
# Whole-system benchmark: the Rampart gateway against a bare
# httputil.ReverseProxy and nginx, on one machine, reported as ratios.
# See bench/README.md. Usage: bash bench/run.sh
#
# Knobs (environment):
#   DURATION=10s   wrk duration of each measured run
#   RUNS=3         measured runs per (mode, proxy); the table shows medians
#   CONNS=32       wrk connections (one wrk thread)
#   ONLY="bareproxy rampart rampart-jwt rampart-jwt-cold nginx"   which proxies to run
#                  (also: rampart-validate, best with METHOD=POST)
#   METHOD=GET     GET, or POST (a small JSON order body, the same for every proxy)
#   JWT_ALG=EdDSA  signature algorithm of rampart-jwt's token (EdDSA or ES256)
#   MODES="plaintext tls"            which listener modes to run
#   WARMUP=2s      unmeasured wrk run before the measured ones
#   PROXY_CPU=0 LOAD_CPU=1           CPUs for the proxy / for wrk + upstream
#   BASE_PORT=18080                  first port tried for the listeners
#   BODY_SIZE=64   upstream response body in bytes
#   URL_PATH=/bench                  path requested through the proxies
#   RESULTS_DIR=bench/results/<UTC timestamp>
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)

DURATION=${DURATION:-10s}
RUNS=${RUNS:-3}
CONNS=${CONNS:-32}
ONLY=${ONLY:-bareproxy rampart rampart-jwt rampart-jwt-cold nginx}
METHOD=${METHOD:-GET}
JWT_ALG=${JWT_ALG:-EdDSA}
MODES=${MODES:-plaintext tls}
WARMUP=${WARMUP:-2s}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BASE_PORT=${BASE_PORT:-18080}
BODY_SIZE=${BODY_SIZE:-64}
URL_PATH=${URL_PATH:-/bench}
RESULTS_DIR=${RESULTS_DIR:-$BENCH_DIR/results/$(date -u +%Y%m%dT%H%M%SZ)}

# The benchmark itself keeps about two CPUs busy; a 1-minute load average
# above LOAD_WARN during a run means other work competed with it.
LOAD_WARN=3

# Readiness polls: at most READY_TRIES × 0.1 s. Stops: at most 5 s, then KILL.
READY_TRIES=100
STOP_TRIES=50

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# ---------------------------------------------------------------- arguments

validate_knobs() {
	[[ $DURATION =~ ^[1-9][0-9]*[smh]?$ ]] || die "DURATION=$DURATION: want e.g. 10s"
	[[ $WARMUP =~ ^[0-9]+[smh]?$ ]] || die "WARMUP=$WARMUP: want e.g. 2s"
	[[ $RUNS =~ ^[1-9][0-9]?$ ]] || die "RUNS=$RUNS: want 1..99"
	[[ $METHOD == GET || $METHOD == POST ]] || die "METHOD=$METHOD: want GET or POST"
	[[ $CONNS =~ ^[1-9][0-9]{0,3}$ ]] || die "CONNS=$CONNS: want 1..9999"
	[[ $BODY_SIZE =~ ^[1-9][0-9]{0,6}$ ]] || die "BODY_SIZE=$BODY_SIZE: want a byte count"
	[[ $BASE_PORT =~ ^[1-9][0-9]{3,4}$ && $BASE_PORT -lt 65000 ]] || die "BASE_PORT=$BASE_PORT: want 1000..64999"
	[[ $PROXY_CPU =~ ^[0-9]+$ && $LOAD_CPU =~ ^[0-9]+$ ]] || die "PROXY_CPU/LOAD_CPU: want CPU numbers"
	[[ $URL_PATH =~ ^/[A-Za-z0-9/._-]*$ ]] || die "URL_PATH=$URL_PATH: want a plain absolute path"
	[[ $JWT_ALG == EdDSA || $JWT_ALG == ES256 ]] || die "JWT_ALG=$JWT_ALG: want EdDSA or ES256"
	local p m
	# Word splitting is the point: ONLY and MODES are space/comma lists.
	ONLY=${ONLY//,/ }
	MODES=${MODES//,/ }
	for p in $ONLY; do
		case $p in bareproxy | rampart | rampart-jwt | rampart-jwt-cold | rampart-validate | nginx) ;; *) die "ONLY: unknown proxy \"$p\" (want bareproxy, rampart, rampart-jwt, rampart-jwt-cold, rampart-validate, nginx)" ;; esac
	done
	for m in $MODES; do
		case $m in plaintext | tls) ;; *) die "MODES: unknown mode \"$m\" (want plaintext, tls)" ;; esac
	done
	[[ -n ${ONLY// /} ]] || die "ONLY is empty"
	[[ -n ${MODES// /} ]] || die "MODES is empty"
}

wants() { [[ " $ONLY " == *" $1 "* ]]; }

# ---------------------------------------------------------------- tools

NGINX_BIN=""

find_nginx() {
	NGINX_BIN=$(command -v nginx 2>/dev/null || true)
	if [[ -z $NGINX_BIN && -x /usr/sbin/nginx ]]; then
		NGINX_BIN=/usr/sbin/nginx
	fi
	[[ -n $NGINX_BIN ]]
}

# ensure_tools installs what is missing with apt-get when running as root,
# and otherwise says exactly what to install.
ensure_tools() {
	command -v go >/dev/null || die "the Go toolchain is needed (see go.mod for the version)"
	local pkgs=()
	command -v wrk >/dev/null || pkgs+=(wrk)
	command -v openssl >/dev/null || pkgs+=(openssl)
	command -v curl >/dev/null || pkgs+=(curl)
	command -v taskset >/dev/null || pkgs+=(util-linux)
	if wants nginx && ! find_nginx; then
		pkgs+=(nginx-light)
	fi
	((${#pkgs[@]} == 0)) && return 0

	if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
		die "missing tools; install them first, e.g.: sudo apt-get install -y ${pkgs[*]}"
	fi
	log "installing ${pkgs[*]} with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || die "apt-get update failed"
	if ! apt-get install -y -qq --no-install-recommends "${pkgs[@]}"; then
		# Newer Ubuntu releases ship only the "nginx" package.
		pkgs=("${pkgs[@]/nginx-light/nginx}")
		apt-get install -y -qq --no-install-recommends "${pkgs[@]}" || die "apt-get install ${pkgs[*]} failed"
	fi
	if wants nginx; then
		find_nginx || die "nginx is still missing after apt-get install"
	fi
}

# ---------------------------------------------------------------- processes

CHILDREN=()

# start_bg LOGFILE CPU CMD... starts CMD pinned to CPU in the background and
# sets STARTED_PID. taskset (and env, when used) exec, so the pid is the
# program's own and signals reach it directly.
STARTED_PID=""
start_bg() {
	local logfile=$1 cpu=$2
	shift 2
	taskset -c "$cpu" "$@" >"$logfile" 2>&1 &
	STARTED_PID=$!
	CHILDREN+=("$STARTED_PID")
}

# running PID: true while PID is alive and not a zombie (kill -0 succeeds on
# zombies, which would make a stop loop wait for nothing).
running() {
	local state
	[[ -r /proc/$1/stat ]] || return 1
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $state && $state != Z ]]
}

# stop_pid PID stops one of our children: TERM, a bounded wait, then KILL.
stop_pid() {
	local pid=$1 i keep=() c
	if running "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < STOP_TRIES; i++)); do
			running "$pid" || break
			sleep 0.1
		done
		if running "$pid"; then
			log "pid $pid did not stop in $((STOP_TRIES / 10)) s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
	# Forget the pid so cleanup never signals a recycled one.
	for c in "${CHILDREN[@]}"; do
		[[ $c == "$pid" ]] || keep+=("$c")
	done
	CHILDREN=("${keep[@]}")
}

cleanup() {
	local pid
	for pid in "${CHILDREN[@]}"; do
		stop_pid "$pid"
	done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- ports

USED_PORTS=" "
NEXT_PORT=$BASE_PORT

# port_in_use PORT: something accepts connections on 127.0.0.1:PORT.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# alloc_port sets PORT to a loopback port nobody listens on, scanning up from
# BASE_PORT (bounded), never handing out the same port twice in one run.
PORT=""
alloc_port() {
	local i
	for ((i = 0; i < 500; i++)); do
		PORT=$NEXT_PORT
		NEXT_PORT=$((NEXT_PORT + 1))
		((PORT < 65535)) || break
		[[ $USED_PORTS == *" $PORT "* ]] && continue
		if ! port_in_use "$PORT"; then
			USED_PORTS+="$PORT "
			return 0
		fi
	done
	die "no free port found from $BASE_PORT"
}

# wait_ready URL PID NAME polls URL until it answers 2xx, PID dies, or the
# bounded number of tries runs out.
wait_ready() {
	local url=$1 pid=$2 name=$3 i
	for ((i = 0; i < READY_TRIES; i++)); do
		if ! running "$pid"; then
			log "$name exited during start-up"
			return 1
		fi
		if curl -fsS -k --noproxy '*' -o /dev/null --max-time 1 "${AUTH_CURL[@]}" "$url" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	log "$name not ready at $url after $((READY_TRIES / 10)) s"
	return 1
}

# ---------------------------------------------------------------- set-up

BIN="" CERT="" KEY="" UPSTREAM_PORT="" UPSTREAM_PID=""
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
SKIP_REASON_rampart=""
# AUTH_TOKEN is rampart-jwt's bearer token. Every proxy gets the same
# Authorization header, so the requests are the same size everywhere; the
# bare proxy and nginx pass it on, rampart-jwt verifies it.
AUTH_TOKEN="" JWKS_FILE=""
AUTH_CURL=() AUTH_WRK=()

build() {
	mkdir -p "$BIN"
	log "building upstream and bareproxy"
	(cd "$REPO_DIR" && go build -o "$BIN/upstream" ./bench/upstream && go build -o "$BIN/bareproxy" ./bench/bareproxy) ||
		die "go build of bench/upstream or bench/bareproxy failed"
	if [[ $METHOD == POST ]]; then
		# wrk sends the same small JSON order to every proxy.
		mkdir -p "$RESULTS_DIR/conf"
		cat >"$RESULTS_DIR/conf/post.lua" <<-'LUA'
			wrk.method = "POST"
			wrk.body = '{"account":"42","item":"notebook","qty":2}'
			wrk.headers["Content-Type"] = "application/json"
		LUA
		AUTH_WRK+=(-s "$RESULTS_DIR/conf/post.lua")
	fi
	if wants rampart || wants rampart-jwt || wants rampart-jwt-cold || wants rampart-validate; then
		log "building the gateway (./cmd/rampart)"
		if ! (cd "$REPO_DIR" && go build -o "$BIN/rampart" ./cmd/rampart) >"$RESULTS_DIR/logs/build-rampart.log" 2>&1; then
			SKIP_REASON_rampart="./cmd/rampart does not build yet (see logs/build-rampart.log)"
			log "skipping rampart: $SKIP_REASON_rampart"
		fi
	fi
	if wants rampart-jwt || wants rampart-jwt-cold; then
		log "making rampart-jwt's issuer key set and token ($JWT_ALG)"
		(cd "$REPO_DIR" && go build -o "$BIN/jwtgen" ./bench/jwtgen) || die "go build of bench/jwtgen failed"
		JWKS_FILE=$RESULTS_DIR/conf/jwks.json
		mkdir -p "$RESULTS_DIR/conf"
		AUTH_TOKEN=$("$BIN/jwtgen" -jwks "$JWKS_FILE" -alg "$JWT_ALG") || die "jwtgen failed"
		AUTH_CURL=(-H "Authorization: Bearer $AUTH_TOKEN")
		AUTH_WRK+=(-H "Authorization: Bearer $AUTH_TOKEN")
	fi
}

gen_cert() {
	local dir=$RESULTS_DIR/certs
	mkdir -p "$dir"
	CERT=$dir/cert.pem
	KEY=$dir/key.pem
	log "generating a self-signed ECDSA P-256 certificate for 127.0.0.1"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$KEY" -out "$CERT" -days 2 -subj "/CN=127.0.0.1" \
		-addext "subjectAltName=IP:127.0.0.1" \
		-addext "extendedKeyUsage=serverAuth" >"$RESULTS_DIR/logs/openssl.log" 2>&1 ||
		die "openssl could not generate the certificate (see logs/openssl.log)"
	chmod 600 "$KEY"
}

start_upstream() {
	alloc_port
	UPSTREAM_PORT=$PORT
	start_bg "$RESULTS_DIR/logs/upstream.log" "$LOAD_CPU" \
		env GOMAXPROCS=1 "$BIN/upstream" -addr "127.0.0.1:$UPSTREAM_PORT" -size "$BODY_SIZE"
	UPSTREAM_PID=$STARTED_PID
	wait_ready "http://127.0.0.1:$UPSTREAM_PORT/healthz" "$UPSTREAM_PID" upstream ||
		die "upstream did not start (see logs/upstream.log)"
	log "upstream on 127.0.0.1:$UPSTREAM_PORT (CPU $LOAD_CPU)"
}

write_env() {
	{
		echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "kernel: $(uname -srm)"
		echo "cpu: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null)"
		echo "cpus online: $(nproc --all) (this process may use $(nproc))"
		echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
		echo "go: $(go version)"
		echo "wrk: $(wrk -v 2>&1 | head -n1)"
		if [[ -n $NGINX_BIN ]]; then echo "nginx: $("$NGINX_BIN" -v 2>&1)"; fi
		echo "openssl: $(openssl version)"
		echo "commit: $(git -C "$REPO_DIR" rev-parse HEAD 2>/dev/null || echo unknown)"
		echo "knobs: METHOD=$METHOD DURATION=$DURATION RUNS=$RUNS CONNS=$CONNS WARMUP=$WARMUP ONLY=\"$ONLY\" MODES=\"$MODES\" BODY_SIZE=$BODY_SIZE URL_PATH=$URL_PATH PROXY_CPU=$PROXY_CPU LOAD_CPU=$LOAD_CPU"
	} >"$RESULTS_DIR/env.txt"
}

# ---------------------------------------------------------------- proxies

# start_rampart MODE NAME PORT LOGFILE writes the gateway's configuration for
# one of the rampart cases and starts it pinned to PROXY_CPU:
#   rampart           one auth: none route;
#   rampart-jwt       a JWT route: signature (cached after the first request,
#                     as in production), scope, a CEL rule, and the identity
#                     token the upstream receives instead of the client's;
#   rampart-jwt-cold  the same with the verified-token cache off, so every
#                     request verifies the signature;
#   rampart-validate  a public route with a local rate limit (never reached)
#                     and OpenAPI validation of the JSON order body.
start_rampart() {
	local mode=$1 name=$2 port=$3 logfile=$4 conf admin_port tls_line cache_line="" auth_lines
	conf=$RESULTS_DIR/conf/$mode-$name.yaml
	alloc_port
	admin_port=$PORT
	mkdir -p "$RESULTS_DIR/conf"
	tls_line='tls: {disabled: true}'
	[[ $mode == tls ]] && tls_line="tls: {cert: \"$CERT\", key: \"$KEY\"}"
	[[ $name == rampart-jwt-cold ]] && cache_line='token_cache: {entries: 0}'
	if [[ $name == rampart ]]; then
		auth_lines='    auth: none'
	elif [[ $name == rampart-validate ]]; then
		cat >"$RESULTS_DIR/conf/orders.yaml" <<-'SPEC'
			openapi: 3.0.3
			info: {title: bench orders, version: "1"}
			paths:
			  /{any}:
			    parameters:
			      - {name: any, in: path, required: true, schema: {type: string}}
			    get:
			      responses: {"200": {description: ok}}
			    post:
			      requestBody:
			        required: true
			        content:
			          application/json:
			            schema:
			              type: object
			              required: [item, qty]
			              properties:
			                account: {type: string, pattern: "^[0-9]{1,10}$"}
			                item: {type: string, maxLength: 64}
			                qty: {type: integer, minimum: 1, maximum: 100}
			      responses: {"200": {description: ok}}
		SPEC
		auth_lines="    auth: none
    rate_limit: {rate: 1000000/s, burst: 1000000}
    validate: {openapi: \"$RESULTS_DIR/conf/orders.yaml\", reject_unknown_fields: true}"
	else
		auth_lines="    auth: {issuers: [bench], scopes: [bench:read]}
    allow: 'principal.subject == \"bench-user\" || \"admin\" in principal.roles'"
	fi
	cat >"$conf" <<-EOF
		data_dir: "$RESULTS_DIR/$name-data"
		gateway:
		  listen: "127.0.0.1:$port"
		  admin: "127.0.0.1:$admin_port"
		  $tls_line
		  $cache_line
		log:
		  access: "$RESULTS_DIR/logs/$mode-$name-access.log"
		issuers:
		  - name: bench
		    issuer: https://bench.rampart.local
		    jwks_file: "${JWKS_FILE:-/nonexistent}"
		    audiences: [bench-api]
		    algorithms: [$JWT_ALG]
		    token_type: at+jwt
		upstreams:
		  backend:
		    targets: ["http://127.0.0.1:$UPSTREAM_PORT"]
		routes:
		  - name: bench
		    match: {path: "/*"}
		    upstream: backend
	EOF
	printf '%s\n' "$auth_lines" >>"$conf"
	if [[ $name == rampart || $name == rampart-validate ]]; then
		# No issuer is needed (and the key set may not have been made).
		sed -i '/^issuers:/,/^upstreams:/{/^upstreams:/!d}' "$conf"
	fi
	start_bg "$logfile" "$PROXY_CPU" env GOMAXPROCS=1 "$BIN/rampart" gateway --config "$conf"
}

# start_proxy MODE NAME PORT: starts one proxy pinned to PROXY_CPU and sets
# PROXY_PID. Returns non-zero when it cannot be configured.
PROXY_PID=""
start_proxy() {
	local mode=$1 name=$2 port=$3 conf_dir=$RESULTS_DIR/conf logfile
	logfile=$RESULTS_DIR/logs/$mode-$name.log
	case $name in
	bareproxy)
		local tls_args=()
		[[ $mode == tls ]] && tls_args=(-cert "$CERT" -key "$KEY")
		start_bg "$logfile" "$PROXY_CPU" env GOMAXPROCS=1 "$BIN/bareproxy" \
			-addr "127.0.0.1:$port" -upstream "http://127.0.0.1:$UPSTREAM_PORT" "${tls_args[@]}"
		;;
	rampart | rampart-jwt | rampart-jwt-cold | rampart-validate)
		start_rampart "$mode" "$name" "$port" "$logfile"
		;;
	nginx)
		local run_dir=$RESULTS_DIR/nginx-$mode conf opts=""
		conf=$run_dir/nginx.conf
		mkdir -p "$run_dir/tmp"
		[[ $mode == tls ]] && opts=" ssl http2"
		sed -e "s|@RUNDIR@|$run_dir|g" \
			-e "s|@ACCESS_LOG@|$RESULTS_DIR/logs/$mode-nginx-access.log|g" \
			-e "s|@UPSTREAM_PORT@|$UPSTREAM_PORT|g" \
			-e "s|@PORT@|$port|g" \
			-e "s|@LISTEN_OPTS@|$opts|g" \
			-e "s|@CERT@|$CERT|g" \
			-e "s|@KEY@|$KEY|g" \
			"$BENCH_DIR/nginx.conf.tmpl" >"$conf"
		local eflag=() help
		# -e (nginx >= 1.19.5) keeps even the start-up error log off /var/log.
		help=$("$NGINX_BIN" -h 2>&1 || true)
		[[ $help == *"-e filename"* ]] && eflag=(-e "$run_dir/nginx-error.log")
		"$NGINX_BIN" -t -p "$run_dir" -c "$conf" "${eflag[@]}" >"$logfile" 2>&1 || {
			log "nginx rejected $conf (see logs/$mode-nginx.log)"
			return 1
		}
		start_bg "$logfile" "$PROXY_CPU" "$NGINX_BIN" -p "$run_dir" -c "$conf" "${eflag[@]}"
		;;
	esac
	PROXY_PID=$STARTED_PID
}

# cpu_ticks PID prints the CPU time (user+system, in clock ticks) used so far
# by PID and its direct children (nginx's worker).
cpu_ticks() {
	local pid=$1 total=0 t c
	for c in $pid $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do
		# Fields after "comm)": state is 1, utime 12, stime 13.
		t=$(sed 's/.*) //' "/proc/$c/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
		total=$((total + ${t:-0}))
	done
	echo "$total"
}

# parse_wrk FILE prints "rps p50_ms p99_ms non2xx socket_errors" (NA when a
# figure is missing, e.g. wrk failed).
parse_wrk() {
	awk '
		function ms(v) {
			if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
			if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
			if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
			if (v ~ /m$/)  { sub(/m$/, "", v);  return v * 60000 }
			return "NA"
		}
		/^Requests\/sec:/ { rps = $2 }
		/Latency Distribution/ { dist = 1; next }
		dist && $1 == "50%" { p50 = ms($2) }
		dist && $1 == "99%" { p99 = ms($2); dist = 0 }
		/Non-2xx or 3xx responses:/ { non2xx = $NF }
		/Socket errors:/ { gsub(/,/, ""); sockerr = $4 + $6 + $8 + $10 }
		END {
			printf "%s %s %s %d %d\n", (rps == "" ? "NA" : rps), (p50 == "" ? "NA" : p50),
				(p99 == "" ? "NA" : p99), non2xx, sockerr
		}' "$1"
}

# run_case MODE NAME: one proxy in one mode: start, warm up, RUNS × wrk, stop.
# run_case starts one proxy, warms it up, measures run $3 and stops it. Runs
# are interleaved across proxies (bare, rampart, nginx, bare, ...) so that a
# machine whose speed drifts during the benchmark skews all rows alike.
run_case() {
	local mode=$1 name=$2 i=$3 port scheme=http url raw fields t0 t1 c0 c1 cpu load
	[[ $mode == tls ]] && scheme=https
	running "$UPSTREAM_PID" || die "the upstream died (see logs/upstream.log)"
	alloc_port
	port=$PORT
	url="$scheme://127.0.0.1:$port$URL_PATH"
	log "$mode/$name (run $i/$RUNS): starting on $url (CPU $PROXY_CPU)"
	if ! start_proxy "$mode" "$name" "$port"; then
		printf '%s\t%s\tfailed: could not configure (see logs/%s-%s.log)\n' "$mode" "$name" "$mode" "$name" >>"$RESULTS_DIR/skipped.tsv"
		return 0
	fi
	if ! wait_ready "$url" "$PROXY_PID" "$mode/$name"; then
		log "last lines of logs/$mode-$name.log:"
		tail -n 5 "$RESULTS_DIR/logs/$mode-$name.log" >&2 || true
		stop_pid "$PROXY_PID"
		printf '%s\t%s\tfailed: not ready (see logs/%s-%s.log)\n' "$mode" "$name" "$mode" "$name" >>"$RESULTS_DIR/skipped.tsv"
		return 0
	fi
	if [[ $WARMUP != 0 && $WARMUP != 0s ]]; then
		taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$WARMUP" "${AUTH_WRK[@]}" "$url" >"$RESULTS_DIR/raw/$mode-$name-$i-warmup.txt" 2>&1 || true
	fi
	{
		raw=$RESULTS_DIR/raw/$mode-$name-$i.txt
		t0=$(date +%s%N)
		c0=$(cpu_ticks "$PROXY_PID")
		taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" --latency "${AUTH_WRK[@]}" "$url" >"$raw" 2>&1 ||
			log "$mode/$name run $i: wrk exited with an error (see raw/$mode-$name-$i.txt)"
		c1=$(cpu_ticks "$PROXY_PID")
		t1=$(date +%s%N)
		# Share of one CPU the proxy used: near 100 % means the proxy is the
		# bottleneck, as intended; well below means the load side is.
		cpu=$(awk -v c="$((c1 - c0))" -v hz="$CLK_TCK" -v ns="$((t1 - t0))" 'BEGIN { printf "%.0f", (ns > 0) ? 100 * c / hz / (ns / 1e9) : 0 }')
		fields=$(parse_wrk "$raw")
		# shellcheck disable=SC2086 # fields is five space-separated figures
		set -- $fields
		load=$(cut -d' ' -f1 /proc/loadavg)
		printf '%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$name" "$i" "$1" "$2" "$3" "$4" "$5" "$cpu" "$load" >>"$RESULTS_DIR/summary.tsv"
		log "$mode/$name run $i/$RUNS: $1 req/s, p50 $2 ms, p99 $3 ms, non-2xx $4, socket errors $5, proxy CPU $cpu %"
	}
	if ! running "$PROXY_PID"; then
		log "$mode/$name exited during the runs (see logs/$mode-$name.log)"
	fi
	stop_pid "$PROXY_PID"
}

# ---------------------------------------------------------------- report

# report prints the markdown table (medians over runs, ratios) to stdout and
# table.md.
report() {
	local out=$RESULTS_DIR/table.md
	awk -F'\t' -v modes="$MODES" -v only="$ONLY" -v conns="$CONNS" -v runs="$RUNS" \
		-v dur="$DURATION" -v loadwarn="$LOAD_WARN" -v skipped="$RESULTS_DIR/skipped.tsv" '
		function median(list,    a, n, i, j, t) {
			n = split(list, a, " ")
			for (i = 2; i <= n; i++) {           # insertion sort, n is tiny
				t = a[i] + 0
				for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
				a[j + 1] = t
			}
			if (n == 0) return ""
			return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		function ratio(x, y) { return (x == "" || y == "" || y + 0 == 0) ? "–" : sprintf("%.2f×", x / y) }
		function fmt(x, f) { return (x == "") ? "–" : sprintf(f, x) }
		{
			k = $1 SUBSEP $2
			if ($4 != "NA") { rps[k] = rps[k] " " $4; lo[k] = (k in lo && lo[k] < $4) ? lo[k] : $4; hi[k] = (k in hi && hi[k] > $4) ? hi[k] : $4 }
			if ($5 != "NA") p50[k] = p50[k] " " $5
			if ($6 != "NA") p99[k] = p99[k] " " $6
			err[k] += $7 + $8
			cpu[k] = cpu[k] " " $9
			if ($10 + 0 > maxload[k] + 0) maxload[k] = $10
			if ($4 != "NA") round[k SUBSEP $3] = $4
			n[k]++
		}
		END {
			while ((getline line < skipped) > 0) {
				split(line, f, "\t"); skip[f[1] SUBSEP f[2]] = f[3]
			}
			nm = split(modes, M, " "); np = split(only, P, " ")
			printf "Medians of %s × %s runs, wrk -t1 -c%s; ratios: req/s ÷ reference (higher is better), p99 ÷ reference (lower is better).\n", runs, dur, conns
			for (i = 1; i <= nm; i++) {
				m = M[i]
				printf "\n### %s\n\n", (m == "tls" ? "TLS (HTTPS, HTTP/1.1 keep-alive)" : "plaintext (HTTP/1.1 keep-alive)")
				print "| proxy | req/s | spread | p50 ms | p99 ms | req/s vs bareproxy | per round vs bareproxy | req/s vs nginx | p99 vs bareproxy | p99 vs nginx | proxy CPU | errors |"
				print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
				bR = median(rps[m SUBSEP "bareproxy"]); bP = median(p99[m SUBSEP "bareproxy"])
				nR = median(rps[m SUBSEP "nginx"]);     nP = median(p99[m SUBSEP "nginx"])
				for (j = 1; j <= np; j++) {
					p = P[j]; k = m SUBSEP p
					if (k in skip) { printf "| %s | %s | | | | | | | | | | |\n", p, skip[k]; continue }
					if (!(k in n)) continue
					r = median(rps[k]); q = median(p99[k])
					spread = (r == "" || r + 0 == 0) ? "–" : sprintf("±%.1f%%", 50 * (hi[k] - lo[k]) / r)
					# Per round: this proxy against the bare proxy of the same
					# round (they ran minutes apart, not a whole run apart), so
					# drift of the machine over the run cancels out.
					pr = ""; plo = ""; phi = ""
					for (x = 1; x <= runs; x++) {
						kb = m SUBSEP "bareproxy" SUBSEP x
						if (!((k SUBSEP x) in round) || !(kb in round) || round[kb] + 0 == 0) continue
						v = round[k SUBSEP x] / round[kb]; pr = pr " " v
						if (plo == "" || v < plo) plo = v
						if (phi == "" || v > phi) phi = v
					}
					perround = (pr == "") ? "–" : sprintf("%.2f× (%.2f–%.2f)", median(pr), plo, phi)
					printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", p, fmt(r, "%.0f"), spread,
						fmt(median(p50[k]), "%.2f"), fmt(q, "%.2f"), ratio(r, bR), perround, ratio(r, nR), ratio(q, bP), ratio(q, nP),
						fmt(median(cpu[k]), "%.0f%%"), err[k]
					if (maxload[k] + 0 > loadwarn + 0) busy = busy sprintf(" %s/%s (%s)", m, p, maxload[k])
				}
			}
			if (busy != "")
				printf "\nWarning: other work competed for the CPUs (1-minute load average above %s) during:%s. Treat those rows as noise and rerun on a quiet machine.\n", loadwarn, busy
		}' "$RESULTS_DIR/summary.tsv" | tee "$out"
}

# ---------------------------------------------------------------- main

main() {
	validate_knobs
	ensure_tools
	wants nginx && { find_nginx || die "nginx not found"; }

	local ncpu
	ncpu=$(nproc)
	if ((ncpu < 2)); then
		log "warning: only $ncpu CPU available; proxy and load generator share CPU $PROXY_CPU"
		LOAD_CPU=$PROXY_CPU
	fi
	taskset -c "$PROXY_CPU" true 2>/dev/null || die "PROXY_CPU=$PROXY_CPU is not usable here"
	taskset -c "$LOAD_CPU" true 2>/dev/null || die "LOAD_CPU=$LOAD_CPU is not usable here"

	mkdir -p "$RESULTS_DIR/logs" "$RESULTS_DIR/raw"
	RESULTS_DIR=$(cd "$RESULTS_DIR" && pwd)
	BIN=$RESULTS_DIR/bin
	: >"$RESULTS_DIR/summary.tsv"
	: >"$RESULTS_DIR/skipped.tsv"
	log "results in $RESULTS_DIR"

	build
	gen_cert
	write_env
	start_upstream

	local mode name i
	for mode in $MODES; do
		for name in rampart rampart-jwt rampart-jwt-cold rampart-validate; do
			if wants "$name" && [[ -n $SKIP_REASON_rampart ]]; then
				printf '%s\t%s\tskipped: %s\n' "$mode" "$name" "$SKIP_REASON_rampart" >>"$RESULTS_DIR/skipped.tsv"
			fi
		done
		for ((i = 1; i <= RUNS; i++)); do
			for name in $ONLY; do
				[[ $name == rampart* && -n $SKIP_REASON_rampart ]] && continue
				run_case "$mode" "$name" "$i"
			done
		done
	done

	stop_pid "$UPSTREAM_PID"
	echo
	report
	log "raw wrk output, logs and table.md are in $RESULTS_DIR"
}

main "$@"
