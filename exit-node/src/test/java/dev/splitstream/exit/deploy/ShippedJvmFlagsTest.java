package dev.splitstream.exit.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The JVM flags are part of the product (issue 10): the launcher ({@code scripts/jvm-opts.sh}, also used by
 * {@code bench/tunnel.sh}) and the JVM images ({@code deploy/docker/*-node/Dockerfile.jvm}) must run the nodes with the
 * same ones, so what the benchmark measured is what ships; only the heap's size differs (the image sizes it from the
 * container's memory limit).
 */
class ShippedJvmFlagsTest {
    private static final Path ROOT = Path.of("..");

    @Test
    void jvmImagesRunTheLaunchersFlags() throws IOException {
        List<String> launcher = flags(ROOT.resolve("scripts/jvm-opts.sh"), "SPLITSTREAM_JAVA_OPTS=\"([^\"]*)\"");
        assertThat(launcher).contains("-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError");
        for (String node : List.of("exit-node", "entry-node")) {
            Path dockerfile = ROOT.resolve("deploy/docker/" + node + "/Dockerfile.jvm");
            List<String> image = flags(dockerfile, "ENV JAVA_TOOL_OPTIONS=\"([^\"]*)\"");
            // The heap: fixed in the launcher, from the container's memory limit in the image.
            List<String> notHeap = launcher.stream()
                    .filter(f -> !f.startsWith("-Xms") && !f.startsWith("-Xmx") && !f.startsWith("-Xmn"))
                    .toList();
            assertThat(image).as(dockerfile.toString()).containsAll(notHeap);
            assertThat(image).as(dockerfile.toString()).anyMatch(f -> f.startsWith("-XX:MaxRAMPercentage="));
        }
    }

    private static List<String> flags(Path file, String regex) throws IOException {
        Matcher m = Pattern.compile(regex).matcher(Files.readString(file));
        assertThat(m.find()).as("%s has %s", file, regex).isTrue();
        return Arrays.stream(m.group(1).trim().split("\\s+")).toList();
    }
}
