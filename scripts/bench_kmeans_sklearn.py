"""scikit-learn k-means (k = 10, one k-means++ run, 2 threads) on 200,000 x 50 blobs, the peer of
`cellscope bench kmeans --file`. `--write X.npy` writes the data (float32), `--read X.npy` times."""
import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")
import numpy as np  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--write")
ap.add_argument("--read")
args = ap.parse_args()
if args.write:
    from sklearn.datasets import make_blobs

    x, _ = make_blobs(n_samples=200_000, n_features=50, centers=10, random_state=0)
    np.save(args.write, x.astype(np.float32))
if args.read:
    from sklearn.cluster import KMeans

    x = np.load(args.read)
    best = None
    for _ in range(3):
        t = time.perf_counter()
        fit = KMeans(n_clusters=10, n_init=1, random_state=0).fit(x)
        s = time.perf_counter() - t
        best = s if best is None else min(best, s)
    print(f"scikit-learn k-means k = 10 on {x.shape[0]} x {x.shape[1]}: {best:.3f} s (best of 3;"
          f" {fit.n_iter_} iterations, inertia {fit.inertia_:.6e})")
