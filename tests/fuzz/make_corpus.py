#!/usr/bin/env python3
"""Writes the seed corpus of examples/fuzz_inputs.rs into tests/fuzz/corpus/.

Small valid inputs of every kind cellscope reads (.h5ad CSR/CSC/dense, Cell Ranger .h5 and mtx
folder, GMT, config TOML) plus structural mutants made with h5py that byte flips rarely reach:
wrong dtypes, inconsistent or huge declared shapes, negative shapes, 1-D X, float indptr.
The fuzzer mutates these bytes further. Run: python3 make_corpus.py (anndata, h5py, numpy, scipy).
"""
import os
import shutil

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def path(name):
    return os.path.join(OUT, name)


def adata(kind):
    rng = np.random.default_rng(1)
    x = rng.poisson(1.0, size=(6, 5)).astype(np.float32)
    obs = pd.DataFrame({"cell_type": pd.Categorical(list("ababab")), "n": np.arange(6)},
                       index=[f"c{i}" for i in range(6)])
    var = pd.DataFrame(index=[f"g{j}" for j in range(5)])
    m = {"csr": sp.csr_matrix(x), "csc": sp.csc_matrix(x), "dense": x}[kind]
    return ad.AnnData(m, obs=obs, var=var)


def write_h5ad(name, kind="csr"):
    adata(kind).write_h5ad(path(name))
    return path(name)


def replace(f, key, data):
    attrs = dict(f[key].attrs)
    del f[key]
    f.create_dataset(key, data=data)
    for k, v in attrs.items():
        f[key].attrs[k] = v


def tenx_h5(name):
    x = sp.csc_matrix(np.random.default_rng(2).poisson(1.0, size=(5, 6)).astype(np.int32))
    with h5py.File(path(name), "w") as f:
        g = f.create_group("matrix")
        g["data"], g["indices"], g["indptr"] = x.data, x.indices.astype(np.int64), x.indptr
        g["shape"] = np.array([5, 6], dtype=np.int32)
        g["barcodes"] = np.array([f"AC{i}-1".encode() for i in range(6)])
        ft = g.create_group("features")
        ft["id"] = np.array([f"ENSG{j}".encode() for j in range(5)])
        ft["name"] = np.array([f"G{j}".encode() for j in range(5)])
        ft["feature_type"] = np.array([b"Gene Expression"] * 5)
    return path(name)


def mtx_dir(name, bad_entry=False):
    d = path(name)
    os.makedirs(d, exist_ok=True)
    rows = ["%%MatrixMarket matrix coordinate integer general", "5 3 4",
            "1 1 3", "2 2 1", "5 3 2", ("9 1 1" if bad_entry else "3 1 7")]
    open(os.path.join(d, "matrix.mtx"), "w").write("\n".join(rows) + "\n")
    open(os.path.join(d, "features.tsv"), "w").write(
        "".join(f"ENSG{j}\tG{j}\tGene Expression\n" for j in range(5)))
    open(os.path.join(d, "barcodes.tsv"), "w").write("".join(f"AC{i}-1\n" for i in range(3)))


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    for kind in ["csr", "csc", "dense"]:
        write_h5ad(f"{kind}.h5ad", kind)
    tenx_h5("tenx.h5")
    mtx_dir("tenx_mtx")
    mtx_dir("mtx_entry_out_of_range", bad_entry=True)
    open(path("sets.gmt"), "w").write(
        "SET_A\thttp://x\tG0\tG1\tG2\nSET_B\tna\tG3\tG4\n\n#comment\nONLY_NAME\n")
    open(path("config.toml"), "w").write(
        "[preprocess]\nn_top_genes = 200\n[model]\nhidden = [32]\nlatent = 8\n"
        "[train]\nbatch_size = 64\nepochs = 1\n")
    open(path("config_wrong_types.toml"), "w").write(
        "[model]\nhidden = \"many\"\nlatent = -3\n[train]\nepochs = 1.5\n")
    # Values at the edges of their ranges, for the range checks (config_check).
    open(path("config_edge_ranges.toml"), "w").write(
        "[model]\nhidden = [1, 0]\ndropout = 0.999\n[train]\nbatch_size = 1\nlr = nan\n"
        "val_fraction = 1e-300\nschedule = \"cosine\"\n[masking]\nrate = 1.0\n"
        "[contrastive]\nbyol_tau = 0.0\nbyol_projector = []\n[ui]\nfps = 4294967295\n")
    # Structural mutants.
    with h5py.File(write_h5ad("x_data_strings.h5ad"), "r+") as f:
        replace(f, "X/data", np.array([b"x"] * len(f["X/data"])))
    with h5py.File(write_h5ad("x_indptr_float.h5ad"), "r+") as f:
        replace(f, "X/indptr", f["X/indptr"][:].astype(np.float64) + 0.5)
    with h5py.File(write_h5ad("x_indices_int8.h5ad"), "r+") as f:
        replace(f, "X/indices", f["X/indices"][:].astype(np.int8))
    with h5py.File(write_h5ad("x_shape_negative.h5ad"), "r+") as f:
        f["X"].attrs["shape"] = np.array([-6, 5], dtype=np.int64)
    with h5py.File(write_h5ad("x_shape_1d.h5ad"), "r+") as f:
        f["X"].attrs["shape"] = np.array([6], dtype=np.int64)
    with h5py.File(write_h5ad("csc_huge_shape.h5ad", "csc"), "r+") as f:
        f["X"].attrs["shape"] = np.array([10**12, 5], dtype=np.int64)
    with h5py.File(write_h5ad("csc_huge_cols.h5ad", "csc"), "r+") as f:
        f["X"].attrs["shape"] = np.array([6, 10**12], dtype=np.int64)
    with h5py.File(write_h5ad("dense_1d.h5ad", "dense"), "r+") as f:
        replace(f, "X", f["X"][:].ravel())
    with h5py.File(write_h5ad("obs_codes_float.h5ad"), "r+") as f:
        replace(f, "obs/cell_type/codes", f["obs/cell_type/codes"][:].astype(np.float32))
    with h5py.File(write_h5ad("var_no_index.h5ad"), "r+") as f:
        del f["var/_index"]
    with h5py.File(tenx_h5("tenx_huge_shape.h5"), "r+") as f:
        replace(f, "matrix/shape", np.array([10**11, 10**11], dtype=np.int64))
    with h5py.File(tenx_h5("tenx_shape_3.h5"), "r+") as f:
        replace(f, "matrix/shape", np.array([5, 6, 7], dtype=np.int64))
    with h5py.File(tenx_h5("tenx_index_out_of_range.h5"), "r+") as f:
        idx = f["matrix/indices"][:]
        idx[0] = 99
        replace(f, "matrix/indices", idx)


if __name__ == "__main__":
    main()
