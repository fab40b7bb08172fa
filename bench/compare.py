#!/usr/bin/python3
"""Run `mlopt bench`, the OpenBLAS SGEMM reference and the PyTorch seed-CNN
reference in one go, append every result to one JSON-lines file and print
the ratios:

  - mlopt / OpenBLAS SGEMM GFLOP/s at 1024^3 and at the seed CNN's shapes,
    per mlopt backend;
  - mlopt / PyTorch training images/s at batch 64 (and 256) and inference
    images/s at batch 256 (and 1), same thread count;
  - mlopt's T-thread vs 1-thread training speedup (PyTorch's alongside),
    and mlopt cpu / PyTorch at 1 thread (steadier on a busy machine).

    /usr/bin/python3 bench/compare.py [--build build] [--threads 2]
        [--backends all] [--full] [--rounds N] [--out FILE] [--no-openblas]
        [--no-torch] [--peak-rss]

--rounds N runs the whole sequence (mlopt, OpenBLAS, PyTorch) N times in
turn and reports, for every cell, the median of the N per-round medians.
On a shared host whose load changes from minute to minute, one pass gives
each program whatever load its own minute had; alternating the programs N
times spreads that load over all of them.

--quick settings are used unless --full.  The default output file is the
one `mlopt bench` picks, bench/results/<hostname>-<cpu>.jsonl.  OpenBLAS
0.3.21's DYNAMIC_ARCH does not recognize some recent Xeons (it falls back to
its Prescott SSE kernels); unless OPENBLAS_CORETYPE is set, this script sets
it to SkylakeX when the CPU has AVX-512F, else Haswell when it has AVX2, so
that the reference is OpenBLAS at its best.  The core used is in the
"driver" field of the OpenBLAS lines.
"""
import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def slug(text):
    text = re.sub(r"\((R|r|TM|tm)\)", "", text)
    return "-".join(re.findall(r"[a-z0-9]+", text.lower())) or "unknown"


def run(cmd, env=None):
    """Run a program that prints JSON lines on stdout; return the records."""
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, env=env, text=True)
    recs = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            recs.append(json.loads(line))
    if p.returncode != 0:
        print("compare.py: %s exited with %d (its results so far are kept)" % (cmd[0], p.returncode),
              file=sys.stderr)
    return recs


def find(recs, backend, workload, shape, threads=None):
    """The median over rounds of the matching records' medians (None if none)."""
    found = [r for r in recs if r["backend"] == backend and r["workload"] == workload and r["shape"] == shape
             and (threads is None or r["threads"] == threads)]
    if not found:
        return None
    out = dict(found[-1])
    out["median"] = statistics.median(r["median"] for r in found)
    out["rounds"] = len(found)
    return out


def round_ratio(recs, backend, ref, workload, shape, threads):
    """The median over rounds of backend / ref, each round's two medians
    paired (None unless some round has both)."""
    def by_round(name):
        return {r["_round"]: r["median"] for r in recs if r["backend"] == name and r["workload"] == workload
                and r["shape"] == shape and r["threads"] == threads and "_round" in r}
    mine, theirs = by_round(backend), by_round(ref)
    rs = [mine[k] / theirs[k] for k in mine if k in theirs and theirs[k] > 0]
    return "%.2f" % statistics.median(rs) if rs else "n/a"


def speedup_by_round(recs, shape, threads):
    """The median over rounds of mlopt cpu's T-thread / 1-thread training images/s."""
    def by_round(t):
        return {r["_round"]: r["median"] for r in recs if r["backend"] == "cpu" and r["workload"] == "train"
                and r["shape"] == shape and r["threads"] == t and "_round" in r}
    many, one = by_round(threads), by_round(1)
    rs = [many[k] / one[k] for k in many if k in one and one[k] > 0]
    return "%.2f" % statistics.median(rs) if rs else "n/a"


def ratio(a, b):
    return "%.2f" % (a["median"] / b["median"]) if a and b and b["median"] > 0 else "n/a"


def fmt(r):
    return "%.2f" % r["median"] if r else "n/a"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="build directory (default ./build)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backends", default="all", help="mlopt backends: all (default) or a comma list")
    ap.add_argument("--full", action="store_true", help="full settings instead of --quick")
    ap.add_argument("--rounds", type=int, default=1, help="run everything N times in turn; report medians of rounds")
    ap.add_argument("--out", help="results file (default bench/results/<hostname>-<cpu>.jsonl)")
    ap.add_argument("--no-openblas", action="store_true")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--peak-rss", action="store_true", help="also measure peak RSS of a 1-epoch mlopt train")
    ap.add_argument("--paired-repeat", type=int, default=9,
                    help="interleaved samples per shape for the paired cpu/OpenBLAS ratios (default 9)")
    args = ap.parse_args()

    mlopt = os.path.join(args.build, "mlopt")
    out = args.out or os.path.join(ROOT, "bench", "results", "%s-%s.jsonl" % (socket.gethostname(), slug(cpu_model())))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    quick = [] if args.full else ["--quick"]
    backends_asked = ["cpu", "opencl", "vulkan"] if args.backends == "all" else args.backends.split(",")
    t = args.threads
    recs = []

    for rnd in range(max(1, args.rounds)):
        if args.rounds > 1:
            print("== round %d of %d" % (rnd + 1, args.rounds), file=sys.stderr, flush=True)
        first = len(recs)
        recs += run([mlopt, "--backend", args.backends, "--threads", str(t), "bench", "--json", "--out", out] + quick)
        if t != 1:
            recs += run([mlopt, "--backend", "cpu", "--threads", "1", "bench", "--json", "--out", out,
                         "--workloads", "train,infer"] + quick)

        openblas = os.path.join(args.build, "bench", "openblas_sgemm")
        if not args.no_openblas:
            if os.path.exists(openblas):
                env = dict(os.environ)
                if "OPENBLAS_CORETYPE" not in env:
                    flags = cpu_flags()
                    if "avx512f" in flags:
                        env["OPENBLAS_CORETYPE"] = "SkylakeX"
                    elif "avx2" in flags:
                        env["OPENBLAS_CORETYPE"] = "Haswell"
                # --paired: the cpu backend's gemm slot timed in the same
                # process, sample by sample in turn with OpenBLAS
                paired = ["--paired", "cpu", "--repeat", str(args.paired_repeat)] if "cpu" in backends_asked else []
                recs += run([openblas, "--threads", str(t), "--out", out] + quick + paired, env=env)
            else:
                print("compare.py: %s not built (libopenblas-dev missing?); no OpenBLAS reference" % openblas,
                      file=sys.stderr)

        torch_script = os.path.join(HERE, "torch_seed_cnn.py")
        if not args.no_torch:
            try:
                subprocess.run(["/usr/bin/python3", "-c", "import torch"], check=True, stderr=subprocess.DEVNULL)
                recs += run(["/usr/bin/python3", torch_script, "--threads", str(t), "--out", out] + quick)
                if t != 1:
                    recs += run(["/usr/bin/python3", torch_script, "--threads", "1", "--out", out] + quick)
            except (subprocess.CalledProcessError, FileNotFoundError):
                print("compare.py: /usr/bin/python3 has no torch (apt-get install python3-torch); no PyTorch reference",
                      file=sys.stderr)

        for r in recs[first:]:
            r["_round"] = rnd

    if args.peak_rss:
        recs += run(["/usr/bin/python3", os.path.join(HERE, "peak_rss.py"), "--mlopt", mlopt, "--threads", str(t),
                     "--out", out])

    backends = []
    for r in recs:
        if r["backend"] not in ("openblas", "pytorch") and r["backend"] not in backends:
            backends.append(r["backend"])

    if args.rounds > 1:
        print("\nEvery cell: the median of %d rounds' medians." % args.rounds)
    print("\n## mlopt / OpenBLAS SGEMM (GFLOP/s medians, %d threads)\n" % t)
    has_paired = any(r["backend"] == "openblas" and "paired_ratio" in r for r in recs)
    print("| workload | shape | OpenBLAS | " + " | ".join("%s | ratio" % b for b in backends) +
          (" | cpu paired ratio |" if has_paired else " |"))
    print("|---|---|---:|" + "---:|---:|" * len(backends) + ("---:|" if has_paired else ""))
    rows = []
    for r in recs:
        if (r["backend"] == "openblas" and (r["workload"] != "gemm" or r["shape"].startswith("1024x"))
                and (r["workload"], r["shape"]) not in rows):
            rows.append((r["workload"], r["shape"]))
    for wl, sh in rows:
        ob = find(recs, "openblas", wl, sh, t)
        cells = []
        for b in backends:
            m = find(recs, b, wl, sh, t)
            cells.append("%s | %s" % (fmt(m), ratio(m, ob)))
        if has_paired:
            pr = [r["paired_ratio"] for r in recs if r["backend"] == "openblas" and r["workload"] == wl
                  and r["shape"] == sh and r.get("threads") == t and "paired_ratio" in r]
            cells.append("%.2f" % statistics.median(pr) if pr else "n/a")
        print("| %s | %s | %s | %s |" % (wl, sh, fmt(ob), " | ".join(cells)))
    if has_paired:
        print("\n\"cpu paired ratio\": openblas_sgemm --paired cpu timed the cpu backend's gemm slot in the same "
              "process, its samples interleaved with OpenBLAS's; per round the median of the per-sample ratios, "
              "then the median over rounds.  Both libraries see the same moment's load.")

    print("\n## mlopt / PyTorch (images/s medians, %d threads)\n" % t)
    print("| workload | shape | PyTorch | " + " | ".join("%s | ratio" % b for b in backends) +
          " | cpu ratio, paired by round |")
    print("|---|---|---:|" + "---:|---:|" * len(backends) + "---:|")
    for wl, sh in (("train", "seed-cnn batch=64"), ("train", "seed-cnn batch=256"),
                   ("infer", "seed-cnn batch=256"), ("infer", "seed-cnn batch=1")):
        pt = find(recs, "pytorch", wl, sh, t)
        cells = []
        for b in backends:
            m = find(recs, b, wl, sh, t)
            cells.append("%s | %s" % (fmt(m), ratio(m, pt)))
        cells.append(round_ratio(recs, "cpu", "pytorch", wl, sh, t))
        print("| %s | %s | %s | %s |" % (wl, sh, fmt(pt), " | ".join(cells)))
    if args.rounds > 1:
        print("\n\"paired by round\": each round's mlopt and PyTorch medians divided, then the median of "
              "those ratios.")

    if t != 1:
        print("\n## Training speedup, %d threads vs 1 (images/s medians)\n" % t)
        print("| shape | mlopt cpu 1t | mlopt cpu %dt | speedup | paired by round | PyTorch 1t | PyTorch %dt "
              "| speedup |" % (t, t))
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for sh in ("seed-cnn batch=64", "seed-cnn batch=256"):
            m1, mt = find(recs, "cpu", "train", sh, 1), find(recs, "cpu", "train", sh, t)
            p1, pt = find(recs, "pytorch", "train", sh, 1), find(recs, "pytorch", "train", sh, t)
            print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (sh, fmt(m1), fmt(mt), ratio(mt, m1),
                                                               speedup_by_round(recs, sh, t), fmt(p1), fmt(pt),
                                                               ratio(pt, p1)))

    if t != 1:
        # On a machine whose cores are busy with other work, multi-threaded
        # runs mostly measure contention: one thread is the steadier comparison.
        print("\n## mlopt cpu / PyTorch at 1 thread (images/s medians)\n")
        print("| workload | shape | PyTorch | mlopt cpu | ratio |")
        print("|---|---|---:|---:|---:|")
        for wl, sh in (("train", "seed-cnn batch=64"), ("train", "seed-cnn batch=256"),
                       ("infer", "seed-cnn batch=256"), ("infer", "seed-cnn batch=1")):
            p1, m1 = find(recs, "pytorch", wl, sh, 1), find(recs, "cpu", wl, sh, 1)
            print("| %s | %s | %s | %s | %s |" % (wl, sh, fmt(p1), fmt(m1), ratio(m1, p1)))

    for r in recs:
        if r["workload"] == "train-peak-rss":
            print("\nPeak RSS of `mlopt train` (%s, %s): %.1f MB" % (r["backend"], r["shape"], r["median"]))
    print("\nAll results of this run were appended to %s; merge files with `mlopt bench --compare FILES...`." % out)


if __name__ == "__main__":
    main()
