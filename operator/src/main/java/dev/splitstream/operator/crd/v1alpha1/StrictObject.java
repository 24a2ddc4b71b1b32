package dev.splitstream.operator.crd.v1alpha1;

import com.fasterxml.jackson.annotation.JsonAnyGetter;
import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.annotation.JsonIgnore;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Base of every spec object: keeps the fields it does not know, so the reconciler can report them (a misspelt field
 * would otherwise be dropped silently and the tunnel run with a default). They are written back on serialization
 * because the operator SDK clones resources through JSON.
 */
public abstract class StrictObject {
    @JsonIgnore
    private final Map<String, Object> unknownFields = new LinkedHashMap<>();

    @JsonAnySetter
    void setUnknownField(String name, Object value) {
        unknownFields.put(name, value);
    }

    @JsonAnyGetter
    Map<String, Object> getUnknownFields() {
        return unknownFields;
    }

    /** Names of the fields present in the resource but not in the schema, in order of appearance. */
    public List<String> unknownFields() {
        return List.copyOf(unknownFields.keySet());
    }
}
