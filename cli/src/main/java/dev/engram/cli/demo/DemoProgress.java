package dev.engram.cli.demo;

import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarConsumer;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * The demos' progress bar over tokens, on the terminal's stderr (the library's own console consumer, which writes to
 * file descriptor 2); with {@code shown} false (--no-progress) it prints nothing.
 */
final class DemoProgress {
    private DemoProgress() {
    }

    static ProgressBar tokens(String task, long total, int updateMillis, boolean shown) {
        return tokens(task, total, updateMillis, shown, null);
    }

    /** As above; {@code console} replaces the library's console consumer where not null (tests). */
    static ProgressBar tokens(String task, long total, int updateMillis, boolean shown, ProgressBarConsumer console) {
        ProgressBarBuilder builder = new ProgressBarBuilder().setTaskName(task).setInitialMax(total)
                .setStyle(ProgressBarStyle.ASCII).setUnit(" Ktok", 1000).setUpdateIntervalMillis(updateMillis);
        if (!shown) {
            builder.setConsumer(new DelegatingProgressBarConsumer(line -> { }));
        } else if (console != null) {
            builder.setConsumer(console);
        }
        return builder.build();
    }
}
