#!/usr/bin/env python3
"""TRAIN-SPEED-SCALE's baseline: the PyTorch peer's model and training step on a synthetic clickstream.

The peer (../shared/peers/torch_two_tower.py) reads MovieLens-100K and also scores ItemKNN with a
dense users × items matrix, which cannot run at 150k × 100k. This adapter imports the peer's
TwoTower and HIST from that file (nothing is copied) and runs the peer's training step — the same
model, Adam, in-batch softmax with logQ and the duplicate mask — for one epoch over the examples
of the data bench/train-speed-scale.ts wrote: every event but a user's first is a target whose
history is that user's previous (up to HIST) events. Like the peer, it materialises all histories
as one int64 tensor. Prints one JSON line: epoch_s, peak_rss_mb, examples.

usage: python3 torch_scale_peer.py PEER.py DATA_DIR [--threads N] [--seed S] [--batch 512] [--max-steps N]
"""
import argparse, importlib.util, json, os, resource, time

import numpy as np
import torch
import torch.nn.functional as F


def load_peer(path):
    spec = importlib.util.spec_from_file_location("torch_two_tower", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("peer")
    ap.add_argument("data")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--tau", type=float, default=0.05)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0 = the whole epoch)")
    args = ap.parse_args()
    peer = load_peer(args.peer)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    meta = json.load(open(os.path.join(args.data, "meta.json")))
    items = np.fromfile(os.path.join(args.data, "items.i32"), dtype=np.int32).astype(np.int64) + 1  # 0 = padding
    offsets = np.fromfile(os.path.join(args.data, "offsets.i32"), dtype=np.int32).astype(np.int64)
    genres = np.fromfile(os.path.join(args.data, "genres.f32"), dtype=np.float32).reshape(meta["items"], meta["genres"])
    n_items = meta["items"]

    # Examples: every position but a user's first; history = up to HIST previous events of that user.
    lengths = np.diff(offsets)
    user_start = np.repeat(offsets[:-1], lengths)
    positions = np.arange(len(items))
    keep = positions > user_start
    targets_at, starts = positions[keep], user_start[keep]
    n = len(targets_at)
    hist = peer.HIST
    H = torch.zeros((n, hist), dtype=torch.int64)
    window = np.arange(-hist, 0)
    for lo in range(0, n, 1_000_000):
        at = targets_at[lo:lo + 1_000_000]
        idx = at[:, None] + window[None, :]
        valid = idx >= starts[lo:lo + 1_000_000, None]
        H[lo:lo + len(at)] = torch.from_numpy(np.where(valid, items[np.clip(idx, 0, None)], 0))
    T = torch.from_numpy(items[targets_at])

    genre_mat = torch.zeros(n_items + 1, genres.shape[1])
    genre_mat[1:] = torch.from_numpy(genres)
    pop = np.bincount(items, minlength=n_items + 1).astype(np.float32)
    freq = torch.tensor(pop) + 1.0
    logq = torch.log(freq / freq.sum())
    model = peer.TwoTower(n_items, genre_mat)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)

    steps = 0
    t0 = time.perf_counter()
    perm = torch.randperm(n)
    for s in range(0, n, args.batch):
        idx = perm[s:s + args.batch]
        u = model.user(H[idx])
        tgt = T[idx]
        v = model.item(tgt)
        logits = u @ v.T / args.tau - logq[tgt][None, :]
        dup = (tgt[:, None] == tgt[None, :]) & ~torch.eye(len(tgt), dtype=torch.bool)
        logits = logits.masked_fill(dup, -1e9)
        loss = F.cross_entropy(logits, torch.arange(len(tgt)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
        if args.max_steps and steps >= args.max_steps:
            break
    seconds = time.perf_counter() - t0
    steps_per_epoch = (n + args.batch - 1) // args.batch
    print(json.dumps({
        "model": "TwoTower-torch-scale",
        "examples": n,
        "steps": steps,
        "steps_per_epoch": steps_per_epoch,
        "epoch_s": round(seconds * steps_per_epoch / steps, 2),
        "measured_s": round(seconds, 2),
        "last_batch_loss": round(float(loss), 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "threads": args.threads,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
