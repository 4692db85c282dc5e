"""Times scanpy's usual start on an .h5ad, the steps `cellscope bench prep --file F` times:
read, highly_variable_genes (seurat_v3 on counts) + normalize_total + log1p, PCA-50 (arpack),
k-means (k = 10, one run). Run both back to back on a shared machine and compare ratios.

    python3 scripts/scanpy_pipeline.py /tmp/cellscope_scale/synth_200000.h5ad
"""

import sys
import time

import anndata as ad
import scanpy as sc
from sklearn.cluster import KMeans


def timed(name, f):
    start = time.perf_counter()
    out = f()
    seconds = time.perf_counter() - start
    print(f"{name:<54} {seconds:>8.3f} s")
    return out, seconds


def main(path):
    total = 0.0
    adata, s = timed("read .h5ad (anndata)", lambda: ad.read_h5ad(path))
    total += s

    def preprocess():
        sc.pp.highly_variable_genes(adata, flavor="seurat_v3", n_top_genes=2000)
        sc.pp.normalize_total(adata, target_sum=1e4)
        sc.pp.log1p(adata)
        return adata[:, adata.var["highly_variable"]].copy()

    hvg, s = timed("HVG (seurat_v3, 2000) + normalize_total + log1p", preprocess)
    total += s
    _, s = timed("PCA -> 50 (arpack)", lambda: sc.pp.pca(hvg, n_comps=50, svd_solver="arpack"))
    total += s
    _, s = timed(
        "k-means, k = 10, 1 run (scikit-learn)",
        lambda: KMeans(n_clusters=10, n_init=1, random_state=0).fit(hvg.obsm["X_pca"]),
    )
    total += s
    print(f"{'total: read + preprocess + PCA + k-means':<54} {total:>8.3f} s")


if __name__ == "__main__":
    main(sys.argv[1])
