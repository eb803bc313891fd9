package dev.engram.cli;

import java.util.List;

/**
 * Streams generated text while watching for stop strings: text that could be the start of a stop string is held
 * back until it is clear; when a stop string appears, the text before it is released and the stream stops.
 */
final class StopText {
    private final List<String> stops;
    private final StringBuilder held = new StringBuilder();
    private boolean stopped;

    StopText(List<String> stops) {
        this.stops = stops.stream().filter(s -> !s.isEmpty()).toList();
    }

    /** Adds freshly decoded text; returns what can be printed now. */
    String accept(String fresh) {
        if (stopped) {
            return "";
        }
        held.append(fresh);
        int first = -1;
        for (String s : stops) {
            int i = held.indexOf(s);
            if (i >= 0 && (first < 0 || i < first)) {
                first = i;
            }
        }
        if (first >= 0) {
            stopped = true;
            String out = held.substring(0, first);
            held.setLength(0);
            return out;
        }
        int keep = 0;
        for (String s : stops) {
            for (int n = Math.min(s.length() - 1, held.length()); n > keep; n--) {
                if (held.substring(held.length() - n).equals(s.substring(0, n))) {
                    keep = n;
                    break;
                }
            }
        }
        String out = held.substring(0, held.length() - keep);
        held.delete(0, held.length() - keep);
        return out;
    }

    /** The end of the stream: whatever was held back. */
    String finish() {
        String out = stopped ? "" : held.toString();
        held.setLength(0);
        return out;
    }

    boolean stopped() {
        return stopped;
    }
}
