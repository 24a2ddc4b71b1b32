package dev.splitstream.exit;

import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.annotations.QuarkusMain;

/** Exit node entry point. */
@QuarkusMain
public class ExitMain {
    public static void main(String... args) {
        Quarkus.run(args);
    }
}
