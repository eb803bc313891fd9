package dev.engram.baselines.position;

/**
 * ALiBi (Press et al. 2022): no rotation; the logit of query position i for key position j gets
 * {@code -m_h * (i - j)}, with slope {@code m_h = 2^(-8 (h + 1) / H)} for query head h = 0..H-1.
 * For H a power of two these are the paper's slopes; for other H this formula is used as is
 * (the paper's interpolation for non-powers of two is not applied). Query heads sharing a kv head
 * (grouped-query attention) keep their own slopes.
 */
public final class Alibi {
    private Alibi() {
    }

    /** The slope of query head {@code head} out of {@code heads}. */
    public static double slope(int head, int heads) {
        return Math.pow(2.0, -8.0 * (head + 1) / heads);
    }

    /** All H slopes, rounded to float32 as the fast path uses them. */
    public static float[] slopes(int heads) {
        float[] m = new float[heads];
        for (int h = 0; h < heads; h++) {
            m[h] = (float) slope(h, heads);
        }
        return m;
    }
}
