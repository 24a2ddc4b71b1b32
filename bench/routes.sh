#!/usr/bin/env bash
# HTTP route benchmark: wrk with 16 keep-alive connections against one nginx serving a small file, measured three ways
# in one run: direct, through a local nginx proxy_pass, and through a Splitstream HTTP route (exit + agent on
# loopback, X-Token). Prints requests/s, p50/p99 latency and the ratios to direct. Target: route >= 0.25x direct.
# Bounded: about two minutes. Not a test: numbers depend on the machine and its load. Also prints what the agent was
# told (ROUTE_LOG reports sent and left out, request lines logged).
#
# The three are measured in BENCH_ROUNDS rounds (direct, proxy_pass, route, then again), not once each: on a 2-core
# machine direct nginx alone moved 31,500-45,400 req/s between runs minutes apart, so a ratio of figures taken a minute
# apart said as much about the machine as about the route. Each round's ratios compare figures taken seconds apart; the
# verdict is the median of the rounds' route/direct ratios. What is measured is what it was with one round (the same
# wrk, 16 connections, 1 KiB, BENCH_SECONDS per run, the same BENCH_WARMUP on the route before the first round); only
# when changed.
#
#   bench/routes.sh                      # BENCH_SECONDS=8 per run, BENCH_ROUNDS=3, BENCH_CONNECTIONS=16,
#                                        # BENCH_WARMUP=10 (route, s, before the first round)
#   BENCH_JFR_DIR=/tmp/jfr bench/routes.sh   # a JFR profile of each node (exit.jfr, agent.jfr)
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"

SECONDS_PER_RUN=${BENCH_SECONDS:-8}
ROUNDS=${BENCH_ROUNDS:-3}
[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || { echo "BENCH_ROUNDS is 1-99, not '$ROUNDS'" >&2; exit 2; }
CONNS=${BENCH_CONNECTIONS:-16}
WARMUP=${BENCH_WARMUP:-10}
. "$ROOT/scripts/jvm-opts.sh"
JAVA_NODE_OPTS=${BENCH_JAVA_OPTS:-$SPLITSTREAM_JAVA_OPTS}
EXIT_JAR=exit-node/target/quarkus-app/quarkus-run.jar
ENTRY_JAR=entry-node/target/quarkus-app/quarkus-run.jar
jfr() { [ -z "${BENCH_JFR_DIR:-}" ] || echo "-XX:StartFlightRecording=settings=profile,dumponexit=true,filename=$BENCH_JFR_DIR/$1.jfr"; }
[ -z "${BENCH_JFR_DIR:-}" ] || mkdir -p "$BENCH_JFR_DIR"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
for tool in java wrk nginx curl; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || die "$tool is needed (scripts/install-test-deps.sh)"
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -f "$EXIT_JAR" ] || [ ! -f "$ENTRY_JAR" ]; then
  log "building the nodes (./mvnw -B -q package -DskipTests) ..."
  ./mvnw -B -q package -DskipTests -pl exit-node,entry-node -am >&2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/splitstream-routes-bench.XXXXXX")
PIDS=()
cleanup() {
  set +e
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[$i]}" 2>/dev/null; done
  sleep 0.5
  # a node writing its JFR recording on exit gets up to 20 s for it
  if [ -n "${BENCH_JFR_DIR:-}" ]; then
    for _ in $(seq 1 100); do
      alive=0
      for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ $alive = 0 ] && break
      sleep 0.2
    done
  fi
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((10000 + RANDOM % (EPHEMERAL_LOW > 12000 ? EPHEMERAL_LOW - 10000 : 20000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  die "no free port"
}
wait_for() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    if [ $SECONDS -ge $deadline ]; then log "timed out after ${limit}s waiting for $what"; return 1; fi
    sleep 0.2
  done
}
ready() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/q/health/ready" 2>/dev/null; }

BACKEND=$(free_port)
PROXY=$(free_port)
EXIT_HTTP=$(free_port)
EXIT_MGMT=$(free_port)
AGENT_MGMT=$(free_port)
TOKEN=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
ROUTE=route-$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
mkdir -p "$WORK/www" "$WORK/nginx"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
chmod -R a+rX "$WORK" # nginx workers run as nobody when the bench runs as root
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  upstream backend { server 127.0.0.1:$BACKEND; keepalive 32; }
  server { listen 127.0.0.1:$BACKEND; root $WORK/www; }
  server {
    listen 127.0.0.1:$PROXY;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
"$NGINX" -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
PIDS+=($!)

log "exit :$EXIT_HTTP, agent exposing nginx :$BACKEND as an HTTP service"
# shellcheck disable=SC2086
SPLITSTREAM_TOKEN=$TOKEN java $JAVA_NODE_OPTS $(jfr exit) -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$EXIT_HTTP" \
  -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$EXIT_MGMT" \
  -jar "$EXIT_JAR" >"$WORK/exit.log" 2>&1 &
PIDS+=($!)
wait_for 60 "the exit" ready "$EXIT_MGMT" || { tail -n 30 "$WORK/exit.log" >&2; die "exit not ready"; }
# shellcheck disable=SC2086
SPLITSTREAM_TOKEN=$TOKEN SPLITSTREAM_ENTRY_ROUTE_TOKEN=$ROUTE java $JAVA_NODE_OPTS $(jfr agent) -Dquarkus.management.host=127.0.0.1 \
  -Dquarkus.management.port="$AGENT_MGMT" -Dsplitstream.entry.server="ws://127.0.0.1:$EXIT_HTTP" \
  -Dsplitstream.entry.transport=websocket -Dsplitstream.entry.state-file="$WORK/transports.json" \
  -Dsplitstream.entry.expose="web=http://127.0.0.1:$BACKEND" -jar "$ENTRY_JAR" >"$WORK/agent.log" 2>&1 &
PIDS+=($!)
wait_for 60 "the agent's HTTP service" grep -q "exposing web" "$WORK/agent.log" ||
  { tail -n 30 "$WORK/agent.log" >&2; die "agent did not expose"; }
curl -fsS -o /dev/null -H "X-Token: $ROUTE" "http://127.0.0.1:$EXIT_HTTP/1k.bin" || die "the route does not answer"

# run_wrk NAME URL [header]: prints "req_per_s p50_ms p99_ms errors"
run_wrk() {
  local out
  if [ -n "${3:-}" ]; then
    out=$(wrk -t2 -c"$CONNS" -d"${SECONDS_PER_RUN}s" --latency -H "$3" "$2")
  else
    out=$(wrk -t2 -c"$CONNS" -d"${SECONDS_PER_RUN}s" --latency "$2")
  fi
  echo "$out" >"$WORK/wrk-$1.txt"
  local rps p50 p99 errs
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errs=$(awk '/Non-2xx|Socket errors/ {printf "%s ", $0}' <<<"$out")
  printf '%s %s %s %s\n' "$rps" "$p50" "$p99" "${errs:-none}"
}

# The nodes' JIT needs several seconds of full load before the route path is compiled: with 3 s of warm-up on a loaded
# machine (load ~30, during a soak) the route measured 196 req/s where a warmer pair of the same build did 2,000-4,600.
log "warm-up (${WARMUP}s)"
wrk -t2 -c"$CONNS" -d"${WARMUP}s" -H "X-Token: $ROUTE" "http://127.0.0.1:$EXIT_HTTP/1k.bin" >/dev/null

# One round: direct, proxy_pass, route, SECONDS_PER_RUN each, in that order. R[name] keeps every round's line.
declare -A R
RATIOS=() NGINX_RATIOS=()
for round in $(seq 1 "$ROUNDS"); do
  declare -A THIS=()
  for name in direct nginx route; do
    case $name in
      direct) THIS[$name]=$(run_wrk "direct-$round" "http://127.0.0.1:$BACKEND/1k.bin") ;;
      nginx) THIS[$name]=$(run_wrk "nginx-$round" "http://127.0.0.1:$PROXY/1k.bin") ;;
      route) THIS[$name]=$(run_wrk "route-$round" "http://127.0.0.1:$EXIT_HTTP/1k.bin" "X-Token: $ROUTE") ;;
    esac
    R[$name]+="${THIS[$name]}"$'\n'
  done
  read -r d _ <<<"${THIS[direct]}"
  read -r n _ <<<"${THIS[nginx]}"
  read -r r _ <<<"${THIS[route]}"
  RATIOS+=("$(awk -v a="$r" -v b="$d" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')")
  NGINX_RATIOS+=("$(awk -v a="$r" -v b="$n" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')")
  log "round $round: direct ${THIS[direct]} | nginx ${THIS[nginx]} | route ${THIS[route]} | route/direct ${RATIOS[-1]}"
done

# median of the numbers on stdin (the mean of the middle two when their count is even)
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR == 0 ? 0 : NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

printf '\nHTTP GET of 1 KiB, %d keep-alive connections, %ds each, %d rounds of direct, proxy_pass, route (wrk)\n' \
  "$CONNS" "$SECONDS_PER_RUN" "$ROUNDS"
printf '%-6s %-28s %12s %10s %10s %8s  %s\n' round path req/s p50 p99 x-direct errors
for round in $(seq 1 "$ROUNDS"); do
  direct_rps=$(sed -n "${round}p" <<<"${R[direct]}" | cut -d' ' -f1)
  for name in direct nginx route; do
    read -r rps p50 p99 errs <<<"$(sed -n "${round}p" <<<"${R[$name]}")"
    ratio=$(awk -v a="$rps" -v b="$direct_rps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    label=$name
    [ "$name" = nginx ] && label="nginx proxy_pass"
    [ "$name" = route ] && label="splitstream route (X-Token)"
    printf '%-6s %-28s %12s %10s %10s %8s  %s\n' "$round" "$label" "$rps" "$p50" "$p99" "${ratio}x" "$errs"
  done
done
printf '\nmedians of %d rounds: direct %s, nginx proxy_pass %s, route %s req/s; route / proxy_pass %s\n' "$ROUNDS" \
  "$(cut -d' ' -f1 <<<"${R[direct]}" | grep . | median)" "$(cut -d' ' -f1 <<<"${R[nginx]}" | grep . | median)" \
  "$(cut -d' ' -f1 <<<"${R[route]}" | grep . | median)" "$(printf '%s\n' "${NGINX_RATIOS[@]}" | median)"
ratio=$(printf '%s\n' "${RATIOS[@]}" | median)
awk -v r="$ratio" -v all="${RATIOS[*]}" 'BEGIN { printf "route / direct = %.3f, the median of the rounds'"'"' ratios (%s) (target >= 0.25): %s\n", r, all, (r >= 0.25 ? "met" : "NOT met") }'

# What the agent was told about those requests (ROUTE_LOGS batches): at most 20,000 reports a second per session, none while the
# tunnel is busy; the rest are counted as left out on both nodes, never queued.
reports=$(curl -fsS --max-time 5 "http://127.0.0.1:$EXIT_MGMT/q/metrics" |
  awk '/^splitstream_exit_route_reports_total\{/ { match($0, /outcome="[a-z_]+"/); printf "%s=%d ", substr($0, RSTART + 9, RLENGTH - 10), $NF }')
unreported=$(curl -fsS --max-time 5 "http://127.0.0.1:$AGENT_MGMT/q/metrics" |
  awk '/^splitstream_entry_route_unreported_total/ { printf "%d", $NF }')
lines=$(grep -c '\[web\] GET /1k.bin 200' "$WORK/agent.log" || true)
printf 'reports to the agent: %s| agent request lines: %s, unreported at the agent: %s\n' \
  "$reports" "$lines" "${unreported:-?}"
