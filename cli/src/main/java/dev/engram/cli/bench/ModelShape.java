package dev.engram.cli.bench;

/** The shape of the random model the bench exports (decoder, kvHeads = heads, rope, MLP 4x). */
public record ModelShape(String name, int layers, int heads, int dim, int vocab, int segment, long seed) {
    /** Small enough that --quick finishes in minutes on 2 cores. */
    public static final ModelShape QUICK = new ModelShape("quick-4x256", 4, 4, 256, 1024, 128, 1);
    /** GPT-2 small: 12 layers, 12 heads, 768 dims, GPT-2's vocabulary size. */
    public static final ModelShape GPT2_SMALL = new ModelShape("gpt2-small", 12, 12, 768, 50257, 256, 1);

    /** A stamp stored beside the package so a later run reuses it only when the shape is the same. */
    public String stamp() {
        return String.format("%s layers=%d heads=%d dim=%d vocab=%d segment=%d seed=%d", name, layers, heads, dim, vocab, segment, seed);
    }
}
