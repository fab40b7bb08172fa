#!/usr/bin/python3
"""Peak resident memory of a full Fashion-MNIST training run of `mlopt train`
(default settings, fewer epochs by default), measured by /usr/bin/time -v,
printed as one JSON line in the `mlopt bench` schema (workload
"train-peak-rss", unit MB) and appended to --out.

    bench/peak_rss.py --mlopt build/mlopt [--backend cpu] [--threads N]
        [--epochs 1] [--out FILE] [-- extra mlopt train options]

Peak RSS does not grow with the number of epochs (the same buffers are
reused), so one epoch over the whole training set gives the same figure as
the default twelve; pass --epochs 12 to measure the default run exactly.
"""
import argparse
import datetime
import json
import os
import re
import socket
import subprocess
import sys
import tempfile


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mlopt", default="mlopt", help="the mlopt executable (default: mlopt on PATH)")
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--out", help="append the JSON line to this file")
    ap.add_argument("train_args", nargs="*", help="more `mlopt train` options (after --)")
    args = ap.parse_args()
    if not os.path.exists("/usr/bin/time"):
        sys.exit("peak_rss.py: /usr/bin/time is missing (Debian package: time)")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["/usr/bin/time", "-v", args.mlopt, "--backend", args.backend, "train", "--epochs", str(args.epochs),
               "--quiet", "--json", "--out", os.path.join(tmp, "model.safetensors")] + args.train_args
        if args.threads > 0:
            cmd[3:3] = ["--threads", str(args.threads)]
        print("peak_rss.py: " + " ".join(cmd), file=sys.stderr)
        p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        sys.exit("peak_rss.py: mlopt train failed (exit %d)" % p.returncode)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    if not m:
        sys.exit("peak_rss.py: no 'Maximum resident set size' in /usr/bin/time -v output")
    peak_mb = int(m.group(1)) / 1024.0
    train = json.loads(p.stdout.strip().splitlines()[-1])
    wall = re.search(r"Elapsed \(wall clock\) time.*: (.*)", p.stderr)
    cpu = cpu_model()
    threads = args.threads if args.threads > 0 else int(os.environ.get("MLOPT_NUM_THREADS", 0)) or os.cpu_count()
    rec = {
        "workload": "train-peak-rss",
        "shape": " ".join(["seed-cnn fashion-mnist batch=%s epochs=%d" % (train.get("batch", "?"), args.epochs)]
                          + args.train_args),
        "backend": train.get("backend"), "device": train.get("device"), "vendor": train.get("vendor"),
        "driver": train.get("driver"), "device_type": train.get("device_type"), "threads": threads,
        "cpu_model": cpu, "hostname": socket.gethostname(), "mlopt_version": train.get("mlopt_version"),
        "timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        # One run: median, min and max are that run's figure.
        "value": peak_mb, "unit": "MB", "median": peak_mb, "min": peak_mb, "max": peak_mb,
        "repeat": 1, "warmup": 0, "iters": 1,
        "wall_clock": wall.group(1).strip() if wall else None,
        "train_images_per_sec": train.get("images_per_sec"), "test_accuracy": train.get("accuracy"),
    }
    line = json.dumps(rec)
    print(line)
    if args.out:
        with open(args.out, "a") as f:
            f.write(line + "\n")
    print("peak RSS of `mlopt train --epochs %d` on %s: %.1f MB (test accuracy %s)"
          % (args.epochs, rec["backend"], peak_mb, rec["test_accuracy"]), file=sys.stderr)


if __name__ == "__main__":
    main()
