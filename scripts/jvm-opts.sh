# Default JVM flags for a node (sourced by ./splitstream and bench/tunnel.sh; JAVA_OPTS replaces them).
# Small footprint: each node stays under 256 MiB RSS through bulk transfers and 1,000 idle connections. SerialGC: two
# cores and a small heap need no concurrent collector threads or regions; Netty's arenas default to 2 per core.
# ExitOnOutOfMemoryError: a node whose heap ran out exits (a supervisor restarts it) instead of limping in full GC.
# shellcheck disable=SC2034
SPLITSTREAM_JAVA_OPTS="-Xms32m -Xmx192m -XX:+ExitOnOutOfMemoryError -XX:+UseSerialGC -XX:MaxDirectMemorySize=64m -Xss512k -XX:ReservedCodeCacheSize=48m -XX:MaxMetaspaceSize=128m -Dio.netty.allocator.numDirectArenas=2 -Dio.netty.allocator.numHeapArenas=2"
