package dev.engram.runtime.text;

import java.util.List;

/** The short texts both the comparison ({@link Oracle}) and the recorder ({@link Emit}) start from. */
final class Corpus {
    static final List<String> SHORT_TEXTS = List.of(
            "hello the world", "Hello, World! It's 2026; we've 12345 tokens... don't they'll WE'RE",
            "a  b", "a   b  ", "  leading", "tabs\t\tand\nnew\n\nlines\r\n", "trailing   ",
            "naïve café ✓ 😀 👨‍👩‍👧", "Привет мир", "日本語のテキスト", "e\u0301 combining", "\u00a0nbsp\u2003em", "zero\u200bwidth",
            "<|endoftext|>", "x<|endoftext|>y", "a <mask> b", "a    <mask>b", "<mask>", "x<mask>", "[WORD] here", "in[WORD]side",
            "[WORD]   next", "a [WORD]", "[WORD][WORD]", "_[WORD]", "[WORD]é", "", " ", "\n", "''s 's'", "I'M", "3.14159 1,000,000",
            "def f(x):\n    return x**2  # comment\n", "<<mask>>", "<|endoftext|><|endoftext|>");

    private Corpus() {
    }
}
