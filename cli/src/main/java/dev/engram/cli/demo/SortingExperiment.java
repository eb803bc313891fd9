package dev.engram.cli.demo;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Sorting by frequency (the ∞-former paper's section 4.1), as one of the demo's experiments: per-position accuracy
 * and exact answers at 1, 2, 4 and 8 times each model's training length (with --long also 16 times).
 * The passkey experiment's --lengths (context tokens) do not apply here.
 */
public final class SortingExperiment implements Experiment {
    public static final String NAME = "sorting";
    /** About 40 s for the three bundled models on the 2-core machine (models/README.md ("Sorting by frequency")). */
    static final int DEFAULT_TRIALS = 20;

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Map<String, Object> run(List<Path> packages, Settings settings, Path chart, PrintWriter out)
            throws IOException {
        int trials = settings.trialsOr(DEFAULT_TRIALS);
        SortingDemo demo = new SortingDemo(packages, settings.longRun() ? SortingDemo.LONG_MULTIPLES
                : SortingDemo.MULTIPLES, trials, settings.seed(), out);
        List<SortingDemo.Result> results = demo.run();
        demo.print(results);
        demo.chart(chart, results);
        return demo.json(results);
    }
}
