#!/usr/bin/env bash
# Replicas benchmark: two exit replicas sharing a throwaway PostgreSQL registry, and one exit in memory mode.
#  1. throughput (1 connection, upload) and 1-byte ping-pong RTT through the replica that owns the session, then
#     through the other replica, which relays the resumed WebSocket leg to the owner; BENCH_ROUNDS rounds (default 3)
#     alternate the two (the entry's connection is cut and resumed through the other replica each time), so a change
#     of the machine's load falls on both; prints each round, the medians and their ratio.
#     The entry reaches the replicas through a socat switch (in both runs, so its cost cancels out of the ratio).
#  2. session set-up rate (WebSocket + handshake + CLOSE, BENCH_SETUP_WORKERS loops) against the memory exit and a
#     postgres replica (which records every session's owner and its audit row).
# Bounded: about 2-3 minutes. Not a test: numbers depend on the machine and its load.
#
#   bench/replicas.sh            # BENCH_SECONDS=4 per throughput run, BENCH_PINGS=2000, BENCH_SETUP_SECONDS=8
#   bench/replicas.sh transfers  # the issue's large transfers: ReplicasE2E's first three cases (three replicas behind
#                                # round-robin nginx) with 256 MiB each way (BENCH_TRANSFER_MIB) over WebSocket with two
#                                # cuts, over a split path and over plain HTTP (BENCH_HTTP_MIB, also 256), SHA-256
#                                # checked; CI runs the same cases at the same size. About 5-15 minutes on 2 cores.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"

if [ "${1:-}" = transfers ]; then
  MIB=${BENCH_TRANSFER_MIB:-256}
  HTTP_MIB=${BENCH_HTTP_MIB:-256}
  OUT=$(mktemp "${TMPDIR:-/tmp}/splitstream-bench-transfers.XXXXXX")
  echo "[bench] ReplicasE2E with $MIB MiB (WebSocket, split) and $HTTP_MIB MiB (plain HTTP) each way; log: $OUT" >&2
  # through the reactor, so the nodes and the protocol come from this checkout (never from ~/.m2)
  if ./mvnw -B verify -pl src-test-e2e -am -Dtest=none -Dsurefire.failIfNoSpecifiedTests=false \
      -Dfailsafe.failIfNoSpecifiedTests=false -Dspotless.check.skip=true \
      -Dit.test='ReplicasE2E#webSocket*+split*+plainHttp*' \
      -Dsplitstream.e2e.replicas.mib="$MIB" -Dsplitstream.e2e.replicas.http-mib="$HTTP_MIB" >"$OUT" 2>&1; then
    status=0
  else
    status=$?
  fi
  grep -a 'E2E-FIGURE' "$OUT" || true
  grep -aE 'Tests run:|FAIL|ERROR\]' "$OUT" | tail -n 8 || true
  exit "$status"
fi

SECONDS_PER_RUN=${BENCH_SECONDS:-4}
PINGS=${BENCH_PINGS:-2000}
SETUP_SECONDS=${BENCH_SETUP_SECONDS:-8}
SETUP_WORKERS=${BENCH_SETUP_WORKERS:-4}
ROUNDS=${BENCH_ROUNDS:-3}
. "$ROOT/scripts/jvm-opts.sh"
JAVA_NODE_OPTS=${BENCH_JAVA_OPTS:-$SPLITSTREAM_JAVA_OPTS}
EXIT_JAR=exit-node/target/quarkus-app/quarkus-run.jar
ENTRY_JAR=entry-node/target/quarkus-app/quarkus-run.jar
PROTOCOL_JAR=$(ls protocol/target/splitstream-protocol-*.jar 2>/dev/null | grep -v sources | head -n1 || true)

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

PGBIN=$(dirname "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -n1)")
[ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pg_ctl" ] || die "PostgreSQL's initdb/pg_ctl are needed (scripts/install-test-deps.sh)"
for tool in java javac socat curl; do command -v "$tool" >/dev/null || die "$tool is needed (scripts/install-test-deps.sh)"; done

if [ ! -f "$EXIT_JAR" ] || [ ! -f "$ENTRY_JAR" ] || [ -z "$PROTOCOL_JAR" ]; then
  log "building the nodes (./mvnw -B -q package -DskipTests) ..."
  ./mvnw -B -q package -DskipTests -pl exit-node,entry-node -am >&2
  PROTOCOL_JAR=$(ls protocol/target/splitstream-protocol-*.jar | grep -v sources | head -n1)
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/splitstream-bench-replicas.XXXXXX")
chmod 755 "$WORK"
PIDS=()
PG_UP=
AS_PG=()
[ "$(id -u)" -ne 0 ] || AS_PG=(runuser -u postgres --)
cleanup() {
  set +e
  exec 7>&- 2>/dev/null
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[$i]}" 2>/dev/null; done
  [ -z "$PG_UP" ] || "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m immediate -w stop >/dev/null 2>&1
  sleep 0.5
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
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

# --- PostgreSQL ----------------------------------------------------------------------------------------------------
PG_PORT=$(free_port)
mkdir -p "$WORK/pg"
[ "$(id -u)" -ne 0 ] || chown postgres:postgres "$WORK/pg"
log "PostgreSQL on :$PG_PORT"
"${AS_PG[@]}" "$PGBIN/initdb" -D "$WORK/pg/data" -U postgres -A trust -E UTF8 --no-sync >"$WORK/initdb.log" 2>&1 ||
  { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/postgres.log" -w -t 60 \
  -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $WORK/pg -c fsync=off -c synchronous_commit=off" start >/dev/null ||
  die "PostgreSQL did not start"
PG_UP=1

# --- target server, nodes -------------------------------------------------------------------------------------------
log "compiling bench/TunnelBench.java and bench/SessionSetupBench.java"
javac -d "$WORK/classes" bench/TunnelBench.java
javac -d "$WORK/classes" -cp "$PROTOCOL_JAR" bench/SessionSetupBench.java
BENCH=(java -Xmx512m -cp "$WORK/classes" TunnelBench)
SETUP=(java -cp "$WORK/classes:$PROTOCOL_JAR" SessionSetupBench)
mkfifo "$WORK/server.in"
exec 7<>"$WORK/server.in"
"${BENCH[@]}" server <&7 >"$WORK/server.port" 2>"$WORK/server.err" &
PIDS+=($!)
wait_for 20 "the target server" test -s "$WORK/server.port" || die "the target server did not start"
TARGET=$(head -n1 "$WORK/server.port")
TOKEN=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
CLUSTER_SECRET=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')

declare -A HTTP MGMT
start_exit() { # name registry
  local name=$1 registry=$2
  HTTP[$name]=$(free_port)
  MGMT[$name]=$(free_port)
  local extra=()
  if [ "$registry" = postgres ]; then
    extra=(-Dsplitstream.exit.registry=postgres -Dsplitstream.exit.replica-id="$name"
      -Dsplitstream.exit.replica-url="http://127.0.0.1:${HTTP[$name]}"
      -Dquarkus.datasource.jdbc.url="jdbc:postgresql://127.0.0.1:$PG_PORT/postgres"
      -Dquarkus.datasource.username=postgres -Dquarkus.datasource.password=unused)
  fi
  # shellcheck disable=SC2086
  SPLITSTREAM_TOKEN=$TOKEN SPLITSTREAM_EXIT_CLUSTER_SECRET=$CLUSTER_SECRET java $JAVA_NODE_OPTS \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="${HTTP[$name]}" \
    -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="${MGMT[$name]}" \
    -Dsplitstream.exit.allow="127.0.0.1:$TARGET" -Dsplitstream.exit.max-sessions=10000 "${extra[@]}" \
    -jar "$EXIT_JAR" >"$WORK/exit-$name.log" 2>&1 &
  PIDS+=($!)
}
start_exit r1 postgres
start_exit r2 postgres
start_exit mem memory
for n in r1 r2 mem; do
  wait_for 90 "exit $n" ready "${MGMT[$n]}" || { tail -n 30 "$WORK/exit-$n.log" >&2; die "exit $n not ready"; }
done

# The switch: every new connection goes to the port in $WORK/switch.target.
SWITCH=$(free_port)
echo "${HTTP[r1]}" >"$WORK/switch.target"
cat >"$WORK/switch.sh" <<SH
#!/bin/sh
exec socat - TCP:127.0.0.1:\$(cat "$WORK/switch.target"),nodelay
SH
chmod +x "$WORK/switch.sh"
socat TCP-LISTEN:"$SWITCH",bind=127.0.0.1,fork,reuseaddr,nodelay EXEC:"$WORK/switch.sh" 2>"$WORK/socat.log" &
SOCAT_PID=$!
PIDS+=("$SOCAT_PID")
wait_for 10 "the switch" bash -c "(exec 3<>/dev/tcp/127.0.0.1/$SWITCH) 2>/dev/null"

FWD=$(free_port)
ENTRY_MGMT=$(free_port)
# shellcheck disable=SC2086
SPLITSTREAM_TOKEN=$TOKEN java $JAVA_NODE_OPTS -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$ENTRY_MGMT" \
  -Dsplitstream.entry.server="ws://127.0.0.1:$SWITCH" -Dsplitstream.entry.transport=websocket \
  -Dsplitstream.entry.reconnect-min=100ms -Dsplitstream.entry.reconnect-max=1s \
  -Dsplitstream.entry.state-file="$WORK/transports.json" -Dsplitstream.entry.forwards="127.0.0.1:$FWD=127.0.0.1:$TARGET" \
  -jar "$ENTRY_JAR" >"$WORK/entry.log" 2>&1 &
PIDS+=($!)
wait_for 60 "the entry's session" grep -q 'session established' "$WORK/entry.log" || { tail -n 30 "$WORK/entry.log" >&2; die "no session"; }

declare -A R
ROWS=()
measure() { # label round
  timeout 180 "${BENCH[@]}" throughput "$FWD" 1 2 >/dev/null # warm-up
  local out tp p50 p99
  out=$(timeout 180 "${BENCH[@]}" throughput "$FWD" 1 "$SECONDS_PER_RUN")
  tp=$(field mib_per_s <<<"$out")
  out=$(timeout 180 "${BENCH[@]}" rtt "$FWD" "$PINGS")
  p50=$(field p50_us <<<"$out")
  p99=$(field p99_us <<<"$out")
  R[$1.tp]+="$tp "
  R[$1.p50]+="$p50 "
  R[$1.p99]+="$p99 "
  ROWS+=("| $2 | $1 | $tp | $p50 | $p99 |")
  log "round $2, $1: $tp MiB/s, RTT p50 $p50 us p99 $p99 us"
}
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
RESUMES=0
switch_to() { # replica
  echo "${HTTP[$1]}" >"$WORK/switch.target"
  pkill -P "$SOCAT_PID" || true
  RESUMES=$((RESUMES + 1))
  wait_for 30 "the resume through $1" bash -c "[ \$(grep -c 'session resumed' '$WORK/entry.log') -ge $RESUMES ]" ||
    { tail -n 30 "$WORK/entry.log" >&2; die "no resume through $1"; }
}

for round in $(seq 1 "$ROUNDS"); do
  if [ "$round" -gt 1 ]; then switch_to r1; fi
  log "round $round: through the owner (r1)"
  measure owner "$round"
  log "round $round: switching the entry's next connection to r2 and cutting the current one"
  switch_to r2
  log "round $round: through r2 relaying to r1"
  measure relayed "$round"
done
RELAYED=$(curl -fsS "http://127.0.0.1:${MGMT[r2]}/q/metrics" | sed -n 's/^splitstream_exit_relayed_total{transport="websocket"[^}]*} \([0-9.]*\)/\1/p')
[ "${RELAYED%.*}" -ge "$ROUNDS" ] 2>/dev/null || die "r2 relayed fewer legs than rounds (relayed_total=$RELAYED)"
for k in owner.tp owner.p50 owner.p99 relayed.tp relayed.p50 relayed.p99; do R[$k]=$(median <<<"${R[$k]}"); done

# Two rounds in alternating order, so a change of the machine's load does not favour one side.
setup() { "${SETUP[@]}" "ws://127.0.0.1:${HTTP[$1]}" default "$TOKEN" "$SETUP_WORKERS" "$SETUP_SECONDS"; }
log "session set-up, round 1: memory, then postgres"
OUT_MEM=$(setup mem)
OUT_PG=$(setup r1)
log "session set-up, round 2: postgres, then memory"
OUT_PG2=$(setup r1)
OUT_MEM2=$(setup mem)
AUDITED=$("${AS_PG[@]}" psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -At -c "SELECT count(*) FROM audit_log WHERE kind = 'session'" postgres 2>/dev/null || echo '?')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
echo "| round | path (1 connection, WebSocket) | upload MiB/s | RTT p50 us | RTT p99 us |"
echo "|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "| medians of $ROUNDS rounds | upload MiB/s | RTT p50 us | RTT p99 us |"
echo "|---|---|---|---|"
echo "| entry -> owner replica | ${R[owner.tp]} | ${R[owner.p50]} | ${R[owner.p99]} |"
echo "| entry -> other replica -> owner (relayed) | ${R[relayed.tp]} | ${R[relayed.p50]} | ${R[relayed.p99]} |"
echo "| relayed / direct | $(ratio "${R[relayed.tp]}" "${R[owner.tp]}") | $(ratio "${R[relayed.p50]}" "${R[owner.p50]}") | $(ratio "${R[relayed.p99]}" "${R[owner.p99]}") |"
echo
echo "| registry | sessions set up per s ($SETUP_WORKERS loops, ${SETUP_SECONDS}s) | p50 ms | p99 ms | failures |"
echo "|---|---|---|---|---|"
row() { echo "| $1 | $(field rate <<<"$2") | $(field p50_ms <<<"$2") | $(field p99_ms <<<"$2") | $(field failures <<<"$2") |"; }
row "memory (round 1)" "$OUT_MEM"
row "postgres (round 1)" "$OUT_PG"
row "postgres (round 2)" "$OUT_PG2"
row "memory (round 2)" "$OUT_MEM2"
echo
echo "audit rows of kind 'session' written by then: $AUDITED"
