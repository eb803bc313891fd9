"""The passkey task's generators: train.py's depth-covering sampler and the Java twin's fixture."""
import json
import os

import numpy as np
import pytest
import torch

from engram_model import passkey, train
from engram_model.model import EngramModel

JDK_NEXT_INT_SEED0 = 821115357  # jshell: new java.util.SplittableRandom(0).nextInt()
JDK_NEXT_INT10_SEED0 = 8  # new java.util.SplittableRandom(0).nextInt(10)
FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "cli", "src", "test", "resources", "passkey-golden.json")


def key_positions(ids):
    return [int(np.flatnonzero(row == passkey.KEY)[0]) for row in ids]


def test_last_segment_placements_lie_in_the_question_segment_and_reach_the_question():
    rng = np.random.default_rng(5)
    for length in [64, 96, 512, 1000]:
        ids, mask, keys = train.training_batch(rng, 400, length, 5, 32, boundary=0.0, last_segment=1.0)
        ks = key_positions(ids)
        direct = length - 7 - 6  # <passkey-is> d1..d5 . then directly <what-is-the-passkey>
        first = (length - 6) // 32 * 32  # the question's segment starts here
        if first > direct:  # no room for the block inside the question's segment: directly before it
            assert set(ks) == {direct}
            continue
        assert min(ks) >= first and max(ks) == direct
        # every position of the segment that fits the block is drawn, depth 1 for about 1/4 + 3/4 / positions
        assert set(ks) == set(range(first, direct + 1))
        share = ks.count(direct) / len(ks)
        expected = 0.25 + 0.75 / (direct + 1 - first)
        assert abs(share - expected) < 0.08, (length, share, expected)
        for row, key, k in zip(ids, keys, ks):
            assert list(row[k + 1:k + 6]) == list(key) and row[k + 6] == passkey.DOT
            assert list(row[-5:]) == list(key) and row[-6] == passkey.ASK
        assert mask[:, -5:].all() and not mask[:, :-5].any()
    # depth 1 has no filler between the block and the question
    ids, _, _ = train.training_batch(np.random.default_rng(0), 64, 64, 5, 32, last_segment=1.0)
    assert any(list(r[-13:-11]) == [passkey.KEY, r[-5]] and r[-7] == passkey.DOT for r in ids)


def test_mixed_placements_keep_their_shares_and_zero_fractions_are_the_old_stream():
    rng = np.random.default_rng(0)
    length = 16 * 32
    ids, _, _ = train.training_batch(rng, 2000, length, 5, 32, boundary=0.3, last_segment=0.25)
    ks = np.array(key_positions(ids))
    in_last = (ks >= length - 32).mean()
    # uniform placement lands in the last segment with probability 20/499; boundary placements too
    uniform_last = 20 / 499
    assert abs(in_last - (0.25 + 0.45 * uniform_last + 0.3 * 7 / (15 * 7))) < 0.03, in_last
    crossing = ((ks % 32) + 7 > 32).mean()  # the block ends at or after a segment's last token
    assert crossing > 0.3
    a = train.training_batch(np.random.default_rng(3), 8, 256, 5, 32)
    b = passkey.batch(np.random.default_rng(3), 8, 256, 5)
    assert all((x == y).all() for x, y in zip(a, b))


def test_java_splittable_random_matches_known_java_values():
    # values of the JDK's new SplittableRandom(0): nextInt() and nextInt(10) (jshell, Java 21)
    assert passkey.JavaSplittableRandom(0).next_int() == JDK_NEXT_INT_SEED0
    assert passkey.JavaSplittableRandom(0).next_bounded(10) == JDK_NEXT_INT10_SEED0
    # the Java PasskeyTaskTest checks this fixture against the JDK's SplittableRandom and PasskeyTask;
    # here it is checked against passkey.sample with the emulated stream
    with open(FIXTURE) as f:
        fixture = json.load(f)
    assert fixture == passkey.golden_cases()


def test_resume_continues_a_bundled_checkpoint_written_before_max_positions_existed(tmp_path):
    # models/passkey-window.model.pt was saved before ModelConfig gained max_positions; the recipes in
    # models/README.md resume such checkpoints, so a field added since must take its default, not refuse them.
    bundled = os.path.join(os.path.dirname(__file__), "..", "..", "models", "passkey-window.model.pt")
    saved = __import__("torch").load(bundled, map_location="cpu")["config"]
    assert "max_positions" not in saved
    out = tmp_path / "resumed"
    train.main(["--strategy", "window", "--resume", bundled, "--out", str(out), "--steps", "1", "--batch", "2",
                "--min-segments", "1", "--max-segments", "1", "--curriculum", "0", "--threads", "1",
                "--eval-mults", "1"])
    assert (out / "engram.json").exists()


def test_first_segment_placements_start_in_the_first_segment_and_reach_depth_0_and_the_first_boundary():
    rng = np.random.default_rng(7)
    length = 16 * 32
    ids, _, keys = train.training_batch(rng, 1000, length, 5, 32, first_segment=1.0)
    ks = key_positions(ids)
    assert set(ks) == set(range(1, 33))  # depth 0 (k = 1) to a block starting on the segment's last token
    for row, key, k in zip(ids, keys, ks):
        assert list(row[k + 1:k + 6]) == list(key) and row[k + 6] == passkey.DOT
    # a tenth first-segment share: about that many more blocks start in the first segment than uniform gives
    ids, _, _ = train.training_batch(np.random.default_rng(8), 2000, length, 5, 32, first_segment=0.1)
    share = (np.array(key_positions(ids)) <= 32).mean()
    assert abs(share - (0.1 + 0.9 * 32 / 499)) < 0.03, share


def test_after_bos_placements_start_directly_after_bos_and_add_to_the_others():
    length = 16 * 32
    ids, _, keys = train.training_batch(np.random.default_rng(9), 200, length, 5, 32, after_bos=1.0)
    assert set(key_positions(ids)) == {1}  # the key token right after <bos> at 0
    for row, key in zip(ids, keys):
        assert list(row[2:7]) == list(key) and list(row[-5:]) == list(key)
    # a fifth beside a fifth of first-segment placements: 0.2 at k = 1, plus 1/32 of the first-segment ones and
    # 1/499 of the uniform rest
    ks = np.array(key_positions(train.training_batch(np.random.default_rng(10), 3000, length, 5, 32,
                                                     first_segment=0.2, after_bos=0.2)[0]))
    assert abs((ks == 1).mean() - (0.2 + 0.2 / 32 + 0.6 / 499)) < 0.025, (ks == 1).mean()
    assert abs((ks <= 32).mean() - (0.4 + 0.6 * 32 / 499)) < 0.03


def test_before_question_placements_end_directly_before_the_question_at_any_length():
    # lengths that put the question at offsets 26, 30, 0 and 4 of its segment: the block then lies in the question's
    # segment, across the boundary before it, or wholly in the segment before; always ending right before it
    for length in (16 * 32, 16 * 32 + 4, 16 * 32 + 6, 16 * 32 + 10):
        ids, _, keys = train.training_batch(np.random.default_rng(11), 50, length, 5, 32, before_question=1.0)
        ask = length - 6  # <what-is-the-passkey>, then the 5 answer digits
        assert set(key_positions(ids)) == {ask - 7}  # <passkey-is> d1..d5 . then the question
        for row, key in zip(ids, keys):
            assert list(row[ask - 6:ask - 1]) == list(key) and row[ask - 1] == passkey.DOT and row[ask] == passkey.ASK
    # a fifth beside a fifth of last-segment placements (a quarter of which end there too) and uniform placement
    length = 16 * 32
    ks = np.array(key_positions(train.training_batch(np.random.default_rng(12), 3000, length, 5, 32,
                                                     last_segment=0.2, before_question=0.2)[0]))
    room = length - 1 - 7 - 6
    last = 1 + room
    in_last_segment = (last - (length - 6) // 32 * 32 + 1)  # block positions in the question's segment
    want = 0.2 + 0.2 * (0.25 + 0.75 / in_last_segment) + 0.6 / (room + 1)
    assert abs((ks == last).mean() - want) < 0.025, ((ks == last).mean(), want)


def test_window_option_widens_the_memory_models_local_attention_and_resume_may_change_only_that(tmp_path):
    assert train.strategy_config("lsh-knn").attention[0]["window"] == 0
    assert all(a["window"] == 8 for a in train.strategy_config("lsh-knn", window=8).attention)
    first = tmp_path / "w0"
    common = ["--strategy", "infini", "--steps", "1", "--batch", "2", "--min-segments", "2", "--max-segments", "2",
              "--curriculum", "0", "--threads", "1", "--eval-mults", "1"]
    train.main(common + ["--out", str(first)])
    widened = tmp_path / "w8"
    train.main(common + ["--window", "8", "--resume", str(first) + ".model.pt", "--out", str(widened)])
    with open(widened / "engram.json") as f:
        manifest = json.load(f)
    layers = manifest["memory"]["layers"]
    assert manifest["training"]["window"] == 8 and "window" not in manifest["training"]["stages"][0]
    assert layers == {"default": layers["default"]} and layers["default"]["attention"]["window"] == 8, layers
    # a resume that changes anything else than the window is refused, and so is --window on the baseline
    with pytest.raises(SystemExit):
        train.main(common + ["--segment", "16", "--resume", str(first) + ".model.pt", "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit):
        train.main(["--strategy", "window", "--window", "8", "--out", str(tmp_path / "y")])


#: a one-step lsh-knn training, for the options that only change its manifest
ONE_STEP_LSH_KNN = ["--strategy", "lsh-knn", "--steps", "1", "--batch", "2", "--min-segments", "2", "--max-segments",
                    "2", "--curriculum", "0", "--threads", "1", "--eval-mults", "1"]


def assert_refused(refusals, out, capsys):
    """Each of ``refusals`` (train.py's arguments -> the message it must print) exits before writing ``out``. Each
    runs on top of the one-step command (its --strategy replaced where given), so a refusal that went missing
    trains one step and fails here at once instead of training for the default minutes."""
    for bad, message in refusals.items():
        with pytest.raises(SystemExit):
            train.main(ONE_STEP_LSH_KNN + list(bad) + ["--out", str(out)])
        assert message in capsys.readouterr().err
    assert not out.exists()


def test_knn_k_option_sets_lsh_knn_retrieval_breadth_and_resume_may_change_it(tmp_path, capsys):
    assert train.strategy_config("lsh-knn").memory[0]["k"] == train.KNN_K == 32
    assert all(m["k"] == 16 for m in train.strategy_config("lsh-knn", knn_k=16).memory)
    first = tmp_path / "k32"
    train.main(ONE_STEP_LSH_KNN + ["--out", str(first)])
    narrowed = tmp_path / "k16"
    train.main(ONE_STEP_LSH_KNN + ["--knn-k", "16", "--resume", str(first) + ".model.pt", "--out", str(narrowed)])
    with open(narrowed / "engram.json") as f:
        manifest = json.load(f)
    assert manifest["memory"]["layers"]["default"]["memory"]["k"] == 16, manifest["memory"]
    assert manifest["training"]["knnK"] == 16 and "knnK" not in manifest["training"]["stages"][0]
    refusals = {("--strategy", "infini", "--knn-k", "16"): "--knn-k: applies to --strategy lsh-knn only (got infini)",
                ("--strategy", "lsh-knn", "--knn-k", "0"): "--knn-k 0: must be >= 1"}
    assert_refused(refusals, tmp_path / "x", capsys)


def test_knn_rounds_option_sets_lsh_knn_hashing_rounds_and_resume_keeps_the_rounds_learned(tmp_path, capsys):
    assert train.strategy_config("lsh-knn").memory[0]["rounds"] == train.KNN_ROUNDS == 4
    first = tmp_path / "r4"
    train.main(ONE_STEP_LSH_KNN + ["--out", str(first)])
    more = tmp_path / "r6"
    train.main(ONE_STEP_LSH_KNN + ["--knn-rounds", "6", "--resume", str(first) + ".model.pt", "--out", str(more)])
    started = torch.load(str(first) + ".model.pt", map_location="cpu")["state"]
    ended = torch.load(str(more) + ".model.pt", map_location="cpu")
    rotation_keys = [k for k in started if k.endswith("memory.rotations")]
    assert len(rotation_keys) == 2
    for k in rotation_keys:
        assert tuple(ended["state"][k].shape) == (4, 16, 6, 8)  # kv heads, key dim, rounds, buckets / 2
        assert torch.equal(ended["state"][k][:, :, :4], started[k])  # the rounds it learned, as they were
        added = ended["state"][k][:, :, 4:]
        assert 0.7 < added.std().item() < 1.3 and not torch.equal(added, started[k][:, :, :2])  # a new standard draw
    assert all(m["rounds"] == 6 for m in ended["config"]["memory"])
    with open(more / "engram.json") as f:
        manifest = json.load(f)
    assert manifest["memory"]["layers"]["default"]["memory"]["rounds"] == 6
    assert manifest["training"]["knnRounds"] == 6 and "knnRounds" not in manifest["training"]["stages"][0]
    fewer = train.with_rounds(started, 2, torch.Generator().manual_seed(0))  # fewer rounds keep the first ones
    assert all(torch.equal(fewer[k], started[k][:, :, :2]) for k in rotation_keys)
    refusals = {("--strategy", "infini", "--knn-rounds", "6"): "--knn-rounds: applies to --strategy lsh-knn only "
                "(got infini)",
                ("--strategy", "lsh-knn", "--knn-rounds", "0"): "--knn-rounds 0: must be >= 1"}
    assert_refused(refusals, tmp_path / "x", capsys)


def test_knn_scale_option_sets_lsh_knn_read_temperature_and_resume_may_change_it(tmp_path, capsys):
    assert "scale" not in train.strategy_config("lsh-knn").memory[0]  # the scheme's default, sqrt(key size)
    assert all(m["scale"] == 6.0 for m in train.strategy_config("lsh-knn", knn_scale=6.0).memory)
    first = tmp_path / "s6"
    train.main(ONE_STEP_LSH_KNN + ["--knn-scale", "6", "--out", str(first)])
    back = tmp_path / "default"  # resuming without the option goes back to the default temperature
    train.main(ONE_STEP_LSH_KNN + ["--resume", str(first) + ".model.pt", "--out", str(back)])
    manifests = {}
    for name in ("s6", "default"):
        with open(tmp_path / name / "engram.json") as f:
            manifests[name] = json.load(f)
    assert manifests["s6"]["memory"]["layers"]["default"]["memory"]["scale"] == 6.0
    assert manifests["s6"]["training"]["knnScale"] == 6.0
    assert "scale" not in manifests["default"]["memory"]["layers"]["default"]["memory"]
    assert "knnScale" not in manifests["default"]["training"] and manifests["default"]["training"]["stages"][0]["knnScale"] == 6.0
    refusals = {("--strategy", "infini", "--knn-scale", "6"): "--knn-scale: applies to --strategy lsh-knn only (got infini)",
                ("--strategy", "lsh-knn", "--knn-scale", "-1"): "--knn-scale -1.0: must be a finite number > 0, or 0",
                ("--strategy", "lsh-knn", "--knn-scale", "inf"): "--knn-scale inf: must be a finite number > 0, or 0"}
    assert_refused(refusals, tmp_path / "x", capsys)


def test_fresh_rotations_redraw_every_step_and_the_package_keeps_the_draw_it_started_with(tmp_path, capsys,
                                                                                          monkeypatch):
    model = EngramModel(train.strategy_config("lsh-knn"))
    memories = train.lsh_knn_memories(model)
    assert len(memories) == 2
    before = [m.rotations.clone() for m in memories]
    generator = torch.Generator().manual_seed(5)
    train.redraw_rotations(memories, generator)
    after = [m.rotations.clone() for m in memories]
    for old, new in zip(before, after):
        assert new.shape == old.shape and not torch.equal(new, old)
    train.redraw_rotations(memories, generator)  # each step a new draw, not the same one again
    assert not torch.equal(memories[0].rotations, after[0])
    assert not torch.equal(memories[0].rotations, memories[1].rotations)  # each memory its own draw

    first = tmp_path / "first"
    train.main(ONE_STEP_LSH_KNN + ["--out", str(first)])
    fresh = tmp_path / "fresh"
    draws = []
    redraw = train.redraw_rotations
    monkeypatch.setattr(train, "redraw_rotations",
                        lambda memories, generator: (draws.append(len(memories)), redraw(memories, generator)))
    train.main(ONE_STEP_LSH_KNN + ["--steps", "2", "--fresh-rotations", "--resume", str(first) + ".model.pt",
                                   "--out", str(fresh)])
    assert draws == [2, 2]  # both layers' memories, before each of the two steps
    started = torch.load(str(first) + ".model.pt", map_location="cpu")["state"]
    ended = torch.load(str(fresh) + ".model.pt", map_location="cpu")["state"]
    rotation_keys = [k for k in started if k.endswith("memory.rotations")]
    assert len(rotation_keys) == 2 and all(torch.equal(started[k], ended[k]) for k in rotation_keys)
    assert any(not torch.equal(started[k], ended[k]) for k in started if k not in rotation_keys)  # it did train
    with open(fresh / "engram.json") as f:
        manifest = json.load(f)
    assert manifest["training"]["freshRotations"] is True and "freshRotations" not in manifest["training"]["stages"][0]
    assert_refused({("--strategy", "infini", "--fresh-rotations"):
                    "--fresh-rotations: applies to --strategy lsh-knn only (got infini)"}, tmp_path / "x", capsys)


def test_boundary_starts_narrow_the_boundary_placements_to_the_offsets_given():
    length = 16 * 32
    ids, _, keys = train.training_batch(np.random.default_rng(9), 600, length, 5, 32, boundary=1.0,
                                        boundary_starts=[30, 31])
    ks = np.array(key_positions(ids))
    assert set(ks % 32) == {30, 31}  # the block starts there in every sample, at segment boundaries all along
    assert len(set(ks // 32)) >= 12
    for row, key, k in zip(ids, keys, ks):
        assert list(row[k + 1:k + 6]) == list(key) and row[k + 6] == passkey.DOT
    # an offset whose block would not reach the segment's end is refused by name
    import pytest
    with pytest.raises(SystemExit):
        train.main(["--strategy", "lsh-knn", "--boundary", "0.5", "--boundary-starts", "20", "--out", "/nonexistent"])


def test_filler_write_share_is_the_filler_tokens_part_of_each_write_mass_and_recording_leaves_the_model_as_it_was():
    import torch
    from engram_model.model import EngramModel

    f, d = int(passkey.FILLER[0]), 3  # a filler word, a digit
    ids = torch.tensor([[passkey.BOS, f, d, f], [f, f, f, d]])
    # one layer, one kv head, masses per token 1, 2, 3, 4 and 4, 3, 2, 1, written in two segments of two
    mass = torch.tensor([[[1.0, 2.0, 3.0, 4.0]], [[4.0, 3.0, 2.0, 1.0]]])
    share = train.filler_write_share([[mass[..., :2], mass[..., 2:]]], ids)
    # by hand: (2 + 4) / 10 and (4 + 3 + 2) / 10, averaged
    assert abs(share.item() - (0.6 + 0.9) / 2) < 1e-6

    model = EngramModel(train.strategy_config("infini", segment=8))
    batch, mask, _ = train.training_batch(np.random.default_rng(3), 2, 32, 5, 8)
    batch, mask = torch.from_numpy(batch), torch.from_numpy(mask)
    plain, _, none = train.answer_loss(model, batch, mask)
    loss, _, share = train.answer_loss(model, batch, mask, with_filler_share=True)
    assert none is None and torch.equal(plain, loss), "recording the masses changes nothing the model computes"
    assert 0.5 < share.item() < 1.0, share  # mostly filler, not only
    share.backward()  # the graph is kept: the share trains the key projections
    assert model.layers[0].pre.wk.weight.grad.abs().sum() > 0, "the share reaches the key projection"
    assert all("write" not in vars(layer.memory) for layer in model.layers), "the class's own write is back"


def test_z_share_is_one_when_only_digits_were_written_and_less_with_filler():
    import torch
    from engram_model import z_share
    from engram_model.model import EngramModel

    torch.manual_seed(0)
    model = EngramModel(train.strategy_config("infini", segment=8))
    ids, _, _ = passkey.batch(np.random.default_rng(1), 2, 32, 5, 0.5)
    ids = torch.from_numpy(ids)
    digits_only = ids.clone()
    digits_only[:, :24] = 7  # every token the memory holds before the question's segment is a digit
    for layer_share in z_share.digit_shares(model, digits_only):
        assert torch.allclose(layer_share, torch.ones_like(layer_share))
    for layer_share in z_share.digit_shares(model, ids):  # five digits among 24 tokens: a part only
        assert ((layer_share > 0) & (layer_share < 1)).all(), layer_share
    assert all("read" not in vars(layer.memory) and "write" not in vars(layer.memory) for layer in model.layers)


def test_key_lr_scale_gives_the_key_projections_their_own_learning_rate():
    from engram_model.model import EngramModel
    model = EngramModel(train.strategy_config("infini", layers=2))
    groups = train.param_groups(model, 0.01, key_lr_scale=40.0)
    keys = [g for g in groups if g["lr_scale"] == 40.0]
    names = {id(p): n for n, p in model.named_parameters()}
    assert len(keys) == 1 and sorted(names[id(p)] for p in keys[0]["params"]) == ["layers.0.pre.wk.weight",
                                                                                  "layers.1.pre.wk.weight"]
    # every parameter in exactly one group; without the option no group has another rate
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert all(g["lr_scale"] == 1.0 for g in train.param_groups(model, 0.01))


def test_a_key_lr_scale_that_is_not_positive_is_refused_naming_the_option(capsys):
    import pytest
    with pytest.raises(SystemExit):
        train.main(["--strategy", "infini", "--out", "unused", "--key-lr-scale", "0"])
    assert "--key-lr-scale 0.0: must be > 0" in capsys.readouterr().err


def filler_jumps(row):
    """Positions t where filler token t+1 is not the filler text's successor of token t (a turn restarted it)."""
    cycle = len(passkey.FILLER)
    successor = {int(passkey.FILLER[i]): int(passkey.FILLER[(i + 1) % cycle]) for i in range(cycle)
                 if passkey.FILLER[i] not in (passkey.TOKEN_ID["is"], passkey.TOKEN_ID["the"], passkey.DOT)}
    return [t for t in range(len(row) - 1) if int(row[t]) in successor and int(row[t + 1]) in passkey.FILLER
            and successor[int(row[t])] != int(row[t + 1])]


def test_conversation_shaped_filler_restarts_the_text_in_turns_and_keeps_the_layout():
    rng = np.random.default_rng(11)
    for n in [0, 1, 47, 48, 49, 500]:
        run = passkey.turns_filler(rng, n)
        assert len(run) == n and np.isin(run, passkey.FILLER).all()
    starts = [0, 0]  # turns that begin the text (at "the grass") against all turns, from many short runs
    for _ in range(400):
        run = passkey.turns_filler(rng, 1)
        starts[0] += run[0] == passkey.FILLER[0]
        starts[1] += 1
    # half the turns start the text, the other half at a uniform offset (1 in 24 of those is offset 0 too)
    assert abs(starts[0] / starts[1] - (0.5 + 0.5 / 24)) < 0.08
    rows = []
    for seed in range(64):
        row, key, k = passkey.sample(np.random.default_rng(seed), 512, 5, turns=True)
        base, base_key, base_k = passkey.sample(np.random.default_rng(seed), 512, 5)
        assert (k, list(key)) == (base_k, list(base_key)), "the same draws place the same passkey at the same position"
        assert row[k] == passkey.KEY and list(row[k + 1:k + 6]) == list(key) and row[k + 6] == passkey.DOT
        assert row[0] == passkey.BOS and row[-6] == passkey.ASK and list(row[-5:]) == list(key)
        assert filler_jumps(base) == [], "the plain layout's filler is one continuous run"
        rows.append(row)
    # 512 tokens of turns of at most 48: several restarts in every row (a jump hides only where a turn restarts at
    # the very token that would have come next anyway)
    assert min(len(filler_jumps(r)) for r in rows) >= 3
    _, mask, _ = passkey.batch(np.random.default_rng(2), 4, 512, 5, turns=True)
    assert mask[:, -5:].all() and not mask[:, :-5].any()


def test_turns_share_of_training_samples_is_the_fraction_given():
    ids, _, _ = train.training_batch(np.random.default_rng(4), 400, 512, 5, 32, turns=0.3)
    shaped = np.mean([len(filler_jumps(r)) > 0 for r in ids])
    assert abs(shaped - 0.3) < 0.07, shaped


def test_any_length_puts_the_question_at_every_offset_of_its_segment():
    rng = np.random.default_rng(8)
    assert {train.batch_length(rng, 16, 32, 5, False) for _ in range(50)} == {512}
    lengths = [train.batch_length(rng, 16, 32, 5, True) for _ in range(2000)]
    assert set(lengths) == set(range(481, 513)), "0 to 31 tokens short of 16 whole segments"
    assert {(n - 6) % 32 for n in lengths} == set(range(32)), "the question at each offset of its segment"
    assert min(train.batch_length(rng, 1, 32, 5, True) for _ in range(200)) == 14, "never too short for the task"
    ids, mask, keys = train.training_batch(rng, 4, 487, 5, 32, boundary=0.3, last_segment=0.3, first_segment=0.2)
    assert ids.shape == (4, 487) and (ids[:, -6] == passkey.ASK).all() and mask[:, -5:].all()


def answer_read_at_a_segment_start(length, segment=32, digits=5):
    """Whether a row that predicts an answer digit (rows length - digits - 1 .. length - 2: row t predicts token
    t + 1) is the first row of a segment."""
    return any(row % segment == 0 for row in range(length - digits - 1, length - 1))


def test_answer_boundary_draws_lengths_whose_answer_is_read_at_a_segment_start(tmp_path, capsys):
    rng = np.random.default_rng(3)
    always = {train.batch_length(rng, 16, 32, 5, True, 1.0) for _ in range(500)}
    assert always == set(range(482, 487)), "15 whole segments and 2 to 6 tokens: a digit read at row 480"
    assert all(answer_read_at_a_segment_start(n) for n in always)
    rng = np.random.default_rng(4)
    share = np.mean([answer_read_at_a_segment_start(train.batch_length(rng, 16, 32, 5, True, 0.4))
                     for _ in range(4000)])
    assert abs(share - (0.4 + 0.6 * 5 / 32)) < 0.03, share  # the uniform draw's 5 in 32 among the rest
    a, b = np.random.default_rng(5), np.random.default_rng(5)  # 0: the draws of the runs before the option
    assert [train.batch_length(a, 16, 32, 5, True, 0.0) for _ in range(50)] == \
        [16 * 32 - int(b.integers(32)) for _ in range(50)]
    out = tmp_path / "ab"
    train.main(ONE_STEP_LSH_KNN + ["--any-length", "--answer-boundary", "0.4", "--out", str(out)])
    with open(out / "engram.json") as f:
        assert json.load(f)["training"]["answerBoundary"] == 0.4
    assert_refused({("--answer-boundary", "0.4"): "--answer-boundary: applies to batches of any length; give "
                                                   "--any-length too",
                    ("--any-length", "--answer-boundary", "1.5"): "--answer-boundary 1.5: must be in [0, 1]"},
                   tmp_path / "x", capsys)


def test_placement_fractions_out_of_range_or_summing_past_one_are_refused_naming_each_flag(capsys, tmp_path):
    common = ["--strategy", "infini", "--out", str(tmp_path / "never-written"), "--steps", "1"]
    with pytest.raises(SystemExit):
        train.main(common + ["--before-question", "1.5"])
    assert "--before-question 1.5: must be in [0, 1]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main(common + ["--boundary", "0.6", "--before-question", "0.5"])
    err = capsys.readouterr().err
    assert "--boundary 0.6" in err and "--before-question 0.5" in err and "--after-bos 0.0" in err
    assert "must sum to at most 1" in err


def test_a_row_counted_c_times_writes_what_the_row_repeated_c_times_writes():
    import torch
    from engram_model.schemes import InfiniMemory

    torch.manual_seed(4)
    for update in ("delta", "linear"):
        mem = InfiniMemory(heads=2, kv_heads=1, dk=4, dv=3, update=update)
        state = (torch.randn(1, 1, 4, 3), torch.rand(1, 1, 4) + 0.5)
        k, v = torch.randn(1, 1, 4, 4), torch.randn(1, 1, 4, 3)
        counts = torch.tensor([1.0, 3.0, 1.0, 2.0])[None, None, :, None]
        m, z = mem.write(k, v, None, state, row_counts=counts)
        repeated = torch.tensor([0, 1, 1, 1, 2, 3, 3])  # the segment with rows 1 and 3 written 3 and 2 times
        m2, z2 = mem.write(k[:, :, repeated], v[:, :, repeated], None, state)
        assert torch.allclose(m, m2, atol=1e-5) and torch.allclose(z, z2, atol=1e-5), update
        m1, z1 = mem.write(k, v, None, state)
        assert not torch.allclose(z, z1), "the counts change the write"


def test_counting_filler_rows_weighs_each_filler_row_of_each_sequence_in_every_segment():
    import torch
    from engram_model.model import EngramModel

    torch.manual_seed(0)
    model = EngramModel(train.strategy_config("infini", segment=8))
    ids, _, _ = passkey.batch(np.random.default_rng(2), 2, 29, 5, 0.5)  # 3 whole segments and a part
    ids = torch.from_numpy(ids)
    plain, _ = model(ids)
    with train.counting_filler_rows(model, ids, torch.ones(2)):
        ones, _ = model(ids)
    with train.counting_filler_rows(model, ids, None):
        none, _ = model(ids)
    assert torch.equal(plain, ones) and torch.equal(plain, none), "a count of 1 (or none) changes nothing"

    counts = torch.tensor([3.0, 5.0])
    keep_rows = lambda sk: sk  # noqa: E731: sigma(k) of every row, [B, G, N, dk]
    with train.counting_filler_rows(model, ids, counts), train.recording_write_mass(model, True, keep_rows) as rows:
        counted, states = model(ids)
    filler = np.isin(ids.numpy(), passkey.FILLER)
    per_row = torch.from_numpy(np.where(filler, counts.numpy()[:, None], 1.0)).float()[:, None, :, None]
    for layer, written in enumerate(rows):
        z = (torch.cat(written, dim=2) * per_row).sum(dim=2)  # by hand: each filler row's sigma(k) counted C times
        assert torch.allclose(states[layer][1][1], z, rtol=1e-5), layer
    assert not torch.allclose(counted, plain), "counted rows change the reads of later segments"
    assert all("write" not in vars(layer.memory) for layer in model.layers), "the class's own write is back"


def test_an_lsh_knn_pair_counted_c_times_reads_as_the_pair_stored_c_times():
    import torch
    from engram_model.schemes import LshKnnMemory

    torch.manual_seed(5)
    for exact in (True, False):
        mem = LshKnnMemory(heads=2, kv_heads=1, dk=4, dv=3, capacity=64, rounds=2, buckets=4, k=5, exact=exact, seed=1)
        state = mem.write(torch.randn(1, 1, 3, 4), torch.randn(1, 1, 3, 3), None, mem.init_state(1))
        k, v = torch.randn(1, 1, 4, 4), torch.randn(1, 1, 4, 3)
        counts = torch.tensor([1.0, 3.0, 1.0, 4.0])[None, None, :, None]
        counted = mem.write(k, v, None, state, row_counts=counts)
        repeated = torch.tensor([0, 1, 1, 1, 2, 3, 3, 3, 3])  # rows 1 and 3 stored 3 and 4 times: 12 pairs, k 5
        stored = mem.write(k[:, :, repeated], v[:, :, repeated], None, state)
        q = torch.cat([k, torch.randn(1, 2, 6, 4)[:, :1]], dim=2).expand(1, 2, 10, 4)  # the rows' own keys too
        for training in (True, False):  # top-k and the stable sort
            mem.train(training)
            assert torch.allclose(mem.read(q, counted), mem.read(q, stored), atol=1e-6), (exact, training)
        mem.eval()
        once = mem.write(k, v, None, state)
        assert not torch.allclose(mem.read(q, counted), mem.read(q, once)), "the copies change the read"
        ones = mem.write(k, v, None, state, row_counts=torch.ones(1, 1, 4, 1))
        assert torch.equal(mem.read(q, ones), mem.read(q, once)), "one copy each reads as the plain memory"
        with pytest.raises(ValueError, match=r"row_counts: 2.5 among them; valid: whole numbers >= 1"):
            mem.write(k, v, None, state, row_counts=torch.full((1, 1, 4, 1), 2.5))


def test_counting_filler_rows_stores_lsh_knn_filler_pairs_as_copies_and_one_step_trains_with_them(tmp_path):
    import torch
    from engram_model.model import EngramModel

    torch.manual_seed(0)
    model = EngramModel(train.strategy_config("lsh-knn", segment=8)).eval()
    ids, _, _ = passkey.batch(np.random.default_rng(2), 2, 29, 5, 0.5)
    ids = torch.from_numpy(ids)
    plain, _ = model(ids)
    with train.counting_filler_rows(model, ids, torch.ones(2)):
        ones, _ = model(ids)
    assert torch.equal(plain, ones), "a count of 1 changes nothing"
    with train.counting_filler_rows(model, ids, torch.tensor([3.0, 7.0])):
        counted, states = model(ids)
    filler = np.isin(ids.numpy(), passkey.FILLER)
    expected = torch.from_numpy(np.where(filler, np.array([3.0, 7.0])[:, None], 1.0)).float()  # every row written
    for layer, (_, memory_state) in zip(model.layers, states):
        if layer.memory is not None:
            assert torch.equal(memory_state[3][:, 0], expected)  # [B, G, S]: each stored pair's copies
    assert not torch.allclose(counted, plain), "copies of the filler change the reads of later segments"
    assert all("write" not in vars(layer.memory) for layer in model.layers if layer.memory is not None)
    train.main(ONE_STEP_LSH_KNN + ["--filler-counts", "8", "--filler-counts-share", "1", "--out", str(tmp_path / "c")])
    assert json.loads((tmp_path / "c.train_log.json").read_text())["training"]["fillerCounts"] == 8
    train.main(ONE_STEP_LSH_KNN + ["--filler-counts-length", "512,16384", "--filler-counts-share", "1",
                                   "--out", str(tmp_path / "d")])
    assert json.loads((tmp_path / "d.train_log.json").read_text())["training"]["fillerCountsLength"] == [512, 16384]


def test_filler_counts_by_length_make_the_memory_of_a_context_drawn_log_uniform_in_tokens():
    # L log-uniform in [512, 16384] tokens from a 1024-token batch: C = max(1, L / 1024), so C = 1 when L <= 1024 and
    # C < 2 when L < 2048: P(floor(C) = 1) = ln(2048 / 512) / ln(16384 / 512) = 2 / 5 and P(C >= 8) = ln 2 / ln 32 = 1/5
    rng = np.random.default_rng(0)
    counts = train.filler_counts(rng, 20000, 1024, 1.0, (512, 16384), 1.0, whole=True)
    assert counts.min() == 1 and counts.max() <= 16 and np.all(counts == np.floor(counts))
    assert abs(np.mean(counts == 1) - 0.4) < 0.015 and abs(np.mean(counts >= 8) - 0.2) < 0.015
    # from a 128-token batch the same lengths are 4 to 128 copies: never once
    short = train.filler_counts(rng, 20000, 128, 1.0, (512, 16384), 1.0, whole=True)
    assert short.min() >= 4 and short.max() <= 128
    # the share keeps the rest at one copy; unrounded for infini
    mixed = train.filler_counts(rng, 20000, 128, 1.0, (512, 16384), 0.25, whole=False)
    assert abs(np.mean(mixed == 1) - 0.75) < 0.015 and np.any(mixed != np.floor(mixed))
    assert train.filler_counts(rng, 4, 1024, 1.0, None, 1.0, whole=True) is None


def test_filler_counts_is_refused_for_a_memory_that_cannot_count_rows(tmp_path, capsys):
    assert_refused({("--strategy", "continuous", "--filler-counts", "4"):
                    "--filler-counts: applies to --strategy infini or lsh-knn only (got continuous)",
                    ("--filler-counts", "0.5"): "--filler-counts 0.5: must be a finite number >= 1",
                    ("--strategy", "continuous", "--filler-counts-length", "512,16384"):
                    "--filler-counts-length: applies to --strategy infini or lsh-knn only (got continuous)",
                    ("--filler-counts-length", "512"): "--filler-counts-length '512': must be two whole token counts",
                    ("--filler-counts-length", "900,512"): "--filler-counts-length '900,512': must have 0 < LO <= HI",
                    ("--filler-counts-length", "512,900", "--filler-counts", "4"):
                    "--filler-counts-length and --filler-counts: give one of them"},
                   tmp_path / "x", capsys)


def test_weight_average_follows_each_step_by_its_decay_and_replaces_the_trained_weights():
    import torch

    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    average = train.weight_average(model, 0.5)
    for w in (2.0, 4.0):  # by hand: 0.5 * 0 + 0.5 * 2 = 1, then 0.5 * 1 + 0.5 * 4 = 2.5
        with torch.no_grad():
            model.weight.fill_(w)
        average.update_parameters(model)
    train.take_average(model, average)
    assert model.weight.item() == 2.5


def test_weight_ema_trains_writes_the_average_and_is_refused_outside_its_range(tmp_path, capsys):
    import torch

    train.main(ONE_STEP_LSH_KNN + ["--out", str(tmp_path / "plain")])
    train.main(ONE_STEP_LSH_KNN + ["--weight-ema", "0.5", "--out", str(tmp_path / "avg")])
    # the same seed, so the same start and the same step: decay 0.5 writes the midpoint of the start and the step
    from engram_model.model import EngramModel
    torch.manual_seed(1)  # train.py's default --seed, set before it builds the model
    start = EngramModel(train.strategy_config("lsh-knn")).state_dict()
    plain = torch.load(tmp_path / "plain.model.pt")["state"]
    averaged = torch.load(tmp_path / "avg.model.pt")["state"]
    trained = [k for k in plain if plain[k].is_floating_point() and not torch.equal(plain[k], start[k])]
    assert trained, "the step moved some weights"
    for k in trained:
        assert torch.allclose(averaged[k], 0.5 * start[k] + 0.5 * plain[k], atol=1e-7), k
    assert json.loads((tmp_path / "avg.train_log.json").read_text())["training"]["weightEma"] == 0.5
    assert_refused({("--weight-ema", "1"): "--weight-ema 1.0: must be in [0, 1)",
                    ("--weight-ema", "-0.1"): "--weight-ema -0.1: must be in [0, 1)"}, tmp_path / "bad", capsys)


def test_layers_grown_on_resume_start_as_identities_and_computes_what_the_checkpoint_did(tmp_path, capsys):
    import torch
    from engram_model import passkey as pk
    from engram_model.model import EngramModel, ModelConfig

    train.main(ONE_STEP_LSH_KNN + ["--out", str(tmp_path / "two")])
    # a step at learning rate 0: the grown model as written is the checkpoint with a third layer appended
    train.main(ONE_STEP_LSH_KNN + ["--lr", "0", "--layers", "3", "--resume", str(tmp_path / "two.model.pt"),
                                   "--out", str(tmp_path / "three")])
    models = {}
    for name in ("two", "three"):
        ckpt = torch.load(tmp_path / f"{name}.model.pt")
        models[name] = EngramModel(ModelConfig.from_dict(ckpt["config"])).eval()
        models[name].load_state_dict(ckpt["state"])
    assert len(models["three"].layers) == 3
    ids, _, _ = pk.batch(np.random.default_rng(4), 3, 200, 5)  # seven segments: the memories are read too
    with torch.no_grad():
        two, _ = models["two"](torch.from_numpy(ids))
        three, _ = models["three"](torch.from_numpy(ids))
    assert torch.equal(two, three)  # out = hidden + 0 + 0 in the new layer: not one bit moves
    with open(tmp_path / "three" / "engram.json") as f:
        manifest = json.load(f)
    assert manifest["architecture"]["layers"] == 3 and len(manifest["files"]["layers"]) == 3
    assert manifest["training"]["grownFrom"] == 2 and manifest["training"]["layers"] == 3
    # one step from the grown checkpoint trains the new layer: its zero matrices get gradients at once
    train.main(ONE_STEP_LSH_KNN + ["--layers", "3", "--lr", "1e-2", "--warmup", "0", "--resume",
                                   str(tmp_path / "two.model.pt"), "--out", str(tmp_path / "stepped")])
    stepped = torch.load(tmp_path / "stepped.model.pt")["state"]
    assert stepped["layers.2.post.wo.weight"].abs().max() > 0
    assert_refused({("--layers", "0"): "--layers 0: must be >= 1", ("--steps", "0"): "--steps 0: must be >= 1",
                    ("--layers", "1", "--resume", str(tmp_path / "two.model.pt")):
                    "--layers 1: must be >= the 2 layers of --resume"}, tmp_path / "bad", capsys)


class _Oracle:
    """A stand-in model whose logits at t put all mass on token t + shift: shift 1 reads the answer (a perfect
    model), shift 0 repeats the token it sees (it answers <what-is-the-passkey> for the first digit: never right)."""

    cfg = type("Cfg", (), {"segment": 32})

    def __init__(self, shift, wrong_rows=()):
        self.shift, self.wrong_rows = shift, set(wrong_rows)

    def eval(self):
        pass

    def train(self):
        pass

    def __call__(self, ids):
        n, length = ids.shape
        target = torch.roll(ids, -self.shift, dims=1) if self.shift else ids.clone()
        for r in self.wrong_rows:
            target[r, -2] = (target[r, -2] + 1) % 10  # the last digit's logits: one digit off
        return torch.nn.functional.one_hot(target, len(passkey.VOCAB)).float(), None


def test_depth_eval_counts_a_prompt_only_when_every_digit_is_predicted():
    from engram_model import depth_eval
    lengths = [64, 66]
    assert depth_eval.depth_accuracy(_Oracle(1), [0.0, 1.0], lengths, 8, seed=3) == {0.0: 1.0, 1.0: 1.0}
    assert depth_eval.depth_accuracy(_Oracle(0), [0.5], lengths, 8, seed=3) == {0.5: 0.0}
    # two prompts of 8 at each length with the last digit wrong: 12 of 16 right
    assert depth_eval.depth_accuracy(_Oracle(1, wrong_rows=(0, 5)), [0.25], lengths, 8, seed=3) == {0.25: 0.75}


def test_depth_eval_refuses_bad_flags_naming_them(capsys):
    from engram_model import depth_eval
    for argv, named in [(["x.pt", "--depths", "0,1.5"], "--depths 1.5: must lie in [0, 1]"),
                        (["x.pt", "--lengths", "10-12"], "--lengths: length 10 is too short for a 5-digit passkey"),
                        (["x.pt", "--threads", "0"], "--threads 0: must be >= 1"),
                        (["x.pt", "--lengths", "a-b"], "--lengths 'a-b'"),
                        (["x.pt", "--per-length", "0"], "--per-length 0: must be >= 1")]:
        with pytest.raises(SystemExit):
            depth_eval.main(argv)
        assert named in capsys.readouterr().err
