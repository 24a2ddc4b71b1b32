package dev.splitstream.operator.crd.v1alpha1;

import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.annotation.JsonIgnore;
import java.util.ArrayList;
import java.util.List;

/**
 * Base of every spec object: remembers the names of fields it does not know, so the reconciler can report them
 * (a misspelt field would otherwise be dropped silently and the tunnel run with a default).
 */
public abstract class StrictObject {
    @JsonIgnore
    private final List<String> unknownFields = new ArrayList<>();

    @JsonAnySetter
    void unknownField(String name, Object ignored) {
        unknownFields.add(name);
    }

    /** Names of the fields present in the resource but not in the schema, in order of appearance. */
    @JsonIgnore
    public List<String> unknownFields() {
        return List.copyOf(unknownFields);
    }
}
