#!/usr/bin/env sh
# Throughput of the protocol library on one core: encode/decode of 32 KiB DATA frames, and two sessions moving
# bytes over an in-memory transport. Usage: bench/protocol.sh [--quick]
set -e
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
"$ROOT/mvnw" -B -q -pl protocol test-compile
CP="$ROOT/protocol/target/classes:$ROOT/protocol/target/test-classes"
# One core, as the target is stated; a fixed heap so GC sizing does not vary between runs.
exec taskset -c 0 java -Xms1g -Xmx1g -XX:+UseParallelGC -cp "$CP" dev.splitstream.protocol.ProtocolBench "$@"
