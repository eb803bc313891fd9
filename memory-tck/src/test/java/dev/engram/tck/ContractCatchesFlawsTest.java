package dev.engram.tck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import dev.engram.spi.LongTermMemoryProvider;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.platform.testkit.engine.EngineTestKit;
import org.junit.platform.testkit.engine.Event;

/**
 * The test kit must be able to fail: a correct memory passes every check, and each deliberate flaw
 * fails exactly the checks meant to catch it. The suites below are nested, so Surefire does not run
 * them directly; the JUnit test kit engine runs them here.
 */
class ContractCatchesFlawsTest {
    static class Correct extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.NONE); }
    }

    static class ReadsOwnSegment extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.READS_OWN_SEGMENT); }
    }

    static class LossySnapshot extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.LOSSY_SNAPSHOT); }
    }

    static class ResetKeepsState extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.RESET_KEEPS_STATE); }
    }

    static class MutatesBeforeValidating extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.MUTATES_BEFORE_VALIDATING); }
    }

    static class Nondeterministic extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.NONDETERMINISTIC); }
    }

    static class NonCausal extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.NON_CAUSAL); }
    }

    static class AcceptsForeignSnapshot extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.ACCEPTS_FOREIGN_SNAPSHOT); }
    }

    static class GrowingState extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.GROWING_STATE); }
    }

    static class UncheckedVShape extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.UNCHECKED_V_SHAPE); }
    }

    static class UncheckedLocal extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.UNCHECKED_LOCAL); }
    }

    static class SharedBuffer extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.SHARED_BUFFER); }
    }

    static class StaleLength extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.STALE_LENGTH); }
    }

    static class FixedLength extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.FIXED_LENGTH); }
    }

    static class FixedLengthUnclear extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.FIXED_LENGTH_UNCLEAR); }
    }

    static class PartialRowsWrite extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.PARTIAL_ROWS_WRITE); }
    }

    static class PartialRowsReadEarlierRows extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.PARTIAL_ROWS_READ_EARLIER_ROWS); }
    }

    static class ExactRowsOnlyClose extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.EXACT_ROWS_ONLY_CLOSE); }
    }

    static class CloseRowsUndeclared extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.CLOSE_ROWS_UNDECLARED); }
    }

    static class IgnoresReadout extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.IGNORES_READOUT); }
    }

    static class StaticScratch extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.STATIC_SCRATCH); }
    }

    static class JitterUnlessDefaultScale extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.JITTER_UNLESS_DEFAULT_SCALE); }
    }

    static class JitterUnlessDefaultScaleWithMoreConfigs extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.JITTER_UNLESS_DEFAULT_SCALE); }
        @Override protected List<Map<String, Object>> moreConfigs() { return List.of(Map.of("scale", 2.0)); }
    }

    static class CorrectWithMoreConfigs extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.NONE); }
        @Override protected List<Map<String, Object>> moreConfigs() { return List.of(Map.of("scale", 2.0), Map.of("scale", 0.5)); }
    }

    static class WritesInput extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.WRITES_INPUT); }
    }

    static class WritesWeight extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.WRITES_WEIGHT); }
    }

    static class PartialRowsHiddenState extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.PARTIAL_ROWS_HIDDEN_STATE); }
    }

    static class CopySharesState extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.COPY_SHARES_STATE); }
    }

    static class CopyForgetsState extends LongTermMemoryContract {
        @Override protected LongTermMemoryProvider provider() { return new SummaryMemory(SummaryMemory.Flaw.COPY_FORGETS_STATE); }
    }

    @Test
    void aForkThatSharesOrForgetsTheStateIsCaught() {
        // shared state leaks a fork's future into the original, and a rolled-back copy's run into the checkpoint
        Set<String> both = Set.of("aForkNeverChangesTheOriginalAndContinuesAsItWould", "rollbackToACheckpointIsBitExactAndRepeatable");
        assertEquals(both, failedChecks(CopySharesState.class));
        assertEquals(both, failedChecks(CopyForgetsState.class));
    }

    private static Set<String> failedChecks(Class<?> suite) {
        Set<String> failed = new TreeSet<>();
        List<Event> events = EngineTestKit.engine("junit-jupiter").selectors(selectClass(suite)).execute()
                .testEvents().failed().list();
        for (Event e : events) {
            failed.add(e.getTestDescriptor().getDisplayName().replace("()", ""));
        }
        return failed;
    }

    @Test
    void partialRowsThatWriteReadEarlierRowsOrChangeHiddenStateAreCaught() {
        String check = "partialRowsEqualTheWholeSegmentsRowsAndChangeNothing";
        assertEquals(Set.of(check), failedChecks(PartialRowsWrite.class));
        assertEquals(Set.of(check), failedChecks(PartialRowsReadEarlierRows.class));
        assertEquals(Set.of(check), failedChecks(PartialRowsHiddenState.class));
    }

    @Test
    void rowsOnlyCloseToTheWholeStepAreCaughtWhereExactRowsIsDeclaredAndPassWhereNot() {
        assertEquals(Set.of("partialRowsEqualTheWholeSegmentsRowsAndChangeNothing"), failedChecks(ExactRowsOnlyClose.class));
        assertEquals(Set.of(), failedChecks(CloseRowsUndeclared.class));
    }

    @Test
    void aCorrectMemoryPassesEveryCheck() {
        assertEquals(Set.of(), failedChecks(Correct.class));
        long succeeded = EngineTestKit.engine("junit-jupiter").selectors(selectClass(Correct.class)).execute()
                .testEvents().succeeded().count();
        assertEquals(true, succeeded >= 12, "the kit ran only " + succeeded + " checks");
    }

    @Test
    void readingTheOwnSegmentIsCaught() {
        Set<String> failed = failedChecks(ReadsOwnSegment.class);
        assertEquals(true, failed.contains("aSegmentNeverReadsItsOwnKeysValuesOrHiddenStates"), failed.toString());
        assertEquals(true, failed.contains("theFirstReadSeesAnEmptyMemory"), failed.toString());
    }

    @Test
    void aLossySnapshotIsCaught() {
        assertEquals(true, failedChecks(LossySnapshot.class).contains("snapshotRestoreContinueIsBitIdenticalToNeverStopping"));
    }

    @Test
    void aResetThatKeepsStateIsCaught() {
        assertEquals(Set.of("resetReturnsToTheEmptyState"), failedChecks(ResetKeepsState.class));
    }

    @Test
    void mutatingBeforeValidatingIsCaught() {
        Set<String> failed = failedChecks(MutatesBeforeValidating.class);
        assertEquals(true, failed.contains("nonFiniteInputsAreRejectedOrUnusedAndLeaveTheStateUnchanged"), failed.toString());
    }

    @Test
    void anOutputThatDependsOnALaterTokenIsCaught() {
        assertEquals(Set.of("anOutputNeverDependsOnALaterToken"), failedChecks(NonCausal.class));
    }

    @Test
    void restoringAnotherProvidersSnapshotIsCaught() {
        assertEquals(Set.of("restoreRefusesForeignOrDamagedSnapshotsAndKeepsTheState"), failedChecks(AcceptsForeignSnapshot.class));
    }

    @Test
    void stateThatGrowsDespiteConstantStateSizeIsCaught() {
        assertEquals(Set.of("stateBytesIsNonNegativeAndFlatWhenDeclaredConstant"), failedChecks(GrowingState.class));
    }

    @Test
    void aValueOfTheWrongShapeTakenUncheckedIsCaught() {
        assertEquals(Set.of("wrongShapesAreRejectedOrUnusedAndLeaveTheStateUnchanged"), failedChecks(UncheckedVShape.class));
    }

    @Test
    void aLocalOutputMixedUncheckedIsCaught() {
        assertEquals(Set.of("aMisshapedOrNonFiniteLocalIsRejectedByCombineOrUnused"), failedChecks(UncheckedLocal.class));
    }

    @Test
    void aBufferSharedBetweenInstancesIsCaught() {
        // caught deterministically by the interleaved check; the two-thread check races on it too
        Set<String> failed = failedChecks(SharedBuffer.class);
        assertTrue(failed.contains("twoInstancesNeverShareMutableState"), failed.toString());
        assertTrue(Set.of("twoInstancesNeverShareMutableState", "twoInstancesOnTwoThreadsAtOnceGiveWhatEachGivesAlone")
                .containsAll(failed), failed.toString());
    }

    @Test
    void aVariableLengthClaimWithStaleBuffersIsCaught() {
        assertEquals(true, failedChecks(StaleLength.class).contains("variableSegmentLengthsWorkOrAreRefusedClearly"));
    }

    @Test
    void aFixedLengthMemoryPassesWhenItRefusesOtherLengthsClearlyAndFailsWhenItDoesNot() {
        assertEquals(Set.of(), failedChecks(FixedLength.class));
        assertEquals(Set.of("variableSegmentLengthsWorkOrAreRefusedClearly"), failedChecks(FixedLengthUnclear.class));
    }

    @Test
    void writingAnInputOrAWeightIsCaught() {
        assertTrue(failedChecks(WritesInput.class).contains("inputsAndWeightsAreNeverWritten"), failedChecks(WritesInput.class).toString());
        assertTrue(failedChecks(WritesWeight.class).contains("inputsAndWeightsAreNeverWritten"), failedChecks(WritesWeight.class).toString());
    }

    @Test
    void aCombineThatIgnoresTheReadoutIsCaught() {
        assertEquals(Set.of("whatWasWrittenChangesTheOutput"), failedChecks(IgnoresReadout.class));
    }

    @Test
    void aStaticScratchArrayIsCaughtOnTwoThreads() {
        assertEquals(Set.of("twoInstancesOnTwoThreadsAtOnceGiveWhatEachGivesAlone"), failedChecks(StaticScratch.class));
    }

    @Test
    void moreConfigsRunEveryCheckUnderEachAndCatchWhatOnlyTheyShow() {
        assertEquals(Set.of(), failedChecks(JitterUnlessDefaultScale.class), "the default config alone shows nothing");
        assertTrue(failedChecks(JitterUnlessDefaultScaleWithMoreConfigs.class).contains("sameInputsGiveBitIdenticalOutputs"));
        assertEquals(Set.of(), failedChecks(CorrectWithMoreConfigs.class));
        long checks = EngineTestKit.engine("junit-jupiter").selectors(selectClass(Correct.class)).execute()
                .testEvents().succeeded().count();
        long withMore = EngineTestKit.engine("junit-jupiter").selectors(selectClass(CorrectWithMoreConfigs.class)).execute()
                .testEvents().succeeded().count();
        assertEquals(3 * checks, withMore, "each check once per configuration");
    }

    @Test
    void aResetBugNamesTheStateThatDiffers() {
        String message = EngineTestKit.engine("junit-jupiter").selectors(selectClass(ResetKeepsState.class)).execute()
                .testEvents().failed().stream()
                .map(e -> e.getPayload(org.junit.platform.engine.TestExecutionResult.class).orElseThrow().getThrowable()
                        .orElseThrow().getMessage())
                .findFirst().orElseThrow();
        assertTrue(message.startsWith("snapshot after reset equals a fresh one: state 'sums' (floats), value 1 of 1 differs at element "),
                message);
    }

    @Test
    void nondeterminismIsCaught() {
        assertEquals(true, failedChecks(Nondeterministic.class).contains("sameInputsGiveBitIdenticalOutputs"));
    }
}
