"""Do a plain copy loop's slow passes coincide with DAMON's sampling? (docs/performance.md, 2026-12-06 night)

    python3 kdamond_probe.py [SECONDS]     # default 45; needs numpy and a running kdamond thread

One process copies 256 MB over and over (no JVM, no ONNX Runtime); this one samples kdamond's context switches every
2 ms. Prints kdamond's wake-up spacing and how many of the slow passes (> 1.3x the median) contain a wake-up, against
how many of all passes do.
"""
import multiprocessing as mp
import os
import sys
import time

import numpy as np


def kdamond_pid():
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if open(f"/proc/{pid}/comm").read().startswith("kdamond"):
                return pid
        except OSError:
            pass
    sys.exit("no kdamond thread: DAMON is not running on this machine")


def copier(q, t0, seconds):
    a = np.ones(256 * 1024 * 1024 // 4, dtype=np.float32)
    b = np.empty_like(a)
    np.copyto(b, a)
    out = []
    while time.time() - t0 < seconds:
        s = time.time()
        np.copyto(b, a)
        out.append((s, time.time() - s))
    q.put(out)


def switches(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("voluntary_ctxt_switches"):
            return int(line.split()[1])


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 45
    pid = kdamond_pid()
    t0 = time.time()
    q = mp.Queue()
    p = mp.Process(target=copier, args=(q, t0, seconds))
    p.start()
    wakes, last = [], switches(pid)
    while time.time() - t0 < seconds:
        n = switches(pid)
        if n != last:
            wakes.append(time.time())
            last = n
        time.sleep(0.002)
    out = q.get()
    p.join()
    w = np.array(wakes)
    ds = np.array([d for _, d in out])
    med = np.median(ds)
    slow = [(s, d) for s, d in out if d > 1.3 * med]
    print(f"kdamond wake-ups: {len(w)} in {seconds:.0f} s, median spacing {np.median(np.diff(w)) if len(w) > 1 else float('nan'):.3f} s")
    print(f"slow passes (> 1.3x the median {med * 1e3:.1f} ms): {len(slow)}")
    contains = lambda s, d: bool(np.any((w >= s) & (w <= s + d)))
    print(f"slow passes containing a wake-up: {sum(contains(s, d) for s, d in slow)} of {len(slow)}; "
          f"all passes containing one: {sum(contains(s, d) for s, d in out)} of {len(out)}")


if __name__ == "__main__":
    main()
