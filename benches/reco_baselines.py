"""External recommender baselines for `aisle eval --baselines benches/reco_baselines.py`.

Reads the split that `aisle eval` exported (train.csv, known.csv, test.csv, shape.txt: user and item indices),
trains implicit's ALS and BPR and, when installed, LightFM (WARP), and scores every test case with the same
protocol as Aisle: full ranking, the shopper's earlier products excluded, Recall@10 and NDCG@10. Prints one JSON
line per model. Needs numpy, scipy and implicit (`pip install implicit`); LightFM is optional.
Hyper-parameters are common defaults (no tuning on the test items).
"""
import json
import sys
import time

import numpy as np
import scipy.sparse as sp


def load(d):
    users, items = map(int, open(f"{d}/shape.txt").read().split())
    def pairs(name):
        a = np.loadtxt(f"{d}/{name}", delimiter=",", dtype=np.int64, ndmin=2)
        return a if a.size else np.zeros((0, 2), dtype=np.int64)
    return users, items, pairs("train.csv"), pairs("known.csv"), pairs("test.csv")


def metrics(scores_of, test, known, items):
    excl = {}
    for u, i in known:
        excl.setdefault(u, []).append(i)
    rec = ndcg = 0.0
    for start in range(0, len(test), 512):
        chunk = test[start:start + 512]
        scores = scores_of(chunk[:, 0])
        for row, (u, target) in zip(scores, chunk):
            row = row.astype(np.float64).copy()
            row[excl.get(u, [])] = -np.inf
            s = row[target]
            rank = int(np.sum(row > s) + np.sum((row == s)[:target]))
            if rank < 10:
                rec += 1
                ndcg += 1 / np.log2(rank + 2)
    n = max(len(test), 1)
    return rec / n, ndcg / n


def main():
    d, threads = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2
    users, items, train, known, test = load(d)
    ui = sp.csr_matrix((np.ones(len(train), dtype=np.float32), (train[:, 0], train[:, 1])), shape=(users, items))
    import implicit
    from threadpoolctl import threadpool_limits

    def report(name, seconds, scores_of):
        r, n = metrics(scores_of, test, known, items)
        print(json.dumps({"name": name, "recall": r, "ndcg": n, "cases": len(test), "seconds": seconds}), flush=True)

    with threadpool_limits(1, "blas"):
        t = time.time()
        als = implicit.cpu.als.AlternatingLeastSquares(factors=64, regularization=0.05, alpha=2.0, iterations=15,
                                                       num_threads=threads, random_state=42)
        als.fit(ui, show_progress=False)
        secs = time.time() - t
        report("implicit ALS (64 factors)", secs, lambda us: als.user_factors[us] @ als.item_factors.T)

        t = time.time()
        bpr = implicit.cpu.bpr.BayesianPersonalizedRanking(factors=64, learning_rate=0.05, regularization=0.01,
                                                           iterations=100, num_threads=threads, random_state=42)
        bpr.fit(ui, show_progress=False)
        secs = time.time() - t
        report("implicit BPR (64 factors)", secs, lambda us: bpr.user_factors[us] @ bpr.item_factors.T)

    try:
        from lightfm import LightFM
    except ImportError:
        print("LightFM not installed; skipped", file=sys.stderr)
        return
    t = time.time()
    lfm = LightFM(no_components=64, loss="warp", random_state=42)
    lfm.fit(ui.tocoo(), epochs=20, num_threads=threads)
    secs = time.time() - t
    report("LightFM WARP (64 comp.)", secs,
           lambda us: (lfm.user_embeddings[us] @ lfm.item_embeddings.T) + lfm.item_biases[None, :])


if __name__ == "__main__":
    main()
