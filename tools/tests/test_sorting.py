"""The sorting-by-frequency task (sorting.py), its Java twin's fixture, greedy decoding (train_sorting.py) and the
continuous memory's sticky sampling (schemes.ContinuousMemory) against independent calculations."""
import json
import os

import numpy as np
import pytest
import torch

from engram_model import schemes, sorting, train_sorting
from engram_model.model import EngramModel
from engram_model.passkey import JavaSplittableRandom
from engram_ref.continuous import ContinuousMemory as RefContinuous

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "cli", "src", "test", "resources", "sorting-golden.json")


def test_the_golden_fixture_is_what_the_generator_draws():
    with open(FIXTURE) as f:
        cases = json.load(f)["cases"]
    assert cases == sorting.golden_cases()
    for c in cases:
        assert all(1 <= w <= 9 for w in c["weightsInitial"] + c["weightsFinal"])
        assert len(c["symbols"]) == c["length"] and sorted(c["answer"]) == list(range(20))


def test_the_generator_takes_the_documented_draws_in_order():
    # by hand from the JDK stream: 40 nextInt(9) weights, then per symbol nextInt(L) and nextInt(sum of weights)
    seed, length = 11, 3
    r = JavaSplittableRandom(seed)
    w = [1 + r.next_bounded(9) for _ in range(40)]
    expected = []
    for j in range(length):
        weights = w[20:] if r.next_bounded(length) < j + 1 else w[:20]
        u, s = r.next_bounded(sum(weights)), 0
        while sum(weights[:s + 1]) <= u:
            s += 1
        expected.append(s)
    x, wi, wf = sorting.draw_symbols(JavaSplittableRandom(seed), length)
    assert list(wi) + list(wf) == w and list(x) == expected


def test_answer_breaks_ties_by_the_smaller_id():
    y = sorting.answer([5, 7, 2, 7, 0, 5, 2, 7])  # counts 7: 3, 2: 2, 5: 2, 0: 1, the rest 0
    assert list(y) == [7, 2, 5, 0, 1, 3, 4, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
    ids, y2 = sorting.sample(JavaSplittableRandom(4), 50)
    assert ids[0] == sorting.BOS and ids[51] == sorting.SEP and list(ids[52:]) == list(y2) and len(ids) == 72


def test_the_vectorised_training_sampler_draws_the_same_distribution():
    rng = np.random.default_rng(0)
    ids, mask = sorting.training_batch(rng, 400, 64)
    assert ids.shape == (400, 86) and mask[:, -20:].all() and not mask[:, :-20].any()
    for row in ids:  # its answer follows the same rule as answer()
        assert list(row[-20:]) == list(sorting.answer(row[1:65]))
    # the share of the most frequent symbol and of symbol repeats, against the reference sampler
    def stats(seqs):
        top = np.mean([np.bincount(s, minlength=20).max() / len(s) for s in seqs])
        repeat = np.mean([(s[1:] == s[:-1]).mean() for s in seqs])
        return top, repeat
    ref = [sorting.draw_symbols(np.random.default_rng(1000 + i), 64)[0] for i in range(400)]
    (t1, r1), (t2, r2) = stats(ids[:, 1:65]), stats(ref)
    assert abs(t1 - t2) < 0.01 and abs(r1 - r2) < 0.01, (t1, t2, r1, r2)


def test_greedy_decoding_equals_the_argmax_of_one_full_forward_pass():
    torch.manual_seed(0)
    for strategy in ["window", "continuous"]:
        model = EngramModel(train_sorting.strategy_config(strategy)).eval()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.3)  # sharper logits than the initialisation
        ids, _ = sorting.training_batch(np.random.default_rng(2), 3, 40)  # the answer crosses a segment boundary
        ids = torch.from_numpy(ids)
        prompt = ids[:, :sorting.prompt_length(40)]
        out = train_sorting.greedy(model, prompt)
        full = torch.cat([prompt, out], dim=1)
        with torch.no_grad():
            logits, _ = model(full)
        assert torch.equal(logits[:, prompt.shape[1] - 1:-1].argmax(-1), out), strategy


def test_uniform_stream_is_the_jdks_splittable_random_next_double():
    # jshell (JDK 25): new SplittableRandom(3).nextDouble() twice; SplittableRandom(-9)'s sixth nextDouble()
    assert schemes.uniform_stream(3, 0, 2).tolist() == [0.11345034205715454, 0.7002935135929024]
    assert schemes.uniform_stream(-9, 5, 1).tolist() == [0.5406159155244933]


def make_memory(sticky=True, seed=3, tau=0.6):
    torch.manual_seed(0)
    m = schemes.ContinuousMemory(2, 4, 4, 6, basis=16, widths=(0.05, 0.1), lam=0.5, tau=tau, samples=12,
                                 sticky=sticky, bins=8, seed=seed)
    with torch.no_grad():
        for p in [m.mu_weight, m.mu_bias, m.sigma_weight, m.sigma_bias]:
            p.normal_()
    return m.eval()


@pytest.mark.parametrize("tau", [0.6, "uniform"])
def test_sticky_writes_match_the_plain_reference_with_the_seeded_stream(tau):
    m = make_memory(tau=tau)
    ref = RefContinuous(2, 4, 4, 6, {k: v.detach() for k, v in m.weights().items()}, basis=16, widths=(0.05, 0.1),
                        lam=0.5, tau=tau, samples=12, sticky=True, bins=8)
    state, draws, gen = m.init_state(1), 0, torch.Generator().manual_seed(5)
    for seg in range(5):
        n = 5 + seg
        q, h = torch.randn(1, 2, n, 4, generator=gen), torch.randn(1, n, 6, generator=gen)
        out = m.read(q, state, h)
        ref_out, _, _ = ref.read(q[0])
        assert torch.allclose(out[0].double(), ref_out, atol=1e-5)
        state = m.write(None, None, h, state)
        # the Java memory's stream: draws k = 0, 1, ... of the seed, `samples` per update (none on the first write)
        ref.write(h[0], uniforms=torch.from_numpy(schemes.uniform_stream(3, draws, 12)) if seg else None)
        draws += 12 if seg else 0
        assert state[2] == draws
        assert torch.allclose(state[0][0].double(), ref.B, atol=1e-5), seg
    assert ref.min_margin > 1e-6  # no draw sat on a bin boundary, where float rounding could pick either bin


def test_a_uniform_tau_gives_the_old_signal_the_share_of_the_tokens_written_before():
    m = make_memory(tau="uniform")
    assert m.update_tau(5, 5) == 0.5 and m.update_tau(21, 3) == 21 / 24
    assert make_memory(tau=0.6).update_tau(21, 3) == 0.6
    # the update's positions: old samples at i tau / M, new rows at tau + (1 - tau) j / n (tau = 10 / 12 here)
    tau, m_, n = 10 / 12, 12, 2
    t = torch.tensor([i * tau / m_ for i in range(1, m_ + 1)] + [tau + (1 - tau) * j / n for j in (1, 2)],
                     dtype=torch.float64)
    f = m.psi(t)
    g = torch.linalg.solve(f @ f.T + 0.5 * torch.eye(16, dtype=torch.float64), f).float()
    assert torch.allclose(m._fit_matrix("update", n, m.update_tau(10, n)), g)


def test_sticky_points_follow_a_narrow_read_to_its_bin_by_hand():
    m = make_memory()
    # every read at mu = 0.3125 + 0.01 with sd 1e-4: all mass in bin floor(0.3225 * 8) = 2, left edge 0.25
    mu = torch.full((1, 2, 3), 0.3225)
    s2 = torch.full((1, 2, 3), 1e-8)
    rows = m.sticky_sample_matrix(mu, s2, torch.rand(1, 12, dtype=torch.float64))
    assert torch.allclose(rows[0], m.psi(torch.full((12,), 0.25, dtype=torch.float64)).T.float())
    # two reads, at bins 1 and 6 with equal mass: uniforms below 1/2 pick bin 1 (edge 0.125), above it bin 6
    mu = torch.tensor([[[0.19, 0.81]]])
    s2 = torch.full((1, 1, 2), 1e-8)
    u = torch.tensor([[0.7, 0.1, 0.49, 0.51]], dtype=torch.float64)
    m.samples = 4
    rows = m.sticky_sample_matrix(mu, s2, u)
    expected = m.psi(torch.tensor([0.125, 0.125, 0.75, 0.75], dtype=torch.float64)).T.float()
    assert torch.allclose(rows[0], expected)


def test_sticky_training_draws_fresh_uniforms_and_keeps_the_stream_for_eval():
    m = make_memory()
    q, h = torch.randn(1, 2, 4, 4).expand(2, -1, -1, -1), torch.randn(1, 4, 6).expand(2, -1, -1)  # two equal rows
    st = m.write(None, None, h, m.init_state(2))
    m.read(q, st, h)
    m.train()
    a = m.write(None, None, h, st)
    m.read(q, st, h)
    b = m.write(None, None, h, st)
    assert a[2] == 0 and b[2] == 0  # training takes torch.rand, not the stream: each row its own draws
    assert not torch.allclose(a[0][0], a[0][1], atol=1e-3) and not torch.allclose(a[0][0], b[0][0], atol=1e-3)
    m.eval()
    m.read(q, st, h)
    c = m.write(None, None, h, st)
    assert c[2] == 12 and torch.allclose(c[0][0], c[0][1], atol=1e-6)  # the stream: the same draws for every batch row
    m.read(q, st, h)
    assert torch.allclose(m.write(None, None, h, st)[0], c[0], atol=1e-6)  # from the same state the same draws again


def test_the_continuous_strategy_config_takes_tau_samples_and_sticky_from_the_command_line():
    from engram_model.train_sorting import strategy_config
    plain = strategy_config("continuous", tau="uniform", sticky=False, samples=256).memory[0]
    assert plain["tau"] == "uniform" and plain["samples"] == 256 and "sticky" not in plain and "bins" not in plain
    sticky = strategy_config("continuous").memory[1]
    assert sticky["tau"] == 0.75 and sticky["samples"] == 64 and sticky["sticky"] and sticky["bins"] == 64
    # the package's memory parses back to the same configuration (tau stays the word)
    from engram_model.model import EngramModel
    memory = EngramModel(strategy_config("continuous", tau="uniform", sticky=False)).layers[0].memory
    assert memory.tau == "uniform" and memory.config()["tau"] == "uniform" and not memory.sticky


def test_stop_after_keeps_the_schedule_and_resume_may_change_only_the_resampling_points(tmp_path):
    from engram_model import train_sorting
    common = ["--strategy", "continuous", "--tau", "uniform", "--no-sticky", "--threads", "1", "--eval-every", "0",
              "--eval-mults", "1", "--eval-trials", "1", "--min-length", "32", "--train-length", "32"]
    train_sorting.main(common + ["--out", str(tmp_path / "a"), "--steps", "20", "--stop-after", "3"])
    first = json.load(open(tmp_path / "a.train_log.json"))["training"]
    assert first["steps"] == 3
    train_sorting.main(common + ["--out", str(tmp_path / "b"), "--samples", "128", "--steps", "2",
                                 "--resume", str(tmp_path / "a.model.pt")])
    second = json.load(open(tmp_path / "b.train_log.json"))["training"]
    assert second["steps"] == 5 and [st["samples"] for st in second["stages"]] == [64, 128]
    with pytest.raises(SystemExit):  # any other difference is refused
        train_sorting.main(common + ["--out", str(tmp_path / "c"), "--tau", "0.5", "--steps", "1",
                                     "--resume", str(tmp_path / "a.model.pt")])


def test_bad_tau_samples_and_stop_after_are_refused_naming_the_value_and_the_valid_range(capsys):
    from engram_model import train_sorting
    base = ["--strategy", "continuous", "--out", "unused", "--threads", "1"]
    for extra, wanted in [(["--tau", "1.5"], "'1.5'; valid: a number in (0, 1), or 'uniform'"),
                          (["--tau", "often"], "'often'; valid: a number in (0, 1), or 'uniform'"),
                          (["--samples", "0"], "--samples 0: must be >= 1"),
                          (["--stop-after", "-2"], "--stop-after -2: must be >= 0")]:
        with pytest.raises(SystemExit):
            train_sorting.main(base + extra)
        assert wanted in capsys.readouterr().err, extra
    assert train_sorting.tau_arg(" Uniform ") == "uniform" and train_sorting.tau_arg("0.75") == 0.75


def test_a_bad_tau_in_a_models_config_is_refused_naming_the_field_and_the_valid_values():
    from engram_model.model import parse_tau
    assert parse_tau("UNIFORM") == "uniform" and parse_tau(0.25) == 0.25
    for bad in (1, 0, "often", True, None):
        with pytest.raises(ValueError, match=r"^'tau' is .*; valid: a number in \(0, 1\), or 'uniform'$"):
            parse_tau(bad, "'tau' is ")
    from engram_model.model import EngramModel
    from engram_model.train_sorting import strategy_config
    with pytest.raises(ValueError, match="'tau' is 1.5; valid"):
        EngramModel(strategy_config("continuous", tau=1.5))
