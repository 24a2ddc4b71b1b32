#!/usr/bin/env bash
# Tunnel benchmark: a Splitstream exit + entry on loopback (WebSocket, default settings unless told otherwise) against
# direct TCP and against two chained plain Java relays (the floor for two JVM hops), all measured in the same run:
#   bulk upload with 1 and 8 connections, incompressible and compressible (text-like) payloads, and bulk download
#   (the target sends: the exit seals, the entry opens) with 1 connection, both payloads;
#   1-byte ping-pong p50/p99, alone and while 8 connections upload through the same path (a shell behind a copy:
#   through the relays each connection has its own sockets, through a tunnel the ping shares the session's queues);
#   pgbench -S -c 1 and -c 4 -j 2 (a throwaway PostgreSQL);  redis-benchmark;
#   one stream over a 100 ms round-trip path (a delaying relay that also limits bytes in flight like a TCP window),
#   incompressible and compressible (there deflate should win: compressed frames carry more per round trip);
#   the plain-HTTP transport with 8 connections;  CPU seconds per GB and peak RSS (VmHWM) of both nodes.
# Each measurement runs BENCH_RUNS times, interleaved between the paths; the tables print medians and ratios.
# Not a test: numbers depend on the machine and its load (the load average is printed).
#
#   bench/tunnel.sh              # full: 3 runs of each, about 10 minutes
#   bench/tunnel.sh --quick      # 1 run of each, shorter runs, no idle-connection row: about 3 minutes
#   BENCH_WARMUP_CPU=5 bench/tunnel.sh   # CPU-s of both nodes spent on warm-up load before the first row (default
#                                        # 60, --quick 20), within BENCH_WARMUP_MAX s (150, --quick 40): the JIT's
#                                        # steady state; each pass's MiB/s is printed, the first one cold
#   BENCH_NODE_ARGS='-Dsplitstream.compression=off' bench/tunnel.sh   # extra -D flags for both nodes
#   BENCH_NODE_ARGS='-Dsplitstream.encryption=off' bench/tunnel.sh --quick  # frame protection off on both nodes: its
#                                                     # cost is the difference to a run with the default (on)
#   BENCH_JAVA_OPTS='-Xmx256m' bench/tunnel.sh                        # replaces the shipped JVM flags
#   BENCH_TRANSPORTS=http,websocket-split,http-split bench/tunnel.sh  # transport rows (default: http)
#   BENCH_ONLY=bulk,ping bench/tunnel.sh --quick       # only some parts: bulk,ping,pg,redis,idle,wan,transports,
#                                                     # protection,expose
#   BENCH_EXPOSE=0 bench/tunnel.sh                      # skips the public-port (expose) vs forward rows
#   BENCH_EXPOSE_WARMUP=20 bench/tunnel.sh              # s of warm-up of the expose pair (default 10, --quick 4);
#                                                     # then the pair that used less CPU (the forward pair carried the
#                                                     # rows before, the expose pair is fresh) carries load until both
#                                                     # used as much, within BENCH_EXPOSE_WARMUP_MAX s (180, --quick 30)
#   BENCH_TRANSPORT_WARMUP_MAX=60 bench/tunnel.sh       # each transport row's fresh entry carries bulk load (2 s of
#                                                     # 2 connections at a time) until it has used as much CPU as the
#                                                     # main entry had when its rows started, within this many s
#                                                     # (default 120, --quick 30)
#   BENCH_NODES_DIR=/tmp/base bench/tunnel.sh --quick  # the nodes built in another checkout (A/B comparisons)
#   BENCH_JFR_DIR=/tmp/jfr bench/tunnel.sh --quick   # a JFR profile of each node (exit.jfr, entry-main.jfr, ...)
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"

QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
if [ $QUICK = 1 ]; then
  RUNS=${BENCH_RUNS:-1}; SECONDS_PER_RUN=${BENCH_SECONDS:-2}; PG_SECONDS=${BENCH_PG_SECONDS:-3}
  PINGS=${BENCH_PINGS:-2000}; PB_SECONDS=${BENCH_PB_SECONDS:-2}; IDLE=${BENCH_IDLE:-0}; REDIS_N=${BENCH_REDIS_N:-20000}; WAN_SECONDS=${BENCH_WAN_SECONDS:-6}
else
  RUNS=${BENCH_RUNS:-3}; SECONDS_PER_RUN=${BENCH_SECONDS:-3}; PG_SECONDS=${BENCH_PG_SECONDS:-5}
  PINGS=${BENCH_PINGS:-3000}; PB_SECONDS=${BENCH_PB_SECONDS:-3}; IDLE=${BENCH_IDLE:-1000}; REDIS_N=${BENCH_REDIS_N:-50000}; WAN_SECONDS=${BENCH_WAN_SECONDS:-8}
fi
WARMUP_CPU=${BENCH_WARMUP_CPU:-$([ $QUICK = 1 ] && echo 20 || echo 60)} # CPU-s of both nodes before the first row
WARMUP_MAX=${BENCH_WARMUP_MAX:-$([ $QUICK = 1 ] && echo 40 || echo 150)} # s at most of that warm-up
EXPOSE_WARMUP=${BENCH_EXPOSE_WARMUP:-$([ $QUICK = 1 ] && echo 4 || echo 10)} # s of warm-up for the fresh expose pair
EXPOSE_WARMUP_MAX=${BENCH_EXPOSE_WARMUP_MAX:-$([ $QUICK = 1 ] && echo 30 || echo 180)} # s at most to even the pairs' CPU
TRANSPORT_WARMUP_MAX=${BENCH_TRANSPORT_WARMUP_MAX:-$([ $QUICK = 1 ] && echo 30 || echo 120)} # s at most to warm a transport entry
DELAY=${BENCH_DELAY_MS:-50}                  # each way: 100 ms round trip
PATH_WINDOW=${BENCH_PATH_WINDOW:-6291456}    # bytes in flight on the long path: Linux's tcp_rmem maximum (6 MiB)
ONLY=${BENCH_ONLY:-bulk,ping,pg,redis,idle,wan,transports,protection,expose}
[ "${BENCH_EXPOSE:-1}" = 0 ] && ONLY=${ONLY//expose/} # BENCH_EXPOSE=0: no expose rows
want() { [[ ",$ONLY," == *",$1,"* ]]; }
want idle || IDLE=0
TRANSPORTS=${BENCH_TRANSPORTS-http}
want transports || TRANSPORTS=
NODE_ARGS=${BENCH_NODE_ARGS:-}
. "$ROOT/scripts/jvm-opts.sh"
JAVA_NODE_OPTS=${BENCH_JAVA_OPTS:-$SPLITSTREAM_JAVA_OPTS}
RELAY_OPTS="-Xmx64m -XX:+UseSerialGC"
NODES=${BENCH_NODES_DIR:-$ROOT}   # another checkout's built nodes, for an A/B comparison
EXIT_JAR=$NODES/exit-node/target/quarkus-app/quarkus-run.jar
ENTRY_JAR=$NODES/entry-node/target/quarkus-app/quarkus-run.jar
HZ=$(getconf CLK_TCK)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
for tool in java javac curl pgbench redis-server redis-benchmark; do
  command -v "$tool" >/dev/null || die "$tool is needed (scripts/install-test-deps.sh)"
done
[ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] || die "PostgreSQL server binaries are needed (scripts/install-test-deps.sh)"

if [ "$NODES" = "$ROOT" ] && { [ ! -f "$EXIT_JAR" ] || [ ! -f "$ENTRY_JAR" ]; }; then
  log "building the nodes (./mvnw -B -q package -DskipTests) ..."
  ./mvnw -B -q package -DskipTests -pl exit-node,entry-node -am >&2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/splitstream-bench.XXXXXX")
chmod 755 "$WORK"
PIDS=()
PG_STARTED=0
AS_PG=()
cleanup() {
  set +e
  if [ $PG_STARTED = 1 ]; then "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m immediate -w stop >/dev/null 2>&1; fi
  for fd in "${HOLD_FDS[@]}"; do eval "exec $fd>&-" 2>/dev/null; done
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[$i]}" 2>/dev/null; done
  sleep 0.5
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$WORK"
}
HOLD_FDS=()
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -gt $((IDLE * 3 + 200)) ] || die "open files limit $(ulimit -n) is too low for $IDLE idle connections"

# below the kernel's ephemeral range (32768+ by default): outbound sockets take ports there, and a listener chosen
# among them can find its port taken by the time it binds
EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((10000 + RANDOM % (EPHEMERAL_LOW > 12000 ? EPHEMERAL_LOW - 10000 : 20000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  die "no free port"
}

# wait_for SECONDS DESCRIPTION COMMAND...
wait_for() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    if [ $SECONDS -ge $deadline ]; then
      log "timed out after ${limit}s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}
accepts() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ready() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/q/health/ready" 2>/dev/null; }

# sum of a /proc/<pid>/status field (kB) over pids
status_kb() {
  local field=$1 total=0 v
  shift
  for p in "$@"; do
    v=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo $total
}
# CPU ticks (user + system) over pids
cpu_ticks() {
  local total=0 v
  for p in "$@"; do
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}' || true)
    total=$((total + ${v:-0}))
  done
  echo $total
}
median() { tr ' ' '\n' | { grep -v '^$' || true; } | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" | head -n1; }

# --- the target server, relays and the load tool -----------------------------------------------------------------
log "compiling bench/TunnelBench.java"
javac -d "$WORK/classes" bench/TunnelBench.java
BENCH=(java -Xmx512m -XX:+UseSerialGC -cp "$WORK/classes" TunnelBench)
run_tool() { timeout 180 "${BENCH[@]}" "$@"; }

# start_tool NAME VAR ARGS...: a TunnelBench server/relay living until its stdin closes; its port goes to VAR
start_tool() {
  local name=$1 var=$2 fd
  shift 2
  mkfifo "$WORK/$name.in"
  # shellcheck disable=SC2086
  java $RELAY_OPTS -cp "$WORK/classes" TunnelBench "$@" <"$WORK/$name.in" >"$WORK/$name.port" 2>"$WORK/$name.err" &
  PIDS+=($!)
  printf -v "${var}_PID" '%s' "$!"
  exec {fd}>"$WORK/$name.in"
  HOLD_FDS+=("$fd")
  wait_for 20 "$name" test -s "$WORK/$name.port" || die "$name did not start: $(cat "$WORK/$name.err")"
  printf -v "$var" '%s' "$(head -n1 "$WORK/$name.port")"
}
start_tool target TARGET server
start_tool relay1 RELAY1 relay "$TARGET"
start_tool relay2 RELAY2 relay "$RELAY1"
RELAY_PIDS="$RELAY1_PID $RELAY2_PID"

# --- PostgreSQL and Redis ------------------------------------------------------------------------------------------
PG_PORT=$(free_port)
mkdir -p "$WORK/pg"
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$WORK/pg"
  AS_PG=(runuser -u postgres --)
fi
log "starting PostgreSQL (:$PG_PORT) and redis-server"
"${AS_PG[@]}" "$PG_BIN/initdb" -D "$WORK/pg/data" -U postgres -A trust -E UTF8 --no-sync >"$WORK/pg-init.log" 2>&1 ||
  { cat "$WORK/pg-init.log" >&2; die "initdb failed"; }
"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w -t 60 \
  -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $WORK/pg -c fsync=off -c synchronous_commit=off -c max_connections=50" \
  start >/dev/null || die "PostgreSQL did not start"
PG_STARTED=1
pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -s 1 -q postgres >"$WORK/pgbench-init.log" 2>&1 ||
  { cat "$WORK/pgbench-init.log" >&2; die "pgbench -i failed"; }
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --protected-mode no --dir "$WORK" \
  >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
wait_for 20 "redis-server" accepts "$REDIS_PORT" || die "redis-server did not start"
start_tool pgrelay1 PGR1 relay "$PG_PORT"
start_tool pgrelay2 PGR2 relay "$PGR1"
start_tool redisrelay1 RDR1 relay "$REDIS_PORT"
start_tool redisrelay2 RDR2 relay "$RDR1"

# --- Splitstream exit + entry --------------------------------------------------------------------------------------
TOKEN=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
EXIT_HTTP=$(free_port)
ENTRY_HTTP=$(free_port)
FWD=$(free_port)
PG_FWD=$(free_port)
REDIS_FWD=$(free_port)
jfr() { [ -z "${BENCH_JFR_DIR:-}" ] || echo "-XX:StartFlightRecording=settings=profile,dumponexit=true,filename=$BENCH_JFR_DIR/$1.jfr"; }
[ -z "${BENCH_JFR_DIR:-}" ] || mkdir -p "$BENCH_JFR_DIR"
log "starting the exit (:$EXIT_HTTP) and the entry"
# shellcheck disable=SC2086
SPLITSTREAM_TOKEN=$TOKEN java $JAVA_NODE_OPTS $(jfr exit) $NODE_ARGS -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$EXIT_HTTP" \
  -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$(free_port)" \
  -Dsplitstream.exit.allow="127.0.0.1:$TARGET,127.0.0.1:$PG_PORT,127.0.0.1:$REDIS_PORT" -jar "$EXIT_JAR" >"$WORK/exit.log" 2>&1 &
EXIT_PID=$!
PIDS+=("$EXIT_PID")
start_entry() { # start_entry NAME MGMTPORT FORWARDS EXTRA...: an entry node; its pid goes to ENTRY_STARTED
  local name=$1 mgmt=$2 forwards=$3
  shift 3
  # shellcheck disable=SC2086
  SPLITSTREAM_TOKEN=$TOKEN java $JAVA_NODE_OPTS $(jfr "entry-$name") $NODE_ARGS \
    -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$mgmt" \
    -Dsplitstream.entry.state-file="$WORK/transports-$name.json" \
    -Dsplitstream.entry.forwards="$forwards" "$@" -jar "$ENTRY_JAR" >"$WORK/entry-$name.log" 2>&1 &
  ENTRY_STARTED=$!
  PIDS+=("$ENTRY_STARTED")
}
start_entry main "$ENTRY_HTTP" "127.0.0.1:$FWD=127.0.0.1:$TARGET,127.0.0.1:$PG_FWD=127.0.0.1:$PG_PORT,127.0.0.1:$REDIS_FWD=127.0.0.1:$REDIS_PORT" \
  -Dsplitstream.entry.server="ws://127.0.0.1:$EXIT_HTTP" -Dsplitstream.entry.transport=websocket
ENTRY_PID=$ENTRY_STARTED
node_failed() {
  log "--- exit.log"; tail -n 30 "$WORK/exit.log" >&2
  log "--- entry.log"; tail -n 30 "$WORK/entry-main.log" >&2
  die "$1"
}
session_up() { grep -qs 'session established' "$WORK/entry-$1.log"; }
wait_for 90 "the exit node" accepts "$EXIT_HTTP" || node_failed "exit not listening"
wait_for 90 "the entry's session" session_up main || node_failed "no session"
wait_for 30 "the entry's forward" accepts "$FWD" || node_failed "forward not listening"
SPLIT_PIDS="$EXIT_PID $ENTRY_PID"

# --- measurements --------------------------------------------------------------------------------------------------
declare -A R   # R[key] = space-separated samples
add() { R[$1]="${R[$1]:-} $2"; }
med() { median <<<"${R[$1]:-}"; }

# bulk PORT CONNS PAYLOAD KEY [PIDS] [up|down]: one throughput run; MiB/s and CPU-s per GB of PIDS
bulk() {
  local port=$1 conns=$2 payload=$3 key=$4 pids=${5:-} direction=${6:-up} before after out bytes
  # shellcheck disable=SC2086
  before=$(cpu_ticks $pids)
  out=$(run_tool throughput "$port" "$conns" "$SECONDS_PER_RUN" "$payload" "$direction") || { log "$key: failed"; return 0; }
  # shellcheck disable=SC2086
  after=$(cpu_ticks $pids)
  add "$key.mibs" "$(field mib_per_s <<<"$out")"
  bytes=$(field bytes <<<"$out")
  if [ -n "$pids" ]; then
    add "$key.cpu" "$(awk -v t=$((after - before)) -v hz="$HZ" -v b="$bytes" 'BEGIN { if (b > 0) printf "%.2f", (t / hz) / (b / 1e9) }')"
  fi
}

# Warm-up until the JIT has compiled the data path. The nodes are long-running services, and on these 2-core machines
# C2 is still compiling (and recompiling after deoptimizations) a minute into a transfer: with the former fixed 5 s of
# warm-up the first rows measured a pair at ~5 CPU-s, and the same pair, measured again by the expose rows minutes
# later, moved 1.9x the MiB/s at 0.9x the CPU per GB. So the pair carries passes of mixed load (bulk incompressible and
# compressible, pings) until both nodes together have used BENCH_WARMUP_CPU CPU-s (default 60, --quick 20), within
# BENCH_WARMUP_MAX s (default 150, --quick 40); each pass's MiB/s is logged and printed with the table, the first pass
# being the cold figure. The relays are plain Java too and get the same kind of passes, a third as many.
log "warming up the tunnel and the relays (to $WARMUP_CPU CPU-s of both nodes, at most $WARMUP_MAX s)"
warm_start=$SECONDS
WARM_PASSES=""
while :; do
  out=$(run_tool throughput "$FWD" 2 2) || die "warm-up throughput failed"
  WARM_PASSES="$WARM_PASSES $(field mib_per_s <<<"$out")"
  run_tool throughput "$FWD" 2 1 text >/dev/null || die "warm-up throughput (text) failed"
  # downloads run the other half of each node's code (the exit seals, the entry opens): cold, it moved 0.4x warm
  run_tool throughput "$FWD" 2 1 random down >/dev/null || die "warm-up download failed"
  run_tool throughput "$FWD" 2 1 text down >/dev/null || die "warm-up download (text) failed"
  run_tool rtt "$FWD" 1000 >/dev/null || die "warm-up pings failed"
  # shellcheck disable=SC2086
  used=$(awk -v t="$(cpu_ticks $SPLIT_PIDS)" -v hz="$HZ" 'BEGIN { printf "%d", t / hz }')
  [ "$used" -ge "$WARMUP_CPU" ] && break
  [ $((SECONDS - warm_start)) -ge "$WARMUP_MAX" ] && { log "warm-up: stopped at $WARMUP_MAX s with $used CPU-s"; break; }
done
WARM_PASSES=${WARM_PASSES# }
log "warm-up: $((SECONDS - warm_start)) s, $used CPU-s of both nodes; bulk 2 conns MiB/s per pass: $WARM_PASSES"
for _ in $(seq 1 $(( ($(wc -w <<<"$WARM_PASSES") + 2) / 3 ))); do
  run_tool throughput "$RELAY2" 2 2 >/dev/null
  run_tool rtt "$RELAY2" 1000 >/dev/null
done
# shellcheck disable=SC2086
MAIN_WARM_TICKS=$(cpu_ticks $ENTRY_PID) # the main entry's CPU when its rows start: the transport entries warm up to it

PATHS="direct relays splitstream"
port_of() {
  case $1 in direct) echo "$TARGET" ;; relays) echo "$RELAY2" ;; splitstream) echo "$FWD" ;; esac
}
pids_of() {
  case $1 in direct) echo "" ;; relays) echo "$RELAY_PIDS" ;; splitstream) echo "$SPLIT_PIDS" ;; esac
}

for run in $(seq 1 "$RUNS"); do
  want bulk && log "run $run/$RUNS: bulk"
  want bulk && for payload in random text; do
    for conns in 1 8; do
      for path in $PATHS; do
        bulk "$(port_of $path)" "$conns" "$payload" "$path.$payload.$conns" "$(pids_of $path)"
      done
    done
    for path in $PATHS; do
      bulk "$(port_of $path)" 1 "$payload" "$path.down.$payload.1" "$(pids_of $path)" down
    done
  done
  want ping && log "run $run/$RUNS: ping-pong"
  want ping && for path in $PATHS; do
    out=$(run_tool rtt "$(port_of $path)" "$PINGS") || continue
    add "$path.p50" "$(field p50_us <<<"$out")"
    add "$path.p99" "$(field p99_us <<<"$out")"
  done
  # the same pings for PB_SECONDS while 8 connections upload through the same path, started a second before
  want ping && for path in $PATHS; do
    run_tool throughput "$(port_of $path)" 8 $((PB_SECONDS + 2)) >/dev/null &
    under=$!
    sleep 1
    out=$(run_tool rtt "$(port_of $path)" 1000000 "$PB_SECONDS") || out=""
    wait "$under" || log "$path: the upload under the pings failed"
    [ -n "$out" ] || { log "$path: pings under upload failed"; continue; }
    add "$path.pb50" "$(field p50_us <<<"$out")"
    add "$path.pb99" "$(field p99_us <<<"$out")"
  done
  want pg && log "run $run/$RUNS: pgbench"
  want pg && for path in $PATHS; do
    case $path in direct) port=$PG_PORT ;; relays) port=$PGR2 ;; splitstream) port=$PG_FWD ;; esac
    for clients in 1 4; do
      jobs=$((clients > 1 ? 2 : 1))
      if out=$(timeout 120 pgbench -h 127.0.0.1 -p "$port" -U postgres -S -n -c "$clients" -j "$jobs" -T "$PG_SECONDS" \
        -r postgres 2>&1); then
        add "$path.pg$clients" "$(sed -n 's/^tps = \([0-9]*\).*/\1/p' <<<"$out" | head -n1)"
        add "$path.pg$clients.lat" "$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' <<<"$out" | head -n1)"
      else
        log "pgbench via $path failed: $(tail -n 2 <<<"$out")"
      fi
    done
  done
  want redis && log "run $run/$RUNS: redis-benchmark"
  want redis && for path in $PATHS; do
    case $path in direct) port=$REDIS_PORT ;; relays) port=$RDR2 ;; splitstream) port=$REDIS_FWD ;; esac
    # GET with one client: latency-bound; SET with 50 clients (redis-benchmark's default): many streams at once
    if out=$(timeout 120 redis-benchmark -h 127.0.0.1 -p "$port" -t get -c 1 -n "$((REDIS_N / 5))" -q 2>&1 | tr '\r' '\n'); then
      add "$path.redis_get1" "$(grep -o 'GET: [0-9]*' <<<"$out" | tail -n1 | awk '{print $2}')"
    fi
    if out=$(timeout 120 redis-benchmark -h 127.0.0.1 -p "$port" -t set -c 50 -n "$REDIS_N" -q 2>&1 | tr '\r' '\n'); then
      add "$path.redis_set50" "$(grep -o 'SET: [0-9]*' <<<"$out" | tail -n1 | awk '{print $2}')"
    fi
  done
done

# --- idle connections (full mode): RSS of the two nodes while IDLE connections are open ---------------------------
if [ "$IDLE" -gt 0 ]; then
  rm -f "$WORK/stop"
  # shellcheck disable=SC2086
  R[idle_before]=$(($(status_kb VmRSS $SPLIT_PIDS) / 1024))
  run_tool idle "$FWD" "$IDLE" "$WORK/stop" 120 >"$WORK/idle.out" 2>&1 &
  tool=$!
  # ready, or the tool gave up (a connection refused or closed): its last lines say which
  idle_settled() { grep -q ready "$WORK/idle.out" || ! kill -0 "$tool" 2>/dev/null; }
  if wait_for 120 "$IDLE idle connections" idle_settled && grep -q ready "$WORK/idle.out"; then
    # shellcheck disable=SC2086
    R[idle_during]=$(($(status_kb VmRSS $SPLIT_PIDS) / 1024))
    R[idle_open_ms]=$(field open_ms <"$WORK/idle.out")
  else
    log "idle connections failed: $(tail -n 3 "$WORK/idle.out" | tr '\n' ' ')"
  fi
  touch "$WORK/stop"
  wait "$tool" || true
  log "$IDLE idle connections: RSS of both nodes ${R[idle_before]} -> ${R[idle_during]:-?} MiB"
fi

# --- the long path: 100 ms round trip, bytes in flight limited like a TCP window ------------------------------------
WAN_PID=
R[wanentry.peak]=-
if want wan; then
log "long path: +${DELAY} ms each way, at most $PATH_WINDOW bytes in flight per direction"
start_tool wan-direct WAN_DIRECT delay "$TARGET" "$DELAY" "$PATH_WINDOW"
start_tool wan-exit WAN_EXIT delay "$EXIT_HTTP" "$DELAY" "$PATH_WINDOW"
WAN_HTTP=$(free_port)
WAN_FWD=$(free_port)
start_entry wan "$WAN_HTTP" "127.0.0.1:$WAN_FWD=127.0.0.1:$TARGET" \
  -Dsplitstream.entry.server="ws://127.0.0.1:$WAN_EXIT" -Dsplitstream.entry.transport=websocket
WAN_PID=$ENTRY_STARTED
wait_for 90 "the long-path entry's session" session_up wan || { tail -n 30 "$WORK/entry-wan.log" >&2; die "no long-path session"; }
wait_for 30 "the long-path forward" accepts "$WAN_FWD" || die "long-path forward not listening"
run_tool throughput "$WAN_FWD" 1 2 >/dev/null # warm-up: the JIT, and the session's first RTT samples
for run in $(seq 1 "$RUNS"); do
  for path in direct splitstream; do
    case $path in direct) port=$WAN_DIRECT ;; splitstream) port=$WAN_FWD ;; esac
    if out=$(SECONDS_PER_RUN=$WAN_SECONDS run_tool throughput "$port" 1 "$WAN_SECONDS"); then
      add "$path.wan" "$(field mib_per_s <<<"$out")"
    fi
    # compressible: the window limits bytes on the wire, so deflated frames carry more per round trip
    if out=$(SECONDS_PER_RUN=$WAN_SECONDS run_tool throughput "$port" 1 "$WAN_SECONDS" text); then
      add "$path.wantext" "$(field mib_per_s <<<"$out")"
    fi
  done
  log "long path run $run/$RUNS: direct $(awk '{print $NF}' <<<"${R[direct.wan]:-}") MiB/s, splitstream $(awk '{print $NF}' <<<"${R[splitstream.wan]:-}") MiB/s; compressible $(awk '{print $NF}' <<<"${R[direct.wantext]:-}") / $(awk '{print $NF}' <<<"${R[splitstream.wantext]:-}") MiB/s"
done
R[wanentry.peak]=$(($(status_kb VmHWM "$WAN_PID") / 1024))
kill "$WAN_PID" 2>/dev/null || true
fi

# --- transports: each its own entry against the same exit ---------------------------------------------------------
transport_opts() {
  local ws="ws://127.0.0.1:$EXIT_HTTP" http="http://127.0.0.1:$EXIT_HTTP"
  case $1 in
    websocket) echo "-Dsplitstream.entry.server=$ws -Dsplitstream.entry.transport=websocket" ;;
    websocket-split) echo "-Dsplitstream.entry.upstream=$ws -Dsplitstream.entry.downstream=$ws -Dsplitstream.entry.transport=websocket" ;;
    http) echo "-Dsplitstream.entry.server=$http -Dsplitstream.entry.transport=http" ;;
    http-split) echo "-Dsplitstream.entry.upstream=$http -Dsplitstream.entry.downstream=$http -Dsplitstream.entry.transport=http" ;;
    *) return 1 ;;
  esac
}
IFS=, read -r -a TRANSPORT_LIST <<<"$TRANSPORTS"
for kind in "${TRANSPORT_LIST[@]}"; do
  opts=$(transport_opts "$kind") || die "unknown transport '$kind' in BENCH_TRANSPORTS"
  T_HTTP=$(free_port)
  T_FWD=$(free_port)
  log "transport $kind: starting an entry (forward :$T_FWD)"
  # shellcheck disable=SC2086
  start_entry "$kind" "$T_HTTP" "127.0.0.1:$T_FWD=127.0.0.1:$TARGET" $opts
  T_PID=$ENTRY_STARTED
  if ! wait_for 90 "the $kind session" session_up "$kind" || ! wait_for 30 "the $kind forward" accepts "$T_FWD"; then
    log "transport $kind: no session; its log:"
    tail -n 15 "$WORK/entry-$kind.log" >&2
    kill "$T_PID" 2>/dev/null || true
    continue
  fi
  # As warm as the main entry was when its rows started: a fresh entry warmed for a fixed 2 s measured its JIT, not its
  # transport (plain HTTP 8 connections 0.11x direct here, 0.13-0.14x on warm nodes in bench/ab.sh). So it carries bulk
  # load, 2 connections for 2 s at a time, until it has used as much CPU (BENCH_TRANSPORT_WARMUP_MAX s at most).
  warm_start=$SECONDS
  run_tool throughput "$T_FWD" 2 2 >/dev/null || true
  while [ "$(cpu_ticks "$T_PID")" -lt "$MAIN_WARM_TICKS" ] && [ $((SECONDS - warm_start)) -lt "$TRANSPORT_WARMUP_MAX" ]; do
    run_tool throughput "$T_FWD" 2 2 >/dev/null || break
  done
  log "transport $kind: entry warmed $((SECONDS - warm_start)) s to $(awk -v t="$(cpu_ticks "$T_PID")" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }') CPU-s (the main entry had $(awk -v t="$MAIN_WARM_TICKS" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }') when its rows started)"
  for run in $(seq 1 "$RUNS"); do
    for conns in 1 8; do
      bulk "$TARGET" "$conns" random "t.$kind.direct.$conns"
      bulk "$T_FWD" "$conns" random "t.$kind.$conns" "$EXIT_PID $T_PID"
    done
  done
  R[t.$kind.peak]=$(($(status_kb VmHWM "$T_PID") / 1024))
  log "transport $kind: $(med "t.$kind.1.mibs") / $(med "t.$kind.8.mibs") MiB/s with 1 / 8 connections"
  kill "$T_PID" 2>/dev/null || true
  wait "$T_PID" 2>/dev/null || true
done

# --- frame protection: the same rows with encryption=off on both nodes, side by side with the default pair ---------
# Sealing is on by default (AES-256-GCM end to end), so every row above pays for it; these rows state its cost, as the
# performance issue asks: a second exit + entry with splitstream.encryption=off, warmed to the main pair's CPU, and the
# two pairs measured in turn (the order alternating per run), with direct TCP in between.
if want protection; then
  U_HTTP=$(free_port)
  U_FWD=$(free_port)
  U_PG=$(free_port)
  log "protection: an exit and an entry with encryption=off (forward :$U_FWD)"
  # shellcheck disable=SC2086
  SPLITSTREAM_TOKEN=$TOKEN java $JAVA_NODE_OPTS $(jfr exit-unsealed) $NODE_ARGS -Dsplitstream.encryption=off \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$U_HTTP" -Dquarkus.management.host=127.0.0.1 \
    -Dquarkus.management.port="$(free_port)" -Dsplitstream.exit.allow="127.0.0.1:$TARGET,127.0.0.1:$PG_PORT" \
    -jar "$EXIT_JAR" >"$WORK/exit-unsealed.log" 2>&1 &
  U_EXIT=$!
  PIDS+=("$U_EXIT")
  wait_for 90 "the unsealed exit" accepts "$U_HTTP" || { tail -n 30 "$WORK/exit-unsealed.log" >&2; die "unsealed exit not listening"; }
  start_entry unsealed "$(free_port)" "127.0.0.1:$U_FWD=127.0.0.1:$TARGET,127.0.0.1:$U_PG=127.0.0.1:$PG_PORT" \
    -Dsplitstream.entry.server="ws://127.0.0.1:$U_HTTP" -Dsplitstream.entry.transport=websocket -Dsplitstream.encryption=off
  U_ENTRY=$ENTRY_STARTED
  if wait_for 90 "the unsealed session" session_up unsealed && wait_for 30 "the unsealed forward" accepts "$U_FWD"; then
    # as warm as the main pair: passes of bulk upload, download and pings (the rows' workloads) until both its nodes
    # have used as much CPU (the main pair has carried every row above, so it is the one ahead), BENCH_WARMUP_MAX s at
    # most
    warm_start=$SECONDS
    # shellcheck disable=SC2086
    while [ "$(cpu_ticks $U_EXIT $U_ENTRY)" -lt "$(cpu_ticks $SPLIT_PIDS)" ] && [ $((SECONDS - warm_start)) -lt "$WARMUP_MAX" ]; do
      run_tool throughput "$U_FWD" 2 2 >/dev/null || break
      run_tool throughput "$U_FWD" 2 1 random down >/dev/null || break
      run_tool rtt "$U_FWD" 1000 >/dev/null || break
    done
    # shellcheck disable=SC2086
    log "protection: unsealed pair warmed $((SECONDS - warm_start)) s to $(awk -v t="$(cpu_ticks $U_EXIT $U_ENTRY)" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }') CPU-s (main pair $(awk -v t="$(cpu_ticks $SPLIT_PIDS)" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }'))"
    for run in $(seq 1 "$RUNS"); do
      order="sealed unsealed"
      [ $((run % 2)) = 0 ] && order="unsealed sealed"
      for p in direct $order; do
        case $p in
          direct) port=$TARGET pg=$PG_PORT pids="" ;;
          sealed) port=$FWD pg=$PG_FWD pids=$SPLIT_PIDS ;;
          unsealed) port=$U_FWD pg=$U_PG pids="$U_EXIT $U_ENTRY" ;;
        esac
        bulk "$port" 1 random "s.$p.up" "$pids"
        bulk "$port" 1 random "s.$p.down" "$pids" down
        out=$(run_tool rtt "$port" "$PINGS") && add "s.$p.p50" "$(field p50_us <<<"$out")"
        if out=$(timeout 120 pgbench -h 127.0.0.1 -p "$pg" -U postgres -S -n -c 4 -j 2 -T "$PG_SECONDS" postgres 2>&1); then
          add "s.$p.pg4" "$(sed -n 's/^tps = \([0-9]*\).*/\1/p' <<<"$out" | head -n1)"
        fi
      done
    done
    R[unsealed.peak]="$(($(status_kb VmHWM "$U_EXIT") / 1024)) / $(($(status_kb VmHWM "$U_ENTRY") / 1024))"
    log "protection: bulk 1 conn sealed $(med s.sealed.up.mibs) MiB/s, unsealed $(med s.unsealed.up.mibs)"
  else
    tail -n 20 "$WORK/entry-unsealed.log" >&2
    log "protection: no unsealed session; rows skipped"
  fi
  kill "$U_ENTRY" "$U_EXIT" 2>/dev/null || true
fi

# --- expose: a public port on a second exit, served by an agent next to the target, vs the forward path ----------
if want expose; then
  X_HTTP=$(free_port)
  X_PUB=$(free_port)
  log "expose: an exit with public port :$X_PUB and an agent exposing the target"
  # shellcheck disable=SC2086
  SPLITSTREAM_TOKEN=$TOKEN java $JAVA_NODE_OPTS $NODE_ARGS -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$X_HTTP" \
    -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$(free_port)" \
    -Dsplitstream.exit.public-ports="$X_PUB-$X_PUB" -Dsplitstream.exit.public-host=127.0.0.1 \
    -jar "$EXIT_JAR" >"$WORK/exit-expose.log" 2>&1 &
  X_PID=$!
  PIDS+=("$X_PID")
  wait_for 90 "the expose exit" accepts "$X_HTTP" || { tail -n 30 "$WORK/exit-expose.log" >&2; die "expose exit not listening"; }
  # shellcheck disable=SC2086
  SPLITSTREAM_TOKEN=$TOKEN java $JAVA_NODE_OPTS $NODE_ARGS -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$(free_port)" \
    -Dsplitstream.entry.server="ws://127.0.0.1:$X_HTTP" -Dsplitstream.entry.transport=websocket \
    -Dsplitstream.entry.state-file="$WORK/transports-agent.json" -Dsplitstream.entry.expose="bench=127.0.0.1:$TARGET" \
    -jar "$ENTRY_JAR" >"$WORK/agent.log" 2>&1 &
  A_PID=$!
  PIDS+=("$A_PID")
  if wait_for 90 "the agent's public port" grep -qs "exposing bench" "$WORK/agent.log"; then
    # Both pairs equally warm before they are compared. The forward pair has carried every row above (minutes of a
    # full run) while this pair is fresh; with BENCH_ONLY=expose it is the other way round (the forward pair had only
    # its few seconds of warm-up). Either way the rows compared a path the JIT had compiled with one it was still
    # working on (0.76x / 0.85x one session, 1.16x / 1.00x the next). So: this pair gets BENCH_EXPOSE_WARMUP s of bulk
    # load, then whichever pair has used less CPU so far carries bulk load (2 connections, 2 s at a time) until it has
    # used as much as the other (BENCH_EXPOSE_WARMUP_MAX s at most), both get the same 8-connection run and pings, and
    # the rows alternate which path goes first.
    run_tool throughput "$X_PUB" 2 "$EXPOSE_WARMUP" >/dev/null || true
    warm_start=$SECONDS
    # shellcheck disable=SC2086
    if [ "$(cpu_ticks $X_PID $A_PID)" -lt "$(cpu_ticks $SPLIT_PIDS)" ]; then behind=pub; else behind=fwd; fi
    while [ $((SECONDS - warm_start)) -lt "$EXPOSE_WARMUP_MAX" ]; do
      # shellcheck disable=SC2086
      x_ticks=$(cpu_ticks $X_PID $A_PID) f_ticks=$(cpu_ticks $SPLIT_PIDS)
      if [ $behind = pub ]; then
        [ "$x_ticks" -lt "$f_ticks" ] || break
        run_tool throughput "$X_PUB" 2 2 >/dev/null || break
      else
        [ "$f_ticks" -lt "$x_ticks" ] || break
        run_tool throughput "$FWD" 2 2 >/dev/null || break
      fi
    done
    for port in "$X_PUB" "$FWD"; do
      run_tool throughput "$port" 8 2 >/dev/null || true
      run_tool rtt "$port" 2000 >/dev/null || true
    done
    # shellcheck disable=SC2086
    log "expose: both pairs warm: forward $(awk -v t="$(cpu_ticks $SPLIT_PIDS)" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }') CPU-s, public port $(awk -v t="$(cpu_ticks $X_PID $A_PID)" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }') CPU-s ($behind pair warmed $((SECONDS - warm_start)) s more)"
    for run in $(seq 1 "$RUNS"); do
      order="fwd pub"
      [ $((run % 2)) = 0 ] && order="pub fwd"
      for conns in 1 8; do
        for p in $order; do
          case $p in
            fwd) bulk "$FWD" "$conns" random "x.fwd.$conns" "$SPLIT_PIDS" ;;
            pub) bulk "$X_PUB" "$conns" random "x.pub.$conns" "$X_PID $A_PID" ;;
          esac
        done
      done
      for p in $order; do
        case $p in
          fwd) add x.fwd.p50 "$(field p50_us <<<"$(run_tool rtt "$FWD" "$((PINGS / 3))")")" ;;
          pub) add x.pub.p50 "$(field p50_us <<<"$(run_tool rtt "$X_PUB" "$((PINGS / 3))")")" ;;
        esac
      done
    done
    log "expose: public port $(med x.pub.1.mibs) / $(med x.pub.8.mibs) MiB/s (forward $(med x.fwd.1.mibs) / $(med x.fwd.8.mibs))"
  else
    tail -n 20 "$WORK/agent.log" >&2
    log "expose: the agent got no public port; rows skipped"
  fi
  kill "$A_PID" "$X_PID" 2>/dev/null || true
fi

R[exit.peak]=$(($(status_kb VmHWM "$EXIT_PID") / 1024))
R[entry.peak]=$(($(status_kb VmHWM "$ENTRY_PID") / 1024))
R[relay1.peak]=$(($(status_kb VmHWM "$RELAY1_PID") / 1024))
R[relay2.peak]=$(($(status_kb VmHWM "$RELAY2_PID") / 1024))

# --- report --------------------------------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && a != "-" && b != "-" && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
row() { printf '%-44s %10s %10s %12s %9s %9s %9s\n' "$@"; }
# trow LABEL KEY: a row of the three paths, ratios against direct and relays
trow() {
  local d r s
  d=$(med "direct.$2"); r=$(med "relays.$2"); s=$(med "splitstream.$2")
  row "$1" "$d" "$r" "$s" "$(ratio "$s" "$d")" "$(ratio "$r" "$d")" "$(ratio "$s" "$r")"
}

echo
echo "Splitstream tunnel benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(java -version 2>&1 | head -n1)"
echo "nodes: $NODES ($(git -C "$NODES" log -1 --format=%h 2>/dev/null || echo '?')$(git -C "$NODES" diff --quiet 2>/dev/null || echo ', uncommitted changes'))"
echo "node JVM flags: $JAVA_NODE_OPTS ${NODE_ARGS:+(extra: $NODE_ARGS)}"
echo "WebSocket on loopback, no TLS (frames sealed end to end unless BENCH_NODE_ARGS sets splitstream.encryption=off); medians of $RUNS run(s) of ${SECONDS_PER_RUN}s; load average $LOAD_START at start, $(cut -d' ' -f1-3 /proc/loadavg) at end"
echo "warm-up before the rows: $used CPU-s of both nodes; bulk 2 conns (MiB/s) per pass, the first one cold: $WARM_PASSES"
echo "relays = two chained plain Java relays (the floor for two JVM hops); ratios: split = splitstream/direct, relay = relays/direct"
echo
row "metric" "direct" "relays" "splitstream" "split/dir" "relay/dir" "split/rel"
trow "bulk 1 conn, incompressible (MiB/s)" random.1.mibs
trow "bulk 8 conns, incompressible (MiB/s)" random.8.mibs
trow "bulk 1 conn, compressible (MiB/s)" text.1.mibs
trow "bulk 8 conns, compressible (MiB/s)" text.8.mibs
trow "download 1 conn, incompressible (MiB/s)" down.random.1.mibs
trow "download 1 conn, compressible (MiB/s)" down.text.1.mibs
trow "ping-pong 1 byte p50 (us)" p50
trow "ping-pong 1 byte p99 (us)" p99
trow "ping-pong p50 under 8 conns' upload (us)" pb50
trow "ping-pong p99 under 8 conns' upload (us)" pb99
trow "pgbench -S -c 1 (tps)" pg1
trow "pgbench -S -c 1 latency avg (ms)" pg1.lat
trow "pgbench -S -c 4 -j 2 (tps)" pg4
trow "redis-benchmark GET -c 1 (req/s)" redis_get1
trow "redis-benchmark SET -c 50 (req/s)" redis_set50
row "long path 100 ms RTT, 1 conn (MiB/s)" "$(med direct.wan)" "-" "$(med splitstream.wan)" \
  "$(ratio "$(med splitstream.wan)" "$(med direct.wan)")" "-" "-"
row "long path, compressible (MiB/s)" "$(med direct.wantext)" "-" "$(med splitstream.wantext)" \
  "$(ratio "$(med splitstream.wantext)" "$(med direct.wantext)")" "-" "-"
for kind in "${TRANSPORT_LIST[@]}"; do
  for conns in 1 8; do
    d=$(med "t.$kind.direct.$conns.mibs"); s=$(med "t.$kind.$conns.mibs")
    row "transport $kind, $conns conn(s) (MiB/s)" "$d" "-" "$s" "$(ratio "$s" "$d")" "-" "-"
  done
done
if [ -n "${R[x.pub.1.mibs]:-}" ]; then
  for conns in 1 8; do
    f=$(med "x.fwd.$conns.mibs"); p=$(med "x.pub.$conns.mibs")
    row "expose public port, $conns conn(s) (MiB/s)" "-" "fwd $f" "$p" "-" "-" "pub/fwd $(ratio "$p" "$f")"
  done
  row "expose public port, ping-pong p50 (us)" "-" "fwd $(med x.fwd.p50)" "$(med x.pub.p50)" "-" "-" "pub/fwd $(ratio "$(med x.pub.p50)" "$(med x.fwd.p50)")"
  for conns in 1 8; do
    f=$(med "x.fwd.$conns.cpu"); p=$(med "x.pub.$conns.cpu")
    row "expose public port, $conns conn(s) (CPU-s/GB)" "-" "fwd $f" "$p" "-" "-" "pub/fwd $(ratio "$p" "$f")"
  done
fi
if [ -n "${R[s.unsealed.up.mibs]:-}" ]; then
  echo
  echo "frame protection: the default pair (sealed, AES-256-GCM) and a pair with encryption=off, measured in turn"
  row "metric" "direct" "unsealed" "sealed" "seal/dir" "unseal/dir" "seal/unseal"
  # prow LABEL KEY: direct, unsealed and sealed pairs of the protection rows
  prow() {
    local d u s
    d=$(med "s.direct.$2"); u=$(med "s.unsealed.$2"); s=$(med "s.sealed.$2")
    row "$1" "$d" "$u" "$s" "$(ratio "$s" "$d")" "$(ratio "$u" "$d")" "$(ratio "$s" "$u")"
  }
  prow "bulk 1 conn, incompressible (MiB/s)" up.mibs
  prow "download 1 conn, incompressible (MiB/s)" down.mibs
  prow "ping-pong 1 byte p50 (us)" p50
  prow "pgbench -S -c 4 -j 2 (tps)" pg4
  row "bulk 1 conn (CPU-s per GB)" "" "$(med s.unsealed.up.cpu)" "$(med s.sealed.up.cpu)" "" "" "$(ratio "$(med s.sealed.up.cpu)" "$(med s.unsealed.up.cpu)")"
  row "download 1 conn (CPU-s per GB)" "" "$(med s.unsealed.down.cpu)" "$(med s.sealed.down.cpu)" "" "" "$(ratio "$(med s.sealed.down.cpu)" "$(med s.unsealed.down.cpu)")"
fi
echo
row "CPU of the middle (CPU-s per GB)" "" "relays" "splitstream" "" "" "split/rel"
for payload in random text; do
  for conns in 1 8; do
    r=$(med "relays.$payload.$conns.cpu"); s=$(med "splitstream.$payload.$conns.cpu")
    row "  bulk $conns conn(s), $([ $payload = random ] && echo incompressible || echo compressible)" "" "$r" "$s" "" "" "$(ratio "$s" "$r")"
  done
  r=$(med "relays.down.$payload.1.cpu"); s=$(med "splitstream.down.$payload.1.cpu")
  row "  download 1 conn, $([ $payload = random ] && echo incompressible || echo compressible)" "" "$r" "$s" "" "" "$(ratio "$s" "$r")"
done
for kind in "${TRANSPORT_LIST[@]}"; do
  row "  transport $kind, 8 conns" "" "-" "$(med "t.$kind.8.cpu")" "" "" ""
done
echo
echo "peak RSS (VmHWM, MiB): exit ${R[exit.peak]}, entry ${R[entry.peak]}, long-path entry ${R[wanentry.peak]}$(for kind in "${TRANSPORT_LIST[@]}"; do printf ', %s entry %s' "$kind" "${R[t.$kind.peak]}"; done)${R[unsealed.peak]:+, unsealed exit / entry ${R[unsealed.peak]}}; relays ${R[relay1.peak]} + ${R[relay2.peak]}"
[ "$IDLE" -eq 0 ] || echo "RSS of both nodes: ${R[idle_before]} MiB before, ${R[idle_during]:-?} MiB with $IDLE idle connections (opened in ${R[idle_open_ms]:-?} ms)"
echo "targets: bulk >= 0.30x direct (1 and 8 conns); ping-pong p50 <= 4x; pgbench -c 1 >= 0.40x, -c 4 >= 0.45x;"
echo "         long path >= 0.80x; http 8 conns >= 0.15x; <= 3 CPU-s per GB (1 conn); <= 256 MiB peak RSS per node"
