"""engram_import.gptq: calibrated rounding (`engram quantize --calibration`).

(a) A case worked by hand: three rows, int8, inputs correlating rows 0 and 1; the row-0 rounding error moves row 1
    across a rounding boundary, exactly as the least-squares compensation says.
(b) With inputs that never correlate (H = I) nothing is compensated: the codes, scales and zero points are the
    nearest-code ones (quantize.py's, tested on their own in test_quantize.py).
(c) The paper's claim, on correlated inputs: the layer's output error |X (W - W_q)|^2 is smaller than with the
    nearest codes, int4 (blocks 16 and 32, K not a whole number of blocks) and int8.
(d) End to end: the calibration inputs recorded from a package run are the inputs its weight products see (checked
    against X^T X computed from an independent run of the first layer); a calibrated package records how it was
    made, keeps the nearest-code package's layout, and its logits on the calibration text are closer to the float
    package's than the nearest-code package's are.
(e) Bad calibration files and options are refused naming the field, leaving nothing behind.
"""
import json
import os

import numpy as np
import pytest
import torch

from engram_import.checkpoint import ImportError_
from engram_import.gptq import gptq_int4_blocks, gptq_int8_columns, hessians
from engram_import.quantize import quantize_int4_blocks, quantize_int8_columns, quantize_package
from engram_model import make_test_packages
from engram_model.export import PackageRunner


def dequantize_int4(codes, scales, zps, K):
    n, k_blocks, block = codes.shape
    w = (codes.astype(np.float64) - zps[:, :, None].astype(np.float64)) * scales[:, :, None]
    return w.reshape(n, k_blocks * block)[:, :K].T


def test_a_hand_worked_case_moves_the_next_row_across_a_rounding_boundary():
    # Column scale max|w| / 63 = 0.63 / 63 = 0.01. Row 0: 31.49 -> code 31, error 0.0049. H (with the 1% dampening:
    # mean diagonal 1 -> +0.01) = [[1.01, .5, 0], [.5, 1.01, 0], [0, 0, 1.01]]: the least-squares fix for row 1 is
    # w1 + (H01 / H11) * 0.0049 = 0.2045 + 0.002426 = 0.206926 -> code 21 (nearest: 20.45 -> 20). Row 2 does not
    # correlate with rows 0 and 1, so it stays at 0.63 -> 63.
    w = np.array([[0.3149], [0.2045], [0.63]], dtype=np.float32)
    h = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]])
    codes, scale = gptq_int8_columns(w, h)
    assert scale.tolist() == pytest.approx([0.01], rel=1e-6)
    assert codes[:, 0].tolist() == [31, 21, 63]
    assert quantize_int8_columns(w)[0][:, 0].tolist() == [31, 20, 63]


def test_uncorrelated_inputs_give_the_nearest_codes():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(80, 24)).astype(np.float32)
    for block in (16, 32):
        got, want = gptq_int4_blocks(w, np.eye(80), block), quantize_int4_blocks(w, block)
        for g, e in zip(got, want):
            assert g.dtype == e.dtype and g.shape == e.shape
            assert np.array_equal(g, e)
    assert all(np.array_equal(g, e) for g, e in zip(gptq_int8_columns(w, 3 * np.eye(80)), quantize_int8_columns(w)))


@pytest.mark.parametrize("kind", ["int4-16", "int4-32", "int8"])
def test_correlated_inputs_get_a_smaller_output_error_than_the_nearest_codes(kind):
    rng = np.random.default_rng(2)
    K, N, M = 88, 40, 3000  # K = 88: int4 pads the last block
    x = rng.normal(size=(M, K)) @ rng.normal(size=(K, K)) * 0.3 + rng.normal(size=(M, K))
    w = rng.normal(size=(K, N)).astype(np.float32)
    if kind == "int8":
        nearest = np.multiply(*quantize_int8_columns(w))
        calibrated = np.multiply(*gptq_int8_columns(w, x.T @ x))
    else:
        block = int(kind.split("-")[1])
        nearest = dequantize_int4(*quantize_int4_blocks(w, block), K)
        calibrated = dequantize_int4(*gptq_int4_blocks(w, x.T @ x, block), K)
    err = lambda wq: np.square(x @ (w - wq)).sum()
    print(f"{kind}: |X dW|^2 nearest {err(nearest):.1f}, calibrated {err(calibrated):.1f}")
    assert err(calibrated) < 0.8 * err(nearest)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("tiny"))
    make_test_packages.write_case("full-learned", out, seed=7, segments=3)
    return os.path.join(out, "full-learned")


def _ids(n, seed=5):
    return make_test_packages.fixed_input(seed, n)[0].tolist()


def test_recorded_inputs_are_what_the_weights_see(tiny):
    ids = _ids(40)
    found = hessians(tiny, np.array(ids), 40)
    manifest = json.load(open(os.path.join(tiny, "engram.json")))
    pre = found[manifest["files"]["layers"][0]["pre"]]
    # every weight of layer 0's pre block reads the normalised embedding: recompute it from an independent run that
    # records nothing, as the block's own input to its first weight product
    runner = PackageRunner(tiny)
    graph = runner.pieces._pre[0]
    rows = []  # the input of the block's first weight product, at each call (one per segment)
    original_call, original_run = type(graph).__call__, graph._run

    class Spy(type(graph)):
        def __call__(self, **feeds):
            self.first = True
            return original_call(self, **feeds)

    def capture(op, a, attrs):
        if op == "MatMul" and graph.first:
            graph.first = False
            rows.append(a[0].reshape(-1, a[0].shape[-1]).double())
        return original_run(op, a, attrs)

    graph.__class__ = Spy
    graph._run = capture
    runner.run(torch.tensor([ids]))
    assert len(rows) == -(-40 // make_test_packages.SEGMENT)
    seen = {"x": torch.cat(rows)}
    x = seen["x"].numpy()
    assert len(pre) >= 1
    for name, h in pre.items():
        assert h.shape == (x.shape[1], x.shape[1])
        assert np.allclose(h, x.T @ x, rtol=1e-9, atol=1e-9), name


def test_a_calibrated_package_is_closer_to_float_on_its_calibration_text(tiny, tmp_path):
    ids = _ids(3 * make_test_packages.SEGMENT)
    cal = tmp_path / "cal.txt"
    cal.write_text(" ".join(map(str, ids)))
    x = torch.tensor([ids])
    want = PackageRunner(tiny).run(x)
    for qtype in ("int4", "int8"):
        nearest = quantize_package(tiny, str(tmp_path / f"{qtype}-nearest"), qtype)
        calibrated = quantize_package(tiny, str(tmp_path / f"{qtype}-gptq"), qtype, calibration_ids=str(cal))
        assert "calibration" not in nearest["quantization"]
        c = calibrated["quantization"]["calibration"]
        assert c["tokens"] == len(ids) and c["sequenceTokens"] == 4 * make_test_packages.SEGMENT
        assert c["method"].startswith("GPTQ")
        assert c["source"] == "cal.txt"
        d_nearest = (PackageRunner(str(tmp_path / f"{qtype}-nearest")).run(x) - want).square().mean().item()
        d_gptq = (PackageRunner(str(tmp_path / f"{qtype}-gptq")).run(x) - want).square().mean().item()
        print(f"{qtype}: mean squared logit error nearest {d_nearest:.3e}, calibrated {d_gptq:.3e}")
        assert d_gptq < d_nearest
        names = lambda d: sorted(os.listdir(d))
        assert names(tmp_path / f"{qtype}-nearest") == names(tmp_path / f"{qtype}-gptq")


@pytest.mark.parametrize("content,kwargs,message", [
    ("1 2 x 4", {}, "--calibration-ids .*: token 2 is 'x'; valid: whitespace-separated token ids"),
    ("1 2 99999", {}, "--calibration-ids .*: token 2 is 99999; valid: 0 to"),
    ("-1 2", {}, "token 0 is -1; valid: 0 to"),
    ("7", {}, "holds 1 token ids; give at least 2"),
    ("1 2 3", {"calibration_length": 0}, "--calibration-length is 0; valid: a number of tokens >= 1"),
    (None, {"calibration_length": 64}, "--calibration-length is for a calibration text or ids"),
])
def test_bad_calibration_is_refused_naming_the_field(tiny, tmp_path, content, kwargs, message):
    cal = tmp_path / "cal.txt"
    if content is not None:
        cal.write_text(content)
        kwargs = dict(kwargs, calibration_ids=str(cal))
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ImportError_, match=message):
        quantize_package(tiny, str(tmp_path / "q"), "int4", **kwargs)
    assert sorted(os.listdir(tmp_path)) == before


def test_a_manifest_without_a_vocabulary_is_refused_naming_the_field(tiny, tmp_path):
    import shutil
    src = tmp_path / "src"
    shutil.copytree(tiny, src)
    manifest = json.load(open(src / "engram.json"))
    del manifest["architecture"]["vocabSize"]
    json.dump(manifest, open(src / "engram.json", "w"))
    cal = tmp_path / "cal.txt"
    cal.write_text("1 2 3")
    with pytest.raises(ImportError_, match="engram.json 'architecture.vocabSize' is null; valid: a whole number >= 1"):
        quantize_package(str(src), str(tmp_path / "q"), "int4", calibration_ids=str(cal))
    assert not os.path.exists(tmp_path / "q")


def test_a_missing_calibration_file_is_refused(tiny, tmp_path):
    with pytest.raises(ImportError_, match="--calibration-ids .*: cannot read it"):
        quantize_package(tiny, str(tmp_path / "q"), "int8", calibration_ids=str(tmp_path / "none.txt"))
    assert not os.path.exists(tmp_path / "q")
