package dev.engram.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.engram.api.ConfigException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ConfigSchemaTest {
    enum Update { LINEAR, DELTA }

    static final ConfigKey<Update> UPDATE = ConfigKey.ofEnum("update", Update.class, Update.LINEAR, "rule");
    static final ConfigKey<Double> EPS = ConfigKey.ofDouble("eps", 1e-6, "eps").check(v -> v > 0, "> 0");
    static final ConfigKey<List<Double>> WIDTHS = ConfigKey.ofDoubleList("widths", List.of(0.005, 0.01), "widths");
    static final ConfigKey<Boolean> STICKY = ConfigKey.ofBoolean("sticky", false, "sticky");
    static final ConfigKey<Long> SEED = ConfigKey.ofLong("seed", 0, "seed");
    private final ConfigSchema schema = ConfigSchema.of(UPDATE, EPS, WIDTHS, STICKY, SEED);

    @Test
    void defaultsApplyToMissingKeys() {
        ProviderConfig c = schema.defaults();
        assertEquals(Update.LINEAR, c.get(UPDATE));
        assertEquals(1e-6, c.get(EPS));
        assertEquals(List.of(0.005, 0.01), c.get(WIDTHS));
    }

    @Test
    void valuesParseFromYamlScalarsAndFromStrings() {
        ProviderConfig c = schema.parse("t", Map.of("update", "delta", "eps", "1e-5", "widths", "[0.1, 0.2]",
                "sticky", "true", "seed", 42));
        assertEquals(Update.DELTA, c.get(UPDATE));
        assertEquals(1e-5, c.get(EPS));
        assertEquals(List.of(0.1, 0.2), c.get(WIDTHS));
        assertEquals(true, c.get(STICKY));
        assertEquals(42L, c.get(SEED));
        assertEquals(List.of(0.3), schema.parse("t", Map.of("widths", List.of(0.3))).get(WIDTHS));
    }

    @Test
    void everyProblemIsReportedWithKeyValueAndValidRange() {
        Map<String, Object> raw = new LinkedHashMap<>();
        raw.put("update", "detla");
        raw.put("eps", -1.0);
        raw.put("sticky", "yes");
        raw.put("seed", 1.5);
        raw.put("widht", List.of(1.0));
        ConfigException e = assertThrows(ConfigException.class, () -> schema.parse("layer 2 memory 'infini'", raw));
        assertEquals(List.of(
                "'update' is 'detla'; valid: one of [linear, delta]; did you mean 'delta'?",
                "'eps' is -1.0; valid: > 0",
                "'sticky' is 'yes'; valid: true or false",
                "'seed' is 1.5; valid: an integer",
                "unknown key 'widht'; did you mean 'widths'?; known keys: [update, eps, widths, sticky, seed]"),
                e.problems());
    }

    @Test
    void farMisspellingsGetNoSuggestion() {
        ConfigException e = assertThrows(ConfigException.class, () -> schema.parse("t", Map.of("zzzzzzzz", 1)));
        assertEquals("t: unknown key 'zzzzzzzz'; known keys: [update, eps, widths, sticky, seed]", e.getMessage());
    }

    @Test
    void rulesRunAfterKeysAreValid() {
        ConfigSchema withRule = schema.rule(c -> c.get(STICKY) && c.get(SEED) == 0 ? "'sticky' needs a nonzero 'seed'" : null);
        assertEquals(List.of("'sticky' needs a nonzero 'seed'"),
                assertThrows(ConfigException.class, () -> withRule.parse("t", Map.of("sticky", true))).problems());
        assertEquals(7L, withRule.parse("t", Map.of("sticky", true, "seed", 7)).get(SEED));
    }

    @Test
    void aKeyDeclaredTwiceIsAProgrammingError() {
        assertThrows(IllegalArgumentException.class, () -> ConfigSchema.of(EPS, EPS));
    }
}
