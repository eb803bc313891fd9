package dev.engram.api;

import java.util.Map;
import java.util.Objects;

/**
 * What a {@link LongTermMemory} read returns for one segment (docs/schemes.md section 0).
 *
 * <p>Either a per-head readout that {@link LongTermMemory#combine} mixes with the local attention
 * output (Infini-attention, kNN memory), or a model-space addend that the post-attention block adds
 * after the output projection (the ∞-former). {@code diagnostics} carries named intermediate values
 * that conformance checks compare (for example {@code mu} and {@code sigma2}); it may be empty.
 */
public sealed interface Readout {
    Map<String, Tensor> diagnostics();

    /** @param values the raw memory readout [H, N, dv] */
    record PerHead(Tensor values, Map<String, Tensor> diagnostics) implements Readout {
        public PerHead {
            Objects.requireNonNull(values, "values is null");
            diagnostics = Map.copyOf(diagnostics);
        }

        public PerHead(Tensor values) {
            this(values, Map.of());
        }
    }

    /** @param addend model-space output [N, e], added after the attention output projection */
    record ModelSpace(Tensor addend, Map<String, Tensor> diagnostics) implements Readout {
        public ModelSpace {
            Objects.requireNonNull(addend, "addend is null");
            diagnostics = Map.copyOf(diagnostics);
        }

        public ModelSpace(Tensor addend) {
            this(addend, Map.of());
        }
    }
}
