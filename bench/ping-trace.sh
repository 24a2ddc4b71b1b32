#!/usr/bin/env bash
# Where a ping waits behind bulk: a node pair (WebSocket, the shipped flags) carries 8 bulk uploads and a 1-byte
# ping-pong at once, and `perf record` takes kernel tracepoints of both nodes for TRACE_SECS: the returns of the
# system calls that move one byte (filtered in the kernel), of epoll_wait and of large reads. Each ping is then cut
# into four legs by the system calls that move its byte:
#   up    the entry reads it from the client socket -> the exit writes it to the target socket
#   echo  the exit wrote it to the target -> the exit reads the echo (the target answers at once: the rest is the
#         exit's event loop busy elsewhere)
#   down  the exit read the echo -> the entry writes it to the client socket
#   back  the entry wrote it to the client -> the entry reads the client's next ping (the client answers at once)
# and the entry's event-loop turns (epoll_wait to epoll_wait: length, sockets ready, 64 KiB reads) are summarised.
# Not a test. Needs perf (Debian's linux-perf) and root or kernel.perf_event_paranoid <= 1.
#   bench/ping-trace.sh                  (env: BENCH_NODES_DIR=. the checkout whose jars run, WARM=20 s of warm-up,
#                                         TRACE_SECS=1, CONNS=8 bulk connections, EXTRA= more flags for both nodes)
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "$0")/.." && pwd)
D=$(cd -- "${BENCH_NODES_DIR:-$ROOT}" && pwd)
WARM=${WARM:-20}; TRACE_SECS=${TRACE_SECS:-1}; CONNS=${CONNS:-8}; EXTRA=${EXTRA:-}
command -v perf >/dev/null || { echo "perf is not installed (Debian: linux-perf)" >&2; exit 2; }
for j in exit-node entry-node; do
  [ -f "$D/$j/target/quarkus-app/quarkus-run.jar" ] || { echo "no $j jar in $D: build it first (./mvnw -B -q install -DskipTests)" >&2; exit 2; }
done
W=$(mktemp -d "${TMPDIR:-/tmp}/splitstream-ping-trace.XXXXXX"); PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
fp() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
javac -d "$W/classes" "$ROOT/bench/TunnelBench.java"
mkfifo "$W/t.in"; java -Xmx64m -XX:+UseSerialGC -cp "$W/classes" TunnelBench server <"$W/t.in" >"$W/t.port" 2>&1 & PIDS+=($!)
exec 7>"$W/t.in"
for i in $(seq 1 40); do [ -s "$W/t.port" ] && break; sleep 0.25; done
TARGET=$(head -1 "$W/t.port")
TOKEN=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
# the build's own flags and malloc settings, as its ./splitstream would start it
OPTS=$( (unset ${!MALLOC_*}; . "$D/scripts/jvm-opts.sh"; echo "$SPLITSTREAM_JAVA_OPTS") )
ENVS=$( (unset ${!MALLOC_*}; . "$D/scripts/jvm-opts.sh"; env | grep '^MALLOC_' | tr '\n' ' ') )
EH=$(fp); FWD=$(fp)
# shellcheck disable=SC2086
env $ENVS SPLITSTREAM_TOKEN=$TOKEN java $OPTS $EXTRA -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port=$EH \
  -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port=$(fp) -Dsplitstream.exit.allow=127.0.0.1:$TARGET \
  -jar "$D/exit-node/target/quarkus-app/quarkus-run.jar" >"$W/exit.log" 2>&1 & EXIT=$!; PIDS+=($EXIT)
for i in $(seq 1 120); do (exec 3<>/dev/tcp/127.0.0.1/$EH) 2>/dev/null && break; sleep 0.5; done
# shellcheck disable=SC2086
env $ENVS SPLITSTREAM_TOKEN=$TOKEN java $OPTS $EXTRA -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port=$(fp) \
  -Dsplitstream.entry.state-file="$W/state.json" -Dsplitstream.entry.forwards=127.0.0.1:$FWD=127.0.0.1:$TARGET \
  -Dsplitstream.entry.server=ws://127.0.0.1:$EH -Dsplitstream.entry.transport=websocket \
  -jar "$D/entry-node/target/quarkus-app/quarkus-run.jar" >"$W/entry.log" 2>&1 & ENTRY=$!; PIDS+=($ENTRY)
for i in $(seq 1 120); do grep -qs 'session established' "$W/entry.log" && (exec 3<>/dev/tcp/127.0.0.1/$FWD) 2>/dev/null && break; sleep 0.5; done
grep -qs 'session established' "$W/entry.log" || { echo "the entry did not establish a session; logs in $W" >&2; trap - EXIT; cleanup; exit 1; }
T() { timeout 120 java -Xmx512m -XX:+UseSerialGC -cp "$W/classes" TunnelBench "$@"; }
echo "nodes from $D ($(git -C "$D" log -1 --format=%h 2>/dev/null || echo '?')), exit $EXIT, entry $ENTRY; warming $WARM s"
T throughput $FWD 2 $((WARM / 2)) >/dev/null; T rtt $FWD 2000 >/dev/null; T throughput $FWD $CONNS $((WARM / 2)) >/dev/null
echo "ping alone:           $(T rtt $FWD 3000)"
T throughput $FWD $CONNS $((TRACE_SECS + 8)) >"$W/bulk.out" & BULK=$!
sleep 1; echo "ping under $CONNS uploads: $(T rtt $FWD 1000000 3)"
T rtt $FWD 1000000 $((TRACE_SECS + 2)) >"$W/rtt.out" & RTT=$!
sleep 0.5
# exits of the calls that move one byte (filtered in the kernel: tracing every call tripled the ping's time) and of
# epoll_wait (one per event-loop turn), and of reads of 32 KiB or more
perf record -q -o "$W/perf.data" -p "$ENTRY,$EXIT" -e syscalls:sys_exit_read --filter 'ret == 1' \
  -e syscalls:sys_exit_write --filter 'ret == 1' -e syscalls:sys_exit_writev --filter 'ret == 1' \
  -e syscalls:sys_exit_read --filter 'ret >= 32768' -e syscalls:sys_exit_epoll_wait -- sleep "$TRACE_SECS" >/dev/null 2>&1 || true
perf script -i "$W/perf.data" -F tid,time,event,trace >"$W/trace.txt" 2>/dev/null
wait $RTT; wait $BULK
echo "ping while traced:    $(cat "$W/rtt.out")   uploads: $(cat "$W/bulk.out")"
ls /proc/$ENTRY/task >"$W/entry.tids"
python3 - "$W/trace.txt" "$W/entry.tids" <<'EOF'
import re, sys
entry = set(open(sys.argv[2]).read().split())
ev = []  # (seconds, node, call, return value, tid)
for l in open(sys.argv[1]):
    m = re.match(r'\s*(\d+)\s+([\d.]+):\s+syscalls:sys_exit_(\w+):.*?(0x[0-9a-f]+|-?\d+)\s*$', l)
    if m:
        ret = int(m[4], 16) if m[4].startswith('0x') else int(m[4])
        ev.append((float(m[2]), 'entry' if m[1] in entry else 'exit', m[3], ret, m[1]))
ev.sort()
if not ev:
    sys.exit('nothing traced: is perf allowed to trace these processes (root, or kernel.perf_event_paranoid <= 1)?')
# only the ping moves single bytes: the entry reads it from the client and writes the answer back, the exit writes it
# to the target and reads the echo
kind = {('entry', 'read'): 'entry-read', ('entry', 'write'): 'entry-write', ('entry', 'writev'): 'entry-write',
        ('exit', 'write'): 'exit-write', ('exit', 'writev'): 'exit-write', ('exit', 'read'): 'exit-read'}
marks = [(t, kind[(n, c)]) for t, n, c, ret, tid in ev if ret == 1 and (n, c) in kind]
names = {('entry-read', 'exit-write'): 'up', ('exit-write', 'exit-read'): 'echo',
         ('exit-read', 'entry-write'): 'down', ('entry-write', 'entry-read'): 'back'}
legs = {k: [] for k in names.values()}
for (t0, a), (t1, b) in zip(marks, marks[1:]):
    if (a, b) in names:
        legs[names[(a, b)]].append((t1 - t0) * 1e6)
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] if v else float('nan')
print(f"traced {len(legs['up'])} pings; microseconds per leg:")
print(f"  {'leg':6} {'p50':>8} {'p90':>8}")
for k in ['up', 'echo', 'down', 'back']:
    print(f"  {k:6} {pct(legs[k], .5):8.0f} {pct(legs[k], .9):8.0f}")
# the entry's event-loop turns on the loop that serves the ping's socket: from one epoll_wait's return to the next
loop = next((tid for t, n, c, ret, tid in ev if n == 'entry' and c == 'read' and ret == 1), None)
turns, cur = [], None
for t, n, c, ret, tid in ev:
    if tid != loop:
        continue
    if c == 'epoll_wait':
        if cur:
            turns.append(((t - cur[0]) * 1e6, cur[1], cur[2]))
        cur = [t, ret, 0]
    elif cur and c == 'read' and ret >= 32768:
        cur[2] += 1
if turns:
    print(f"entry event-loop turns: {len(turns)}, length p50 {pct([x[0] for x in turns], .5):.0f} us / p90 "
          f"{pct([x[0] for x in turns], .9):.0f} us; sockets ready p50 {pct([x[1] for x in turns], .5)}; "
          f"reads of 32 KiB or more per turn p50 {pct([x[2] for x in turns], .5)} / p90 {pct([x[2] for x in turns], .9)}")
EOF
echo "trace in $W/trace.txt"
trap - EXIT; cleanup
