package dev.engram.spi;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/** A parsed, checked provider configuration: every key of the schema has a value (given or default). */
public final class ProviderConfig {
    private final Map<String, Object> values;
    private final Set<String> explicit;

    ProviderConfig(Map<String, Object> values, Set<String> explicit) {
        this.values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
        this.explicit = Set.copyOf(explicit);
    }

    @SuppressWarnings("unchecked")
    public <T> T get(ConfigKey<T> key) {
        if (!values.containsKey(key.name())) {
            throw new IllegalArgumentException("config key '" + key.name() + "' is not in this provider's schema");
        }
        return (T) values.get(key.name());
    }

    /** Whether the user set {@code key} (as opposed to taking its default). */
    public boolean isSet(ConfigKey<?> key) {
        return explicit.contains(key.name());
    }

    /** Every key and its value, in schema order. */
    public Map<String, Object> asMap() {
        return values;
    }

    @Override
    public String toString() {
        return values.toString();
    }
}
