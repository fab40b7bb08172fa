#!/usr/bin/python3
"""PyTorch reference for `mlopt bench`: training steps and inference of the
tutorial CNN (the "seed CNN") with the same batch sizes, thread count and
timing method, printed as the same JSON lines as `mlopt bench --json`.

    /usr/bin/python3 bench/torch_seed_cnn.py [--threads N] [--repeat N]
        [--warmup N] [--quick] [--out FILE] [--workloads train,infer]

Needs Debian's python3-torch (apt-get install python3-torch).  Timing: the
warm-up runs are excluded; each timed sample repeats the op until it lasts
about 20 ms (--quick) or 100 ms, and median/min/max are over the samples.
Training step = zero_grad, forward, cross-entropy, backward, SGD(lr 0.01,
momentum 0.9) step on a fixed synthetic batch, as `mlopt bench` does.
Inference = forward in eval mode under torch.inference_mode().
"""
import argparse
import datetime
import json
import math
import os
import socket
import statistics
import sys
import time

import torch
from torch import nn


def seed_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(1600, 128), nn.ReLU(),
        nn.Linear(128, 10))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def mlopt_version():
    """The version in include/mlopt/mlopt.h next to this script."""
    header = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "include", "mlopt", "mlopt.h")
    try:
        with open(header) as f:
            for line in f:
                if line.startswith("#define MLOPT_VERSION_STRING"):
                    return line.split('"')[1]
    except OSError:
        pass
    return "unknown"


def measure(fn, repeat, warmup, target_s):
    one = 0.0
    for _ in range(warmup):
        t0 = time.perf_counter()
        fn()
        one = time.perf_counter() - t0
    iters = 1 if one <= 0 else max(1, min(10000, math.ceil(target_s / one)))
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        samples.append((time.perf_counter() - t0) / iters)
    return statistics.median(samples), min(samples), max(samples), iters


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default: all cores)")
    ap.add_argument("--repeat", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=-1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", help="also append the JSON lines to this file")
    ap.add_argument("--workloads", default="train,infer")
    args = ap.parse_args()
    threads = args.threads if args.threads > 0 else (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    repeat = args.repeat if args.repeat > 0 else (3 if args.quick else 5)
    warmup = args.warmup if args.warmup >= 0 else (1 if args.quick else 2)
    target_s = 0.02 if args.quick else 0.1
    workloads = args.workloads.split(",")
    cpu = cpu_model()
    base = {
        "backend": "pytorch", "device": cpu, "vendor": "PyTorch",
        "driver": "torch %s (%s)" % (torch.__version__, torch.backends.cpu.get_cpu_capability()
                                     if hasattr(torch.backends, "cpu") else "cpu"),
        "device_type": "cpu", "threads": threads, "cpu_model": cpu, "hostname": socket.gethostname(),
        "mlopt_version": mlopt_version(),
        "timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    out = open(args.out, "a") if args.out else None
    print("== pytorch %s, %d threads" % (torch.__version__, threads), file=sys.stderr)

    def emit(workload, shape, images, timing, extra=None):
        med, lo, hi, iters = timing
        rec = {"workload": workload, "shape": shape, **base,
               "value": images / med, "unit": "images/s", "median": images / med,
               "min": images / hi, "max": images / lo, "time_ms": med * 1e3,
               "repeat": repeat, "warmup": warmup, "iters": iters}
        if extra:
            rec.update(extra)
        line = json.dumps(rec)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()
        print("  %-22s %-30s %10.2f images/s" % (workload, shape, images / med), file=sys.stderr)

    gen = torch.Generator().manual_seed(12345)
    if "train" in workloads:
        for batch in (64, 256):
            torch.manual_seed(1)
            model = seed_cnn()
            model.train()
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            loss_fn = nn.CrossEntropyLoss()
            x = torch.rand(batch, 1, 28, 28, generator=gen) * 3 - 1
            y = torch.arange(batch) % 10

            def step():
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()

            emit("train", "seed-cnn batch=%d" % batch, batch, measure(step, repeat, warmup, target_s))
    if "infer" in workloads:
        torch.manual_seed(1)
        model = seed_cnn()
        model.eval()
        for batch in (1, 256):
            x = torch.rand(batch, 1, 28, 28, generator=gen) * 3 - 1

            def forward():
                with torch.inference_mode():
                    model(x)

            emit("infer", "seed-cnn batch=%d" % batch, batch, measure(forward, repeat, warmup, target_s))
    if out:
        out.close()


if __name__ == "__main__":
    main()
