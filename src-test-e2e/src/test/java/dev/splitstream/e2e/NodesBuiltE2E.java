package dev.splitstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class NodesBuiltE2E {
    @Test
    void bothNodeJarsArePackaged() {
        Path root = Path.of(System.getProperty("splitstream.root", ".."));
        assertThat(root.resolve("exit-node/target/quarkus-app/quarkus-run.jar")).isRegularFile();
        assertThat(root.resolve("entry-node/target/quarkus-app/quarkus-run.jar"))
                .isRegularFile();
    }
}
