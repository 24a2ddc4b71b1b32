package dev.splitstream.entry;

import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.annotations.QuarkusMain;

/** Entry node entry point. */
@QuarkusMain
public class EntryMain {
    public static void main(String... args) {
        Quarkus.run(args);
    }
}
