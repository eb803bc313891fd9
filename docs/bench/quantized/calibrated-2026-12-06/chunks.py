import sys, math, numpy as np, torch
sys.path.insert(0, "/work/main/tools")
torch.set_num_threads(1)
from engram_model.export import PackageRunner
data = np.frombuffer(open("/tmp/s43/heldout.txt", "rb").read(), dtype=np.uint8).astype(np.int64)
L = 128; n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
rng = np.random.default_rng(0)
starts = rng.integers(0, len(data) - L, size=n)
x = torch.tensor(np.stack([data[s:s + L] for s in starts]))
base = None
for p in ["pkg", "int8", "int8-gptq", "int4", "int4-gptq"]:
    r = PackageRunner(f"/tmp/s43/imp/{p}")
    nll = []
    for b in range(0, n, 100):
        xb = x[b:b + 100]
        lg = r.run(xb)
        nll.append(-torch.log_softmax(lg[:, :-1].double(), -1).gather(-1, xb[:, 1:, None])[..., 0])
    m = torch.cat(nll).mean().item()
    base = m if base is None else base
    print(f"{p:10s} ppl {math.exp(m):.4f} {100*(math.exp(m)/math.exp(base)-1):+.2f}%", flush=True)
