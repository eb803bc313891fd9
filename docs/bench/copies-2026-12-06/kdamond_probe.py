import numpy as np, time, multiprocessing as mp, sys
def copier(q, t0):
    a = np.ones(256*1024*1024//4, dtype=np.float32); b = np.empty_like(a); np.copyto(b, a)
    out = []
    while time.time() - t0 < 45:
        s = time.time(); np.copyto(b, a); out.append((s, time.time() - s))
    q.put(out)
def switches():
    for line in open('/proc/83/status'):
        if line.startswith('voluntary_ctxt_switches'): return int(line.split()[1])
t0 = time.time(); q = mp.Queue(); p = mp.Process(target=copier, args=(q, t0)); p.start()
wakes = []; last = switches()
while time.time() - t0 < 45:
    n = switches()
    if n != last: wakes.append(time.time()); last = n
    time.sleep(0.002)
out = q.get(); p.join()
ds = np.array([d for _, d in out]); med = np.median(ds)
slow = [s for s, d in out if d > 1.3 * med]
w = np.array(wakes)
print('kdamond wake-ups: %d in 30 s, median spacing %.3f s' % (len(w), np.median(np.diff(w)) if len(w) > 1 else -1))
print('slow passes (>1.3x median %.1f ms): %d' % (med * 1e3, len(slow)))
# a slow pass contains a wake-up?
hit = sum(1 for s, d in out if d > 1.3 * med and np.any((w >= s) & (w <= s + d)))
base = sum(1 for s, d in out if np.any((w >= s) & (w <= s + d)))
print('slow passes containing a kdamond wake-up: %d of %d; all passes containing one: %d of %d' % (hit, len(slow), base, len(out)))
