package dev.engram.api;

import java.util.Objects;

/**
 * Random draws in [0, 1) that a stochastic scheme ({@link Capability#STOCHASTIC}) uses for this segment instead of
 * its own seeded generator: the ∞-former's sticky-memory sampling takes them (memory-continuous/README.md says how
 * many). Without the extension a stochastic provider draws from its seeded stream.
 *
 * @param uniforms [M], every value in [0, 1)
 */
public record SamplingDraws(Tensor uniforms) implements SegmentExtension {
    public SamplingDraws {
        Objects.requireNonNull(uniforms, "uniforms is null");
        if (uniforms.rank() != 1) {
            throw new ShapeMismatchException("segment.uniforms", "has rank " + uniforms.rank() + "; expected [M]");
        }
        float[] u = uniforms.array();
        for (int i = 0; i < uniforms.size(); i++) {
            float x = u[uniforms.offset() + i];
            if (!(x >= 0f && x < 1f)) {
                throw InvalidInputException.outOfRange("segment.uniforms[" + i + "]", x, "[0, 1)");
            }
        }
    }
}
