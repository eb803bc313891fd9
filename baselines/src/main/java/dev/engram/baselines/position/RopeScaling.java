package dev.engram.baselines.position;

import dev.engram.api.InvalidInputException;

/**
 * A transform of RoPE's per-pair frequencies for context extension. {@link #NONE} leaves them as
 * {@code theta^(-2i/d)}; {@link #llama3} is Llama 3.1's "llama3" {@code rope_scaling} (Meta's reference code
 * {@code apply_scaling}, Hugging Face {@code _compute_llama3_parameters}): with wavelength {@code w = 2 pi / f},
 * {@code lowWavelength = originalMaxPositions / lowFreqFactor} and {@code highWavelength = originalMaxPositions /
 * highFreqFactor},
 * <pre>
 *   w &lt; highWavelength                 : f                                   (high frequencies kept)
 *   w &gt; lowWavelength                  : f / factor                          (low frequencies slowed)
 *   otherwise, s = (originalMaxPositions / w - lowFreqFactor) / (highFreqFactor - lowFreqFactor):
 *                                         (1 - s) f / factor + s f            (smooth in between)
 * </pre>
 * computed in double precision like the rest of {@link Rope}.
 *
 * @param type                 none or llama3
 * @param factor               > 0
 * @param lowFreqFactor        > 0
 * @param highFreqFactor       > lowFreqFactor
 * @param originalMaxPositions >= 1, the context length the model was pretrained with
 */
public record RopeScaling(Type type, double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {
    /** Config values of {@code ropeScaling}. */
    public enum Type { NONE, LLAMA3 }

    public static final RopeScaling NONE = new RopeScaling(Type.NONE, 1.0, 1.0, 4.0, 8192);

    public RopeScaling {
        java.util.Objects.requireNonNull(type, "type is null");
        if (!(factor > 0) || Double.isInfinite(factor)) {
            throw InvalidInputException.outOfRange("ropeScalingFactor", factor, "a finite number > 0");
        }
        if (!(lowFreqFactor > 0) || Double.isInfinite(lowFreqFactor)) {
            throw InvalidInputException.outOfRange("ropeLowFreqFactor", lowFreqFactor, "a finite number > 0");
        }
        if (!(highFreqFactor > lowFreqFactor) || Double.isInfinite(highFreqFactor)) {
            throw InvalidInputException.outOfRange("ropeHighFreqFactor", highFreqFactor,
                    "a finite number > ropeLowFreqFactor (" + lowFreqFactor + ")");
        }
        if (originalMaxPositions < 1) {
            throw InvalidInputException.outOfRange("ropeOriginalMaxPositions", originalMaxPositions, "an integer >= 1");
        }
    }

    public static RopeScaling llama3(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {
        return new RopeScaling(Type.LLAMA3, factor, lowFreqFactor, highFreqFactor, originalMaxPositions);
    }

    /** The scaled frequency for an unscaled one. */
    public double apply(double frequency) {
        if (type == Type.NONE) {
            return frequency;
        }
        double wavelength = 2 * Math.PI / frequency;
        double lowWavelength = originalMaxPositions / lowFreqFactor;
        double highWavelength = originalMaxPositions / highFreqFactor;
        if (wavelength < highWavelength) {
            return frequency;
        }
        if (wavelength > lowWavelength) {
            return frequency / factor;
        }
        double smooth = (originalMaxPositions / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        return (1 - smooth) * frequency / factor + smooth * frequency;
    }
}
