package dev.engram.spi;

import dev.engram.api.Tensor;

/**
 * The per-head sigmoid gate that Infini-attention and the kNN memory share:
 * out = g_h * memory + (1 - g_h) * local, g_h = sigmoid(logit_h) (docs/schemes.md sections 1 and 4).
 */
public final class Gates {
    private Gates() {
    }

    public static float sigmoid(float x) {
        return (float) (1.0 / (1.0 + Math.exp(-x)));
    }

    /** The gate values for logits [H]. */
    public static float[] sigmoids(Tensor logits) {
        float[] g = new float[logits.size()];
        float[] a = logits.array();
        for (int i = 0; i < g.length; i++) {
            g[i] = sigmoid(a[logits.offset() + i]);
        }
        return g;
    }

    /** Writes g_h * memory + (1 - g_h) * local into {@code out}; all three [H, N, dv]. {@code out} may alias either input. */
    public static void combine(float[] gates, Tensor local, Tensor memory, Tensor out) {
        int heads = gates.length;
        int perHead = out.size() / heads;
        float[] l = local.array();
        float[] m = memory.array();
        float[] o = out.array();
        for (int h = 0; h < heads; h++) {
            float g = gates[h];
            float rest = 1f - g;
            int lo = local.offset() + h * perHead;
            int mo = memory.offset() + h * perHead;
            int oo = out.offset() + h * perHead;
            for (int i = 0; i < perHead; i++) {
                o[oo + i] = g * m[mo + i] + rest * l[lo + i];
            }
        }
    }
}
