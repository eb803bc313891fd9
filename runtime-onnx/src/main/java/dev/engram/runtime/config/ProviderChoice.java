package dev.engram.runtime.config;

import dev.engram.spi.ProviderConfig;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * A provider picked by name for a layer, with its checked configuration.
 *
 * @param raw the keys as the user wrote them (what the provider's factory re-parses)
 */
public record ProviderChoice(String provider, ProviderConfig config, Map<String, Object> raw) {
    public ProviderChoice {
        Objects.requireNonNull(provider, "provider is null");
        Objects.requireNonNull(config, "config is null");
        raw = Collections.unmodifiableMap(new LinkedHashMap<>(raw)); // as written (Map.copyOf's order varies per run)
    }

    @Override
    public String toString() {
        return raw.isEmpty() ? provider : provider + " " + new TreeMap<>(raw); // sorted: the same text on every run
    }
}
