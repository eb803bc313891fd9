package dev.engram.baselines.position;

/** Which positional encoding a baseline attention applies (config key {@code positional}). */
public enum PositionalEncoding {
    /** No positional information: logits are q.k / sqrt(dk). */
    NONE,
    /** Rotary embedding, "rotate half" convention ({@link Rope}). */
    ROPE,
    /** Linear logit bias -m_h * (i - j) ({@link Alibi}). */
    ALIBI
}
