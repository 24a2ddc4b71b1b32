#!/usr/bin/env sh
# Per-frame cost of frame protection (AES-GCM) on one thread: seal, seal+open and a bare Cipher.init, at 1 B, 1 KiB and
# 16 KiB DATA frames; CPU ns and heap bytes allocated per frame. Usage: bench/seal.sh [--quick]
set -e
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
"$ROOT/mvnw" -B -q -pl protocol test-compile
CP="$ROOT/protocol/target/classes:$ROOT/protocol/target/test-classes"
exec java -Xms256m -Xmx256m -XX:+UseParallelGC -cp "$CP" dev.splitstream.protocol.SealBench "$@"
