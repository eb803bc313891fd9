package dev.engram.runtime.model;

import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The name of a provider weight in a package's safetensors file, {@code layers.{layer}.{provider}.{weight}}
 * (e.g. {@code layers.3.infini.beta}): the one place that spells it, for reading a package, naming a weight in a
 * message, and writing one ({@code engram weights}, the bench's weight filler).
 */
public record WeightKey(int layer, String provider, String weight) {
    /** The form, as messages show it. */
    public static final String FORM = "layers.{layer}.{provider}.{weight}";
    private static final Pattern PATTERN = Pattern.compile("layers\\.(\\d+)\\.([a-z][a-z0-9-]*)\\.(.+)");

    /** {@code layers.{layer}.{provider}.{weight}}. */
    public static String of(int layer, String provider, String weight) {
        return prefix(layer, provider) + weight;
    }

    /** {@code layers.{layer}.{provider}.}: what precedes a weight's own name. */
    public static String prefix(int layer, String provider) {
        return "layers." + layer + "." + provider + ".";
    }

    /** The parts of {@code key}, or empty when it does not have the form {@link #FORM}. */
    public static Optional<WeightKey> parse(String key) {
        Matcher m = PATTERN.matcher(key);
        if (!m.matches()) {
            return Optional.empty();
        }
        try {
            return Optional.of(new WeightKey(Integer.parseInt(m.group(1)), m.group(2), m.group(3)));
        } catch (NumberFormatException e) {
            return Optional.empty(); // a layer number beyond int: not a key any model can have
        }
    }

    @Override
    public String toString() {
        return of(layer, provider, weight);
    }
}
