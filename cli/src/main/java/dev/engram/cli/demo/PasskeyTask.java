package dev.engram.cli.demo;

import java.util.SplittableRandom;

/**
 * The synthetic passkey task the demo models were trained on (tools/engram_model/passkey.py is the
 * definition; this is its Java twin for evaluation). Vocabulary of 32 ids: 0-9 digits, 10 bos,
 * 11 "the passkey is", 12 "what is the passkey", 13 unk, 14 ".", 15-31 filler words. A sequence is
 * {@code <bos> filler.. <passkey-is> d1..dK . filler.. <what-is-the-passkey>} and the answer is d1..dK.
 */
public final class PasskeyTask {
    public static final int BOS = 10;
    public static final int KEY = 11;
    public static final int ASK = 12;
    public static final int DOT = 14;
    /** "the grass is green . the sky is blue . the sun is yellow . here we go . there and back again ." */
    static final int[] FILLER = {15, 16, 17, 18, 14, 15, 19, 17, 20, 14, 15, 21, 17, 22, 14, 23, 24, 25, 14, 26, 27,
            28, 29, 14};

    private PasskeyTask() {
    }

    /** Filler tokens in a sequence of {@code length}: the passkey block can follow 0..room of them. */
    public static int room(int length, int digits) {
        int room = length - 1 - (digits + 2) - (digits + 1);
        if (room < 0) {
            throw new IllegalArgumentException("length " + length + " is too short for a " + digits + "-digit passkey;"
                    + " valid: >= " + (length - room) + " tokens (bos, the passkey block and the question)");
        }
        return room;
    }

    /** A prompt (everything up to and including the question) and its passkey. */
    public record Sample(int[] prompt, int[] passkey) {
    }

    /**
     * A sequence of {@code length} tokens including the answer; the prompt is its first
     * {@code length - digits} tokens. {@code depth} in [0, 1] places the passkey block within the filler.
     */
    public static Sample sample(SplittableRandom random, int length, int digits, double depth) {
        if (!(depth >= 0 && depth <= 1)) {
            throw new IllegalArgumentException("depth " + depth + ": must be in [0, 1]");
        }
        return sampleAt(random, length, digits, (int) Math.round(depth * room(length, digits)));
    }

    /**
     * As {@link #sample}, with the passkey block after {@code position} filler tokens: {@code <passkey-is>} at
     * index {@code 1 + position}; {@code position == room(length, digits)} puts it directly before the question.
     */
    public static Sample sampleAt(SplittableRandom random, int length, int digits, int position) {
        int room = room(length, digits);
        if (position < 0 || position > room) {
            throw new IllegalArgumentException("position " + position + ": must be in [0, " + room + "] at length " + length);
        }
        int[] passkey = new int[digits];
        for (int i = 0; i < digits; i++) {
            passkey[i] = random.nextInt(10);
        }
        int[] prompt = new int[length - digits];
        int start = random.nextInt(FILLER.length);
        int f = 0;
        int t = 0;
        prompt[t++] = BOS;
        for (int i = 0; i < position; i++, f++) {
            prompt[t++] = FILLER[(start + f) % FILLER.length];
        }
        prompt[t++] = KEY;
        for (int d : passkey) {
            prompt[t++] = d;
        }
        prompt[t++] = DOT;
        for (int i = position; i < room; i++, f++) {
            prompt[t++] = FILLER[(start + f) % FILLER.length];
        }
        prompt[t] = ASK;
        return new Sample(prompt, passkey);
    }
}
