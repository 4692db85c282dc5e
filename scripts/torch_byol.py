#!/usr/bin/env python
"""CPU training throughput of BYOL in plain PyTorch with the heads of method.md, the peer of
`cellscope bench train`'s byol row (../shared/tools/torch_reference.py has no BYOL).

Online network: the reference encoder (torch_reference.py --arch repo, dropout 0.0 as for its
Barlow Twins) + projector 64 -> 4096 -> 256 (Linear, BatchNorm, ReLU, Linear) + predictor
256 -> 4096 -> 256 (same shape); target network: a copy of encoder + projector, updated as an
exponential moving average (tau 0.99) after every step; loss 2 - 2 cos(pred(v1), target(v2)),
symmetrised. Views: two random-mask views (p = --mask), as torch_reference.py's Barlow Twins.
AdamW(lr 1e-3, wd 0.01), gradient-norm clipping 1.0, batch 256.

Usage: python scripts/torch_byol.py --tools ../shared/tools --h5ad synth50k.h5ad --max-cells 20000
Prints the median epoch after the first (warm-up) in cells/s.
"""
import argparse
import copy
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def head(d_in, hidden, d_out):
    return nn.Sequential(nn.Linear(d_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, d_out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tools", required=True, help="directory holding torch_reference.py")
    ap.add_argument("--h5ad", required=True)
    ap.add_argument("--max-cells", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=3, help="1 warm-up + (epochs-1) timed")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--mask", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tau", type=float, default=0.99)
    a = ap.parse_args()
    sys.path.insert(0, a.tools)
    import torch_reference as ref

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    X, _ = ref.load_data(a.h5ad, a.max_cells)
    n, g = X.shape
    encoder, _ = ref.build_ae("repo", g, 0.0)
    online = nn.Sequential(encoder, head(64, 4096, 256))
    predictor = head(256, 4096, 256)
    target = copy.deepcopy(online)
    for p in target.parameters():
        p.requires_grad_(False)
    params = list(online.parameters()) + list(predictor.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)

    def loss_fn(p, z):
        return 2 - 2 * F.cosine_similarity(p, z.detach(), dim=-1).mean()

    times = []
    for ep in range(a.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        for s in range(0, n - a.batch + 1, a.batch):
            xb = X[perm[s:s + a.batch]]
            v1, v2 = ref.rand_mask_view(xb, a.mask), ref.rand_mask_view(xb, a.mask)
            p1, p2 = predictor(online(v1)), predictor(online(v2))
            with torch.no_grad():
                z1, z2 = target(v1), target(v2)
            loss = loss_fn(p1, z2) + loss_fn(p2, z1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            with torch.no_grad():
                for t, o in zip(target.parameters(), online.parameters()):
                    t.mul_(a.tau).add_(o, alpha=1 - a.tau)
                for t, o in zip(target.buffers(), online.buffers()):
                    t.copy_(o)
        dt = time.perf_counter() - t0
        times.append(dt)
        print(f"byol epoch {ep}: {dt:.2f}s  {n // a.batch * a.batch / dt:.0f} cells/s  loss={loss.item():.4f}",
              flush=True)
    med = statistics.median(times[1:] if len(times) > 1 else times)
    print(f"byol cells_per_s_median {n // a.batch * a.batch / med:.0f} (torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {n} cells)")


if __name__ == "__main__":
    main()
