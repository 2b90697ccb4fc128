#!/usr/bin/env bash
# Benchmark scenarios of the bundled load tool (`make bench`).
#
# Usage: bench/scenarios.sh [RESULTS_DIR]        (default: bench/results)
#
# Builds portcullis and the go-sdk reference server, starts the upstreams on
# loopback ports, and runs each scenario for BENCH_DURATION. Every scenario
# writes NAME.txt (the summary), NAME.json and NAME.html into RESULTS_DIR, and
# results.md collects the summaries with a description of the machine.
#
# Environment:
#   BENCH_DURATION     measured time per scenario (default 10s)
#   BENCH_COMPARE_DURATION  measured time of compare runs, shared by both sides (default 20s)
#   BENCH_CONCURRENCY  closed-loop workers (default 32)
#   BENCH_RATE         open-loop rate against the echo server (default 20000)
#   BENCH_SESSIONS     idle sessions opened on the gateway to measure memory per session (default 2000)
#   BENCH_GATEWAY      set to 0 to skip the scenarios that start `portcullis serve`
#   BENCH_ONLY         run only the scenarios whose names match this bash regex (e.g. hot-swap)
#   PORTCULLIS_BIN     use this binary instead of building ./cmd/portcullis
#   BENCH_SWAP_INTERVAL  pause between two plugin swaps in gateway-hot-swap (default 0.1 s)
#   BENCH_PORT_BASE    first of the seven loopback ports used (default 19100)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/bench/results}
duration=${BENCH_DURATION:-10s}
compare_duration=${BENCH_COMPARE_DURATION:-20s}
concurrency=${BENCH_CONCURRENCY:-32}
rate=${BENCH_RATE:-20000}
idle_sessions=${BENCH_SESSIONS:-2000}
base=${BENCH_PORT_BASE:-19100}
echo_addr=127.0.0.1:$base
sdk_addr=127.0.0.1:$((base + 1))
gw_addr=127.0.0.1:$((base + 2))
guarded_addr=127.0.0.1:$((base + 3))
builtin_addr=127.0.0.1:$((base + 4))
hotswap_addr=127.0.0.1:$((base + 5))
hotswap_admin=127.0.0.1:$((base + 6))
swap_interval=${BENCH_SWAP_INTERVAL:-0.1}

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
	# Newest first, so the gateway goes before its upstreams.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

log() { printf '== %s\n' "$*" >&2; }

cd "$root"
bin=${PORTCULLIS_BIN:-}
if [[ -z $bin ]]; then
	log "building portcullis and sdk-echo"
	go build -o "$work/portcullis" ./cmd/portcullis
	bin=$work/portcullis
fi
go build -o "$work/sdk-echo" ./bench/internal/sdkecho/sdk-echo
if ! "$bin" bench --help >/dev/null 2>&1; then
	echo "scenarios: '$bin bench' does not run the load tool" >&2
	exit 1
fi

# wait_port ADDR: until something accepts connections there (10 s at most).
wait_port() {
	local host=${1%:*} port=${1##*:}
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "scenarios: nothing listens on $1" >&2
	return 1
}

# rss_kib PID: resident memory of a process.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

{
	echo "# Benchmark results"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) memory"
	echo "- load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- $(go version)"
	echo "- load generator, servers and gateway share the machine"
} >"$out/results.md"

# selected NAME: whether BENCH_ONLY lets scenario NAME run.
selected() { [[ -z ${BENCH_ONLY:-} || $1 =~ $BENCH_ONLY ]]; }

# scenario NAME DESCRIPTION ARGS...: one run of the load tool.
scenario() {
	local name=$1 what=$2
	shift 2
	if ! selected "$name"; then
		log "$name: skipped (BENCH_ONLY=$BENCH_ONLY)"
		return 0
	fi
	log "$name: $what"
	local status=0
	"$bin" bench "$@" --json "$out/$name.json" --plot "$out/$name.html" >"$out/$name.txt" || status=$?
	cat "$out/$name.txt"
	{
		echo
		echo "## $name"
		echo
		echo "$what"
		echo
		echo '```'
		echo "portcullis bench $*"
		echo
		cat "$out/$name.txt"
		echo '```'
	} >>"$out/results.md"
	return "$status"
}

"$bin" bench echo --listen "$echo_addr" >/dev/null &
pids+=($!)
"$work/sdk-echo" --listen "$sdk_addr" 2>/dev/null &
pids+=($!)
wait_port "$echo_addr"
wait_port "$sdk_addr"

args=(--tool echo --args '{"message":"hello"}')
scenario echo-closed "The built-in echo server directly, closed loop: the load tool's ceiling on this machine." \
	--url "http://$echo_addr/mcp" "${args[@]}" --duration "$duration" --concurrency "$concurrency"
scenario echo-open "The echo server directly, open loop at a fixed rate: latency counted from the intended send time." \
	--url "http://$echo_addr/mcp" "${args[@]}" --duration "$duration" --rate "$rate" --concurrency 64
scenario sdk-closed "The go-sdk reference server (Streamable HTTP, sessions, event-stream answers) directly." \
	--url "http://$sdk_addr/mcp" "${args[@]}" --duration "$duration" --concurrency "$concurrency"
scenario sdk-legacy-sse "The go-sdk reference server over the 2024-11-05 HTTP+SSE transport." \
	--url "http://$sdk_addr/sse" --transport sse "${args[@]}" --duration "$duration" --concurrency "$concurrency"

if [[ ${BENCH_GATEWAY:-1} == 0 ]]; then
	log "BENCH_GATEWAY=0: gateway scenarios skipped"
	exit 0
fi

cat >"$work/gateway.yaml" <<YAML
listen: $gw_addr
data_dir: $work/gateway-data
servers:
  - name: echo
    url: http://$echo_addr/mcp
YAML
"$bin" serve --config "$work/gateway.yaml" --log-level warn 2>"$out/gateway.log" &
gw_pid=$!
pids+=("$gw_pid")
wait_port "$gw_addr"

# First on the fresh gateway, so that no earlier load has grown its heap.
if selected gateway-idle-sessions; then
	log "gateway-idle-sessions: $idle_sessions idle sessions"
	before=$(rss_kib "$gw_pid")
	"$bin" bench --url "http://$gw_addr/mcp" --tool echo__echo --sessions "$idle_sessions" --concurrency 1 \
		--rate 10 --duration 6s --warmup 0s >"$work/idle.txt" &
	idle_pid=$!
	sleep 4
	during=$(rss_kib "$gw_pid")
	wait "$idle_pid" || true
	per_session=$(( (during - before) * 1024 / idle_sessions ))
	{
		echo
		echo "## gateway-idle-sessions"
		echo
		echo "Resident memory of a freshly started gateway with $idle_sessions idle sessions open (one in use at 10 requests/s):"
		echo "$before KiB before, $during KiB during: about $per_session bytes per session."
		echo "Sessions opened by the load tool: $(awk '$1 == "sessions" {print $2}' "$work/idle.txt")."
	} | tee -a "$out/results.md"
fi

scenario gateway-compare "The echo server directly (A) and through the gateway with no plugins (B), in alternating 1 s slices." \
	--url "http://$echo_addr/mcp" --label direct "${args[@]}" \
	--compare "http://$gw_addr/mcp" --compare-label gateway --compare-tool echo__echo \
	--duration "$compare_duration" --concurrency "$concurrency"

# A second gateway with three trivial native guards bound on both directions, so the run shows
# what the plugin path itself costs.
if selected gateway-three-guards; then
	cat >"$work/guarded.yaml" <<-YAML
	listen: $guarded_addr
	data_dir: $work/guarded-data
	servers:
	  - name: echo
	    url: http://$echo_addr/mcp
	plugins:
	  - {name: allow, version: 1.0.0, path: $root/host/plugin/testdata/allow.wasm, hooks: [request_guard, response_guard]}
	bindings:
	  - {name: guard-1, plugin: allow, config: {n: 1}}
	  - {name: guard-2, plugin: allow, config: {n: 2}}
	  - {name: guard-3, plugin: allow, config: {n: 3}}
	YAML
	"$bin" serve --config "$work/guarded.yaml" --log-level warn 2>"$out/guarded.log" &
	pids+=($!)
	wait_port "$guarded_addr"
	scenario gateway-three-guards "The gateway with no plugins (A) and a gateway with three Wasm guards bound on both directions (B), in alternating 1 s slices." \
		--url "http://$gw_addr/mcp" --label no-plugins --tool echo__echo --args '{"message":"hello"}' \
		--compare "http://$guarded_addr/mcp" --compare-label three-guards --compare-tool echo__echo \
		--duration "$compare_duration" --concurrency "$concurrency"
fi

# A third gateway with the six built-in guards bound to every call, with their default rules:
# what turning all of them on costs on calls they let through.
if selected gateway-builtin-guards; then
	cat >"$work/builtin.yaml" <<-YAML
	listen: $builtin_addr
	data_dir: $work/builtin-data
	servers:
	  - name: echo
	    url: http://$echo_addr/mcp
	bindings:
	  - {name: secrets, plugin: secrets}
	  - {name: pii, plugin: pii}
	  - {name: tool-policy, plugin: tool-policy}
	  - {name: path-guard, plugin: path-guard}
	  - {name: ssrf, plugin: ssrf}
	  - {name: prompt-injection, plugin: prompt-injection}
	YAML
	"$bin" serve --config "$work/builtin.yaml" --log-level warn 2>"$out/builtin.log" &
	pids+=($!)
	wait_port "$builtin_addr"
	scenario gateway-builtin-guards "The gateway with no plugins (A) and a gateway with the six built-in guards bound (B), in alternating 1 s slices." \
		--url "http://$gw_addr/mcp" --label no-plugins --tool echo__echo --args '{"message":"hello from the load tool"}' \
		--compare "http://$builtin_addr/mcp" --compare-label builtin-guards --compare-tool echo__echo \
		--duration "$compare_duration" --concurrency "$concurrency"
fi

# A fourth gateway with the admin API: steady load while a loop swaps the version of a guard
# bound to every call, through the CLI as an operator would: two versions pushed once (two
# trivial native guards, different modules), then bind 1.1.0 and roll back to 1.0.0, over and
# over, every BENCH_SWAP_INTERVAL, for the whole run. No request may fail.
if selected gateway-hot-swap; then
	export PORTCULLIS_ADMIN_TOKEN=bench-admin-token-$RANDOM$RANDOM$RANDOM
	export PORTCULLIS_ADMIN_URL=http://$hotswap_admin
	cat >"$work/hotswap.yaml" <<-YAML
	listen: $hotswap_addr
	data_dir: $work/hotswap-data
	servers:
	  - name: echo
	    url: http://$echo_addr/mcp
	admin:
	  listen: $hotswap_admin
	  token: \${PORTCULLIS_ADMIN_TOKEN}
	YAML
	"$bin" serve --config "$work/hotswap.yaml" --log-level warn 2>"$out/hotswap.log" &
	hotswap_pid=$!
	pids+=("$hotswap_pid")
	wait_port "$hotswap_addr"
	wait_port "$hotswap_admin"
	for v in 1.0.0:allow 1.1.0:script; do
		printf '{"name":"hot-swap","version":"%s","hooks":["request_guard","response_guard"],"timeout_ms":1000}\n' "${v%:*}" >"$work/hot-swap.json"
		"$bin" plugin push "$root/host/plugin/testdata/${v#*:}.wasm" --manifest "$work/hot-swap.json" >&2
	done
	"$bin" plugin bind hot-swap@1.0.0 >&2

	# swap_loop: until $work/swap.stop exists; writes "swaps failed" to $work/swap.count.
	swap_loop() {
		local swaps=0 failed=0 cmd
		while [[ ! -e $work/swap.stop ]]; do
			if ((swaps % 2 == 0)); then cmd=(bind hot-swap@1.1.0); else cmd=(rollback hot-swap); fi
			if "$bin" plugin "${cmd[@]}" >/dev/null 2>>"$out/hotswap-swaps.log"; then
				swaps=$((swaps + 1))
			else
				failed=$((failed + 1))
			fi
			sleep "$swap_interval"
		done
		echo "$swaps $failed" >"$work/swap.count"
	}
	rss_before=$(rss_kib "$hotswap_pid")
	swap_loop &
	swap_pid=$!
	swap_start=$(date +%s%N)
	status=0
	scenario gateway-hot-swap "The gateway with the admin API under steady load while the guard bound to every call is swapped between two versions (bind, rollback) through the CLI every ${swap_interval}s." \
		--url "http://$hotswap_addr/mcp" --tool echo__echo --args '{"message":"hello"}' \
		--duration "$duration" --concurrency "$concurrency" || status=$?
	touch "$work/swap.stop"
	wait "$swap_pid"
	swap_ms=$((($(date +%s%N) - swap_start) / 1000000))
	read -r swaps swap_failed <"$work/swap.count"
	requests=$(awk '$1 == "requests" {gsub(",", "", $2); print $2}' "$out/gateway-hot-swap.txt")
	errors=$(awk '$1 == "errors" {gsub(",", "", $2); print $2}' "$out/gateway-hot-swap.txt")
	final=$("$bin" plugin list | awk '$1 == "hot-swap" && $2 ~ /^hot-swap@/ {print $2}')
	rss_after=$(rss_kib "$hotswap_pid")
	{
		echo
		echo "Swaps: $swaps in $(awk -v ms="$swap_ms" 'BEGIN {printf "%.1f", ms / 1000}') s (the load tool's warm-up, measured window and grace period), $swap_failed failed;"
		echo "measured requests: $requests, failed requests: $errors; bound at the end: $final;"
		echo "gateway resident memory $rss_before KiB before the run, $rss_after KiB after."
	} | tee -a "$out/results.md"
	if [[ $errors != 0 || $swap_failed != 0 || $swaps == 0 || $status != 0 ]]; then
		echo "scenarios: gateway-hot-swap failed: $errors failed requests, $swaps swaps ($swap_failed failed); see $out/hotswap-swaps.log and $out/hotswap.log" >&2
		exit 1
	fi
fi

log "results in $out"
