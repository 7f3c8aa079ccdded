#!/usr/bin/env python3
"""PyTorch reference for the engine's training benchmark.

Trains the benchmark network (784-256-128-10, ReLU, softmax/cross-entropy,
plain SGD lr 0.01, class-index targets, random inputs in [0, 1)) at one batch
size and reports samples/s, for 1 and 2 threads. Debian's torch runs its
float32 GEMMs in OpenBLAS, whose pool torch.set_num_threads does not control,
so every thread count runs in a fresh interpreter with OPENBLAS_NUM_THREADS
and OMP_NUM_THREADS set before torch is imported.

With --engine-bench PATH it also runs the engine's BM_BatchStep at the same
batch (PATH is the engine_bench binary) right after, and prints the ratio
against PyTorch's best thread count: both figures from one run.

  python3 bench/torch_reference.py --batch 128 \
      --engine-bench build/bench/engine/engine_bench
"""

import argparse
import json
import os
import subprocess
import sys
import time


def measure(batch, threads, seconds):
    import torch  # imported only here, after the environment is set

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))
    # CrossEntropyLoss takes logits: softmax + cross-entropy in one, as the
    # engine does.
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    columns = 8192
    x = torch.rand(columns, 784)
    t = torch.randint(0, 10, (columns,))

    def step(begin):
        xb = x[begin:begin + batch]
        tb = t[begin:begin + batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), tb)
        loss.backward()
        opt.step()

    begin = 0
    for _ in range(20):  # warm-up
        step(begin)
        begin = (begin + batch) % (columns - batch + 1)
    steps = 0
    start = time.perf_counter()
    while True:
        step(begin)
        begin = (begin + batch) % (columns - batch + 1)
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    return steps * batch / elapsed


def engine_figure(binary, batch, threads):
    out = subprocess.run(
        [binary, "--benchmark_filter=^BM_BatchStep/batch:%d/threads:%d/mode:0/" % (batch, threads),
         "--benchmark_format=json", "--benchmark_min_time=2"],
        check=True, capture_output=True, text=True).stdout
    runs = json.loads(out)["benchmarks"]
    return runs[0]["samples/s"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--engine-bench", help="path of the engine_bench binary")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child is not None:
        print(measure(args.batch, args.child, args.seconds))
        return

    torch_best = 0.0
    for threads in args.threads:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads),
                   OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        out = subprocess.run(
            [sys.executable, __file__, "--batch", str(args.batch), "--seconds",
             str(args.seconds), "--child", str(threads)],
            env=env, check=True, capture_output=True, text=True).stdout
        rate = float(out.strip().splitlines()[-1])
        torch_best = max(torch_best, rate)
        print("pytorch batch %d threads %d: %.0f samples/s" % (args.batch, threads, rate))

    if args.engine_bench:
        for threads in args.threads:
            rate = engine_figure(args.engine_bench, args.batch, threads)
            print("engine  batch %d threads %d: %.0f samples/s (%.2fx pytorch's best)"
                  % (args.batch, threads, rate, rate / torch_best))


if __name__ == "__main__":
    main()
