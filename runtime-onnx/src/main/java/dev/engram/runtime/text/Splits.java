package dev.engram.runtime.text;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntPredicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splitting a string on a pattern with one of Hugging Face's delimiter behaviours (Removed, Isolated,
 * MergedWithPrevious, MergedWithNext, Contiguous), optionally inverted; the same span arithmetic as the Rust
 * library's {@code NormalizedString::split}.
 */
final class Splits {
    enum Behavior { REMOVED, ISOLATED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS }

    /** start, end, whether the span is a match */
    private record Span(int start, int end, boolean match) {
    }

    private Splits() {
    }

    static void split(String s, Pattern pattern, Behavior behavior, boolean invert, List<String> out) {
        emit(s, apply(regexSpans(s, pattern, invert), behavior), out);
    }

    static void split(String s, IntPredicate isDelimiter, Behavior behavior, boolean invert, List<String> out) {
        emit(s, apply(charSpans(s, isDelimiter, invert), behavior), out);
    }

    private static List<Span> regexSpans(String s, Pattern pattern, boolean invert) {
        List<Span> spans = new ArrayList<>();
        int prev = 0;
        Matcher m = pattern.matcher(s);
        while (m.find()) {
            if (prev != m.start()) {
                spans.add(new Span(prev, m.start(), invert));
            }
            spans.add(new Span(m.start(), m.end(), !invert));
            prev = m.end();
        }
        if (prev != s.length()) {
            spans.add(new Span(prev, s.length(), invert));
        }
        return spans;
    }

    private static List<Span> charSpans(String s, IntPredicate isDelimiter, boolean invert) {
        List<Span> spans = new ArrayList<>();
        int last = 0;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            int end = i + Character.charCount(cp);
            if (isDelimiter.test(cp)) {
                if (last < i) {
                    spans.add(new Span(last, i, invert));
                }
                spans.add(new Span(i, end, !invert));
                last = end;
            }
            i = end;
        }
        if (last < s.length()) {
            spans.add(new Span(last, s.length(), invert));
        }
        return spans;
    }

    private static List<Span> apply(List<Span> spans, Behavior behavior) {
        List<Span> out = new ArrayList<>();
        switch (behavior) {
            case ISOLATED -> out.addAll(spans);
            case REMOVED -> spans.stream().filter(sp -> !sp.match()).forEach(out::add);
            case MERGED_WITH_PREVIOUS -> {
                boolean previousMatch = false;
                for (Span sp : spans) {
                    if (sp.match() && !previousMatch && !out.isEmpty()) {
                        Span last = out.remove(out.size() - 1);
                        out.add(new Span(last.start(), sp.end(), false));
                    } else {
                        out.add(new Span(sp.start(), sp.end(), false));
                    }
                    previousMatch = sp.match();
                }
            }
            case MERGED_WITH_NEXT -> {
                boolean previousMatch = false;
                List<Span> reversed = new ArrayList<>();
                for (int i = spans.size() - 1; i >= 0; i--) {
                    Span sp = spans.get(i);
                    if (sp.match() && !previousMatch && !reversed.isEmpty()) {
                        Span last = reversed.remove(reversed.size() - 1);
                        reversed.add(new Span(sp.start(), last.end(), false));
                    } else {
                        reversed.add(new Span(sp.start(), sp.end(), false));
                    }
                    previousMatch = sp.match();
                }
                for (int i = reversed.size() - 1; i >= 0; i--) {
                    out.add(reversed.get(i));
                }
            }
            case CONTIGUOUS -> {
                boolean previousMatch = false;
                for (Span sp : spans) {
                    if (sp.match() == previousMatch && !out.isEmpty()) {
                        Span last = out.remove(out.size() - 1);
                        out.add(new Span(last.start(), sp.end(), false));
                    } else {
                        out.add(new Span(sp.start(), sp.end(), false));
                    }
                    previousMatch = sp.match();
                }
            }
            default -> throw new IllegalStateException(behavior.toString());
        }
        return out;
    }

    private static void emit(String s, List<Span> spans, List<String> out) {
        for (Span sp : spans) {
            if (sp.end() > sp.start()) {
                out.add(s.substring(sp.start(), sp.end()));
            }
        }
    }
}
