#!/usr/bin/python3
"""The tutorial's training step in numpy, timed: the reference the engine's
per-sample step (BM_BatchStep on the seed network) is compared with.

One step = one sample of [[1,1,1],[1,1,0],[0,1,0],[0,1,1]] -> [1,0,1,0]
through 3 -> 4 ReLU -> 1 linear (no biases), squared error, the hidden
delta = output delta x output weights x ReLU'(hidden), SGD with alpha 0.1,
exactly as the tutorial writes it with numpy arrays.

Usage: /usr/bin/python3 bench/numpy/tutorial_step.py [--steps N] [--repeats R]
Prints the median over R repeats of the time per step (Debian python3-numpy).
"""

import argparse
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    inputs = np.array([[1, 1, 1], [1, 1, 0], [0, 1, 0], [0, 1, 1]], float)
    targets = np.array([[1], [0], [1], [0]], float)
    rng = np.random.default_rng(1)
    w1 = rng.random((3, 4))
    w2 = rng.random((4, 1))
    alpha = 0.1
    per_step = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for i in range(args.steps):
            x = inputs[i % 4:i % 4 + 1]
            y = targets[i % 4:i % 4 + 1]
            hidden = np.maximum(x.dot(w1), 0)
            output = hidden.dot(w2)
            delta_out = output - y
            delta_hidden = delta_out.dot(w2.T) * (hidden > 0)
            w2 -= alpha * hidden.T.dot(delta_out)
            w1 -= alpha * x.T.dot(delta_hidden)
        per_step.append((time.perf_counter() - start) / args.steps)
    per_step.sort()
    print("numpy tutorial step: median %.2f us over %d repeats of %d steps "
          "(min %.2f, max %.2f)" % (per_step[len(per_step) // 2] * 1e6,
                                    args.repeats, args.steps,
                                    per_step[0] * 1e6, per_step[-1] * 1e6))


if __name__ == "__main__":
    main()
