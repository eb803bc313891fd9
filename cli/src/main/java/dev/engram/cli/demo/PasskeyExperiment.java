package dev.engram.cli.demo;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** Passkey retrieval by context length and depth (issue 29's heat map), as one of the demo's experiments. */
public final class PasskeyExperiment implements Experiment {
    public static final String NAME = "passkey";
    static final int DEFAULT_TRIALS = 20;
    static final int DIGITS = 5;
    static final int[] LENGTHS = {512, 2048, 8192};
    static final int[] LONG_LENGTHS = {512, 2048, 8192, 16384, 32768, 65536};

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Map<String, Object> run(List<Path> packages, Settings settings, Path chart, PrintWriter out)
            throws IOException {
        int trials = settings.trialsOr(DEFAULT_TRIALS);
        int[] lengths = settings.lengths() != null ? settings.lengths() : settings.longRun() ? LONG_LENGTHS : LENGTHS;
        PasskeyDemo demo = new PasskeyDemo(packages, lengths, trials, DIGITS, settings.seed(), out, settings.progress());
        List<PasskeyDemo.Result> results = demo.run();
        demo.print(results);
        AccuracyChart.write(chart, results, trials);
        return demo.json(results);
    }
}
