package dev.engram.spi;

import java.util.Arrays;
import java.util.Objects;

/**
 * A learned parameter a provider needs, by the name docs/schemes.md gives it.
 *
 * @param required false for weights the provider can do without (for example rotations it can generate from a seed)
 */
public record WeightSpec(String name, int[] shape, boolean required) {
    public WeightSpec {
        Objects.requireNonNull(name, "name is null");
        shape = shape.clone();
    }

    public static WeightSpec required(String name, int... shape) {
        return new WeightSpec(name, shape, true);
    }

    public static WeightSpec optional(String name, int... shape) {
        return new WeightSpec(name, shape, false);
    }

    @Override
    public int[] shape() {
        return shape.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof WeightSpec w && w.name.equals(name) && Arrays.equals(w.shape, shape) && w.required == required;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + Arrays.toString(shape) + (required ? "" : " (optional)");
    }
}
