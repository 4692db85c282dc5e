#!/usr/bin/env python3
"""Summarise `cellscope eval --json` results over pretraining seeds as the README's table.

Usage: python3 scripts/ssl_vs_pca_table.py LABEL=EVAL.json[,EVAL.json...] ...
Each argument is a row: a name, then the eval.json files of the same set-up with different
`train.seed`s. Per metric it prints the mean +- sd over seeds of the cross-validated means (SSL,
PCA, SSL - PCA) and the per-seed verdicts.
"""
import json
import statistics
import sys


def stat(values):
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def main():
    metrics = [("knn_macro_f1", "kNN macro-F1"), ("logistic_macro_f1", "logistic macro-F1")]
    head = "| set-up | seeds | " + " | ".join(
        f"{name} SSL | PCA | SSL − PCA (verdict per seed)" for _, name in metrics
    ) + " |"
    print(head)
    print("|" + "---|" * (2 + 3 * len(metrics)))
    for arg in sys.argv[1:]:
        label, files = arg.split("=", 1)
        reports = [json.load(open(f)) for f in files.split(",")]
        cells = [label, str(len(reports))]
        for key, _ in metrics:
            ssl = [r[key]["ssl"] for r in reports]
            pca = [r[key]["pca"] for r in reports]
            diff = [r[key]["diff"] for r in reports]
            verdicts = ", ".join(r[key]["verdict"] for r in reports)
            cells += [stat(ssl), stat(pca), f"{stat(diff)} ({verdicts})"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
