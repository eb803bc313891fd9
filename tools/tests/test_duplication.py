"""The duplication task (duplication.py), its Java twin's fixture, learned positions through export, and the training
script's shortcuts (train_duplication.py)."""
import json
import os

import numpy as np
import pytest
import torch

from engram_model import duplication, export, train_duplication
from engram_model.model import EngramModel
from engram_model.passkey import JavaSplittableRandom

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "cli", "src", "test", "resources",
                       "duplication-golden.json")
# the JDK's own values (java 25: new java.util.SplittableRandom(0).nextInt(127), and 1 + nextInt(127) five times
# from new SplittableRandom(1)): 127 is not a power of two, so they go through nextInt's rejection branch
JDK_NEXT_INT127_SEED0 = 79
JDK_SYMBOLS_SEED1 = [47, 41, 119, 40, 62]


def test_sequences_are_0_w_0_w_with_symbols_1_to_127():
    ids, mask = duplication.batch(np.random.default_rng(0), 64, 1024)
    assert ids.shape == (64, 1024) and (ids[:, 0] == 0).all() and (ids[:, 512] == 0).all()
    assert (ids[:, 1:512] == ids[:, 513:]).all()
    w = ids[:, 1:512]
    assert w.min() == 1 and w.max() == 127  # 0 never inside w; every symbol drawn at this size
    assert mask[:, 513:].all() and not mask[:, :513].any() and mask.sum(1)[0] == 511
    with pytest.raises(ValueError, match="length 7"):
        duplication.sample(np.random.default_rng(0), 7)


def test_score_counts_the_second_w_only_and_exact_needs_every_token():
    ids = torch.tensor([[0, 5, 6, 7, 0, 5, 6, 7], [0, 1, 2, 3, 0, 1, 2, 3]])
    pred = torch.zeros_like(ids)
    pred[:, 4:7] = ids[:, 5:8]  # the logits at 4, 5, 6 predict tokens 5, 6, 7
    pred[:, :4] = 99  # first half: not scored
    assert duplication.score(pred, ids) == (1.0, 1.0)
    pred[1, 6] = 0  # one wrong token of 6
    acc, exact = duplication.score(pred, ids)
    assert acc == pytest.approx(5 / 6) and exact == 0.5


def test_java_twin_fixture_and_known_jdk_values():
    assert JavaSplittableRandom(0).next_bounded(127) == JDK_NEXT_INT127_SEED0
    ids = duplication.sample(JavaSplittableRandom(1), 12)
    assert list(ids) == [0] + JDK_SYMBOLS_SEED1 + [0] + JDK_SYMBOLS_SEED1
    # the Java DuplicationTaskTest checks the same fixture against the JDK's SplittableRandom and DuplicationTask
    with open(FIXTURE) as f:
        assert json.load(f) == duplication.golden_cases()


def tiny(attention, rounds=2):
    torch.manual_seed(0)
    cfg = train_duplication.model_config(attention, rounds, 32, 16, 2, 4, 8)
    model = EngramModel(cfg).eval()
    with torch.no_grad():  # sharper attention than the init gives, so a wrong position would show
        model.layers[0].pre.wq.weight.normal_(std=0.5)
        model.layers[0].pre.wk.weight.normal_(std=0.5)
        model.embed.pos.weight.copy_(train_duplication.sinusoid_table(32, 16))
    return model


@pytest.mark.parametrize("attention", ["full", "lsh"])
def test_second_half_shortcut_equals_the_whole_forward(attention):
    model = tiny(attention)
    ids = torch.from_numpy(duplication.batch(np.random.default_rng(1), 3, 32)[0])
    whole, _ = model(ids)
    assert torch.allclose(train_duplication.second_half_logits(model, ids), whole[:, 16:], atol=1e-5)
    if attention == "full":  # a block of queries, the tokens before it as the cache
        got = train_duplication.second_half_logits(model, ids, (20, 7))
        assert got.shape == (3, 7, 128) and torch.allclose(got, whole[:, 20:27], atol=1e-5)
    else:
        with pytest.raises(ValueError, match="full attention"):
            train_duplication.second_half_logits(model, ids, (20, 7))


def test_one_chunk_lsh_block_is_the_hashed_forward_with_every_position_in_one_chunk():
    model = tiny("lsh")
    model.layers[0].attention.chunk = 32  # the whole 32-token sequence in one chunk: shared-QK attention
    ids = torch.from_numpy(duplication.batch(np.random.default_rng(3), 3, 32)[0])
    whole, _ = model(ids)
    got = train_duplication.second_half_logits(model, ids, (20, 7))
    assert got.shape == (3, 7, 128) and torch.allclose(got, whole[:, 20:27], atol=1e-5)
    model.layers[0].attention.chunk = 16  # two chunks: hashing separates positions, no shortcut
    with pytest.raises(ValueError, match="one chunk"):
        train_duplication.second_half_logits(model, ids, (20, 7))


def test_training_temperature_divides_the_scores_and_falls_to_one():
    torch.manual_seed(0)
    q, v = torch.randn(2, 3, 12, 4) * 5, torch.randn(2, 3, 12, 4)
    # by hand: temperature 4 is the same attention as queries a quarter as long against the same unit keys
    norm = q.norm(dim=-1, keepdim=True)
    keys = q / norm
    logits = torch.matmul(q[:, :, 6:] / 4, keys.transpose(-1, -2))
    qi, kj = torch.arange(6, 12)[:, None], torch.arange(12)[None, :]
    logits = logits.masked_fill(kj > qi, -1e9).masked_fill(kj == qi, -1e5)
    expected = torch.matmul(torch.softmax(logits, dim=-1), v)
    assert torch.allclose(train_duplication.shared_qk_block(q, v, 6, 4.0), expected, atol=1e-6)
    assert not torch.allclose(train_duplication.shared_qk_block(q, v, 6), expected, atol=1e-3)
    at = train_duplication.temperature_at
    assert [at(9.0, 4, s) for s in range(6)] == [9.0, 7.0, 5.0, 3.0, 1.0, 1.0]
    assert [at(9.0, 4, s, cycles=True) for s in range(6)] == [9.0, 7.0, 5.0, 3.0, 9.0, 7.0]
    assert at(9.0, 0, 3) == 1.0


def test_a_temperature_without_its_steps_or_outside_one_chunk_is_refused_naming_the_flag(capsys, tmp_path):
    one_chunk = ["--attention", "lsh", "--out", str(tmp_path / "x"), "--length", "64", "--chunk", "64",
                 "--query-block", "16"]
    with pytest.raises(SystemExit):
        train_duplication.main(one_chunk + ["--temperature", "8"])
    assert "--temperature-steps 0: must be >= 1 with --temperature 8.0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_duplication.main(one_chunk[:6] + ["--chunk", "32", "--query-block", "16", "--temperature", "8",
                                                "--temperature-steps", "10"])
    err = capsys.readouterr().err
    assert "--temperature 8.0: only for one-chunk lsh" in err and "--chunk 32, --length 64" in err
    with pytest.raises(SystemExit):
        train_duplication.main(one_chunk + ["--temperature", "0.5"])
    assert "--temperature 0.5: must be >= 1" in capsys.readouterr().err


def test_learned_positions_change_the_logits_and_are_refused_past_the_table():
    model = tiny("full")
    ids = torch.from_numpy(duplication.batch(np.random.default_rng(2), 1, 16)[0])
    a, _ = model(ids)
    b, _ = model(ids, start=8)  # the same tokens at other absolute positions
    assert not torch.allclose(a, b, atol=1e-3)
    with pytest.raises(ValueError, match="last position 31"):
        model(torch.zeros(1, 33, dtype=torch.int64))


def test_sinusoid_table_matches_the_formula():
    t = train_duplication.sinusoid_table(50, 8)
    p, i = 37, 2  # column 2i: sin(p / 10000^(2i/8)); column 2i+1: cos of the same
    assert t[p, 2 * i].item() == pytest.approx(np.sin(p / 10000 ** (4 / 8)), abs=1e-6)
    assert t[p, 2 * i + 1].item() == pytest.approx(np.cos(p / 10000 ** (4 / 8)), abs=1e-6)


def test_learned_package_runs_from_its_files_like_the_torch_model(tmp_path):
    pytest.importorskip("onnx")
    model = tiny("full")
    export.export_package(model, str(tmp_path), "dup-tiny")
    export.check_graphs(str(tmp_path), 1, learned=True)
    man = json.load(open(tmp_path / "engram.json"))
    assert man["architecture"]["positional"] == {"type": "learned", "maxPositions": 32}
    assert man["memory"]["layers"]["default"]["attention"] == {"provider": "full", "positional": "none"}
    ids = torch.from_numpy(duplication.batch(np.random.default_rng(3), 2, 32)[0])
    want, _ = model(ids)
    got = export.PackageRunner(str(tmp_path)).run(ids, segment=8)  # four segments: positions continue across them
    assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()


def test_lsh_package_carries_no_rotations(tmp_path):
    pytest.importorskip("onnx")
    model = tiny("lsh")
    export.export_package(model, str(tmp_path), "dup-tiny-lsh")
    train_duplication.strip_rotations(str(tmp_path))
    from engram_model import safetensors_io
    assert safetensors_io.read(str(tmp_path / "memory.safetensors")) == {}
    man = json.load(open(tmp_path / "engram.json"))
    assert man["memory"]["layers"]["default"]["attention"] == {"provider": "lsh", "rounds": 2, "buckets": 4,
                                                               "chunk": 8, "causal": True}


def test_demo_fixture_is_what_the_tiny_package_counts_from_its_files():
    """cli/src/test/resources/duplication-demo-expected.json (the Java DuplicationDemoTest's expectation) is what
    PackageRunner counts on the demo's sequences, and those sequences are the Java demo's (seed * 1000003 + trial)."""
    pytest.importorskip("onnx")
    res = os.path.join(os.path.dirname(FIXTURE), "duplication")
    with open(os.path.join(os.path.dirname(FIXTURE), "duplication-demo-expected.json")) as f:
        fixture = json.load(f)
    assert duplication.demo_expectations(os.path.join(res, "dup-tiny-full"), fixture["seed"], fixture["trials"]) == fixture
    assert duplication.demo_trial_seed(42, 3) == 42 * 1_000_003 + 3
    assert duplication.demo_trial_seed(-1, 0) == -1_000_003  # Java long arithmetic, not Python's unbounded ints
    assert duplication.demo_trial_seed(1 << 62, 0) == ((1 << 62) * 1_000_003 + (1 << 63)) % (1 << 64) - (1 << 63)
