package dev.engram.memory.continuous;

import dev.engram.api.Capability;
import dev.engram.api.LayerSpec;
import dev.engram.api.LongTermMemory;
import dev.engram.spi.ConfigKey;
import dev.engram.spi.ConfigSchema;
import dev.engram.spi.LayerContext;
import dev.engram.spi.LongTermMemoryProvider;
import dev.engram.spi.ProviderConfig;
import dev.engram.spi.SpiVersion;
import dev.engram.spi.WeightSpec;
import java.util.ArrayList;
import java.util.List;

/**
 * Provider {@code continuous}: the ∞-former's continuous long-term memory (Martins et al. 2022,
 * arXiv 2109.00301) with sticky memories, exactly as docs/schemes.md section 2 states.
 */
public final class ContinuousMemoryProvider implements LongTermMemoryProvider {
    public static final String NAME = "continuous";
    static final int STATE_VERSION = 1;

    /** Whether new rows pass through the convolutional input gate before the fit. */
    public enum InputGate { NONE, CONV }

    public static final ConfigKey<Integer> BASIS = ConfigKey.ofInt("basis", 512,
            "number N of Gaussian basis functions; a multiple of the number of widths (even for two)")
            .check(v -> v >= 2, ">= 2 and a multiple of the number of widths");
    public static final ConfigKey<List<Double>> WIDTHS = ConfigKey.ofDoubleList("widths", List.of(0.005, 0.01),
            "standard deviations of the basis functions; every centre is taken with each width")
            .check(v -> v.stream().allMatch(w -> w > 0), "a non-empty list of numbers > 0");
    public static final ConfigKey<Double> LAMBDA = ConfigKey.ofDouble("lambda", 0.5,
            "ridge penalty of the coefficient fit").check(v -> v > 0, "> 0");
    public static final ConfigKey<Tau> TAU = ConfigKey.of("tau", Tau.class, Tau.of(0.5), Tau::parse, Tau.VALID,
            "fraction of [0, 1] the resampled old signal is squeezed into on an update; 'uniform' gives each token "
                    + "written an equal share (an Engram option: the paper's tau is fixed)");
    public static final ConfigKey<Integer> SAMPLES = ConfigKey.ofInt("samples", 512,
            "number M of points the old signal is sampled at on an update").check(v -> v >= 1, ">= 1");
    public static final ConfigKey<Boolean> STICKY = ConfigKey.ofBoolean("sticky", false,
            "sample the old signal where this segment's reads attended (sticky memories)");
    public static final ConfigKey<Integer> BINS = ConfigKey.ofInt("bins", 128,
            "number D of equal bins on [0, 1] sticky sampling draws from").check(v -> v >= 1, ">= 1");
    public static final ConfigKey<Long> SEED = ConfigKey.ofLong("seed", 0L,
            "seed of the uniform stream of sticky sampling (SplitMix64, as java.util.SplittableRandom)");
    public static final ConfigKey<Double> SIGMA_MIN2 = ConfigKey.ofDouble("sigmaMin2", 1e-4,
            "lower bound of the read's Gaussian variance").check(v -> v > 0, "> 0");
    public static final ConfigKey<Long> RESET_EVERY = ConfigKey.ofLong("resetEvery", 0L,
            "empty the memory before a write once this many tokens were written since the last reset; 0 = never")
            .check(v -> v >= 0, ">= 0");
    public static final ConfigKey<InputGate> INPUT_GATE = ConfigKey.ofEnum("inputGate", InputGate.class, InputGate.NONE,
            "gate the new rows with X * sigmoid(conv1d(X)) (kernel 3, padding 1) before the fit");

    private static final ConfigSchema SCHEMA = ConfigSchema.of(BASIS, WIDTHS, LAMBDA, TAU, SAMPLES, STICKY, BINS,
                    SEED, SIGMA_MIN2, RESET_EVERY, INPUT_GATE)
            .rule(c -> c.get(BASIS) % c.get(WIDTHS).size() == 0 ? null
                    : "'basis' is " + c.get(BASIS) + "; valid: a multiple of the number of widths ("
                    + c.get(WIDTHS).size() + "), so every centre has every width")
            .rule(ContinuousMemoryProvider::conditioning);

    public ContinuousMemoryProvider() {
    }

    /**
     * Refuses configurations whose ridge system cannot be solved accurately: the bound of
     * {@link RidgeFits#conditionBound} for the update's position set with M new rows above
     * {@link RidgeFits#MAX_CONDITION}. Tiny lambda with narrow widths is the usual cause.
     */
    private static String conditioning(ProviderConfig c) {
        RbfBasis basis = new RbfBasis(c.get(BASIS), c.get(WIDTHS));
        int m = c.get(SAMPLES);
        double lambda = c.get(LAMBDA);
        Tau tau = c.get(TAU);
        // A uniform tau moves with every write: bound both ends, the old samples or the new rows all at one point.
        double bound = tau.uniform()
                ? Math.max(RidgeFits.conditionBound(basis, lambda, RidgeFits.updatePositions(0, m, m)),
                        RidgeFits.conditionBound(basis, lambda, RidgeFits.updatePositions(1, m, m)))
                : RidgeFits.conditionBound(basis, lambda, RidgeFits.updatePositions(tau.fixed(), m, m));
        if (bound <= RidgeFits.MAX_CONDITION) {
            return null;
        }
        double needed = (bound - 1) * lambda / (RidgeFits.MAX_CONDITION - 1);
        return String.format("'lambda' is %s: with basis %d, widths %s and samples %d the ridge system "
                        + "F F^T + lambda I may have condition number up to %.3g (limit %.0e), too ill-conditioned "
                        + "to solve accurately; valid: lambda >= %.3g, or wider 'widths' (the centre spacing is %.3g)",
                lambda, c.get(BASIS), c.get(WIDTHS), m, bound, RidgeFits.MAX_CONDITION, needed,
                1.0 / Math.max(1, c.get(BASIS) / c.get(WIDTHS).size() - 1));
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int spiVersion() {
        return SpiVersion.CURRENT;
    }

    @Override
    public int stateVersion() {
        return STATE_VERSION;
    }

    @Override
    public ConfigSchema configSchema() {
        return SCHEMA;
    }

    @Override
    public List<WeightSpec> weights(LayerSpec spec, ProviderConfig config) {
        int n = config.get(BASIS);
        int e = spec.modelDim();
        List<WeightSpec> list = new ArrayList<>(List.of(
                WeightSpec.required("proj_key", spec.heads() * spec.keyDim(), e),
                WeightSpec.required("proj_value", spec.heads() * spec.valueDim(), e),
                WeightSpec.required("mu.weight", n),
                WeightSpec.required("mu.bias", 1),
                WeightSpec.required("sigma.weight", n),
                WeightSpec.required("sigma.bias", 1),
                WeightSpec.required("out", e, spec.heads() * spec.valueDim())));
        if (config.get(INPUT_GATE) == InputGate.CONV) {
            list.add(WeightSpec.required("gate.weight", e, e, 3));
            list.add(WeightSpec.required("gate.bias", e));
        }
        return List.copyOf(list);
    }

    @Override
    public boolean supports(Capability capability, ProviderConfig config) {
        return switch (capability) {
            // Reads use only the query heads; keys and values come from the memory's own projections.
            case GROUPED_QUERY_HEADS, VARIABLE_SEGMENT_LENGTH, CAUSAL, CONSTANT_STATE_SIZE, PARTIAL_ROWS, EXACT_ROWS -> true;
            case STOCHASTIC -> config.get(STICKY);
            case HELD_ROWS -> false; // an attention's capability
        };
    }

    @Override
    public LongTermMemory create(LayerContext context) {
        return new ContinuousMemory(context, this);
    }
}
