package dev.engram.api;

import java.util.List;

/** Configuration is invalid. Holds every problem found, not only the first, each naming its key. */
public class ConfigException extends EngramException {
    private final List<String> problems;

    public ConfigException(String context, List<String> problems) {
        super(format(context, problems));
        this.problems = List.copyOf(problems);
    }

    public ConfigException(String problem) {
        this("configuration", List.of(problem));
    }

    private static String format(String context, List<String> problems) {
        if (problems.size() == 1) {
            return context + ": " + problems.get(0);
        }
        StringBuilder sb = new StringBuilder(context).append(": ").append(problems.size()).append(" problems");
        for (String p : problems) {
            sb.append("\n  - ").append(p);
        }
        return sb.toString();
    }

    public List<String> problems() {
        return problems;
    }
}
