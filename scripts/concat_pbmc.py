"""Concatenate the unlabelled PBMC sets (Kang 2018 + the two 10x PBMC protein sets) into one .h5ad.

Outer join of genes (by var name), zeros for genes a set lacks; raw integer counts in a CSR X.
Usage: python3 scripts/concat_pbmc.py [DATA_DIR] [OUT]   (defaults: ../shared/data/datasets, /tmp/pbmc_unlabelled.h5ad)
"""
import sys
from pathlib import Path

import anndata as ad
import scipy.sparse as sp

FILES = [
    "kang2018_pbmc_ifnb_ctrl_stim_2000x9015_counts.h5ad",
    "10x_pbmc_5k_protein_v3_200_counts.h5ad",
    "10x_pbmc_10k_protein_v3_200_counts.h5ad",
]


def main():
    root = Path(__file__).resolve().parent.parent
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / "shared" / "data" / "datasets"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("/tmp/pbmc_unlabelled.h5ad")
    parts = []
    for name in FILES:
        a = ad.read_h5ad(data / name)
        a.var_names_make_unique()
        a = ad.AnnData(X=sp.csr_matrix(a.X), obs=a.obs[[]].copy(), var=a.var[[]].copy())
        a.obs["source"] = name.split("_")[0] + "_" + name.split("_")[1]
        parts.append(a)
    joined = ad.concat(parts, join="outer", fill_value=0, index_unique="-")
    joined.X = sp.csr_matrix(joined.X)
    joined.obs["source"] = joined.obs["source"].astype("category")
    joined.write_h5ad(out, compression="gzip")
    print(f"{out}: {joined.n_obs} cells x {joined.n_vars} genes")


if __name__ == "__main__":
    main()
