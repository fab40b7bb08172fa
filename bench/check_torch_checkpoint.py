#!/usr/bin/python3
"""Load an mlopt checkpoint (.safetensors) into the identical PyTorch network
and evaluate it on the Fashion-MNIST test set; with --mlopt, also run
`mlopt eval --json` on the same checkpoint and compare the accuracies.

    /usr/bin/python3 bench/check_torch_checkpoint.py CHECKPOINT
        [--data /usr/share/datasets/fashion-mnist] [--mlopt build/mlopt]
        [--backend cpu] [--tolerance 0.002]

The checkpoint must hold the seed CNN (conv1, conv2, fc1, fc2 in PyTorch
layouts); "optim.*" tensors (optimizer state) are skipped.  Inputs are
normalized as in training: pixel/255, then (x - mean)/std with "mean,std"
from the metadata key train.norm.  Uses the `safetensors` package when it is
installed, else reads the format directly (u64 header length, JSON header,
raw little-endian data).  Exit status 1 when the two accuracies differ by
more than --tolerance (argmax ties can flip a few predictions).
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys

import numpy as np
import torch
from torch import nn

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I32": np.int32, "I64": np.int64,
          "U8": np.uint8, "I8": np.int8}


class SeedCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(1600, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def read_safetensors(path):
    """(tensors as numpy arrays, metadata dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack_from("<Q", raw, 0)
    header = json.loads(raw[8:8 + hlen].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    data = raw[8 + hlen:]
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dt = np.dtype(DTYPES[info["dtype"]]).newbyteorder("<")
        tensors[name] = np.frombuffer(data[begin:end], dtype=dt).reshape(info["shape"]).astype(dt.newbyteorder("="))
    return tensors, meta


def load_checkpoint(path):
    try:
        from safetensors import safe_open
        from safetensors.numpy import load_file
        with safe_open(path, framework="numpy") as f:
            meta = f.metadata() or {}
        return load_file(path), meta
    except ImportError:
        return read_safetensors(path)


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, = struct.unpack_from(">I", raw, 0)
    ndim = magic & 0xFF
    dims = struct.unpack_from(">" + "I" * ndim, raw, 4)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--mlopt", help="the mlopt executable: also run `mlopt eval --json` and compare")
    ap.add_argument("--backend", default="cpu", help="backend for mlopt eval (default cpu)")
    ap.add_argument("--tolerance", type=float, default=0.002, help="largest accepted accuracy difference")
    args = ap.parse_args()

    tensors, meta = load_checkpoint(args.checkpoint)
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items() if not k.startswith("optim.")}
    model = SeedCNN()
    missing = set(model.state_dict()) - set(state)
    extra = set(state) - set(model.state_dict())
    if missing or extra:
        sys.exit("check_torch_checkpoint.py: %s is not the seed CNN (missing %s, unexpected %s)"
                 % (args.checkpoint, sorted(missing), sorted(extra)))
    model.load_state_dict(state)
    model.eval()
    norm = meta.get("train.norm")
    if not norm:
        sys.exit("check_torch_checkpoint.py: %s has no train.norm metadata (mean,std)" % args.checkpoint)
    mean, std = (float(v) for v in norm.split(","))

    images = read_idx(os.path.join(args.data, "t10k-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(args.data, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    x = (images.astype(np.float32) / 255.0 - np.float32(mean)) / np.float32(std)
    x = torch.from_numpy(x).unsqueeze(1)
    correct = 0
    loss_sum = 0.0
    with torch.inference_mode():
        for i in range(0, len(x), 1000):
            logits = model(x[i:i + 1000])
            y = torch.from_numpy(labels[i:i + 1000])
            correct += int((logits.argmax(1) == y).sum())
            loss_sum += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
    acc = correct / len(x)
    result = {"checkpoint": args.checkpoint, "samples": len(x), "torch_accuracy": acc,
              "torch_loss": loss_sum / len(x), "norm": [mean, std]}
    rc = 0
    if args.mlopt:
        p = subprocess.run([args.mlopt, "--backend", args.backend, "eval", args.checkpoint, "--data", args.data,
                            "--json"], capture_output=True, text=True)
        if p.returncode != 0:
            sys.stderr.write(p.stderr)
            sys.exit("check_torch_checkpoint.py: mlopt eval failed (exit %d)" % p.returncode)
        ev = json.loads(p.stdout)
        result.update({"mlopt_accuracy": ev["accuracy"], "mlopt_loss": ev["loss"], "mlopt_backend": ev["backend"],
                       "accuracy_difference": acc - ev["accuracy"]})
        rc = 0 if abs(acc - ev["accuracy"]) <= args.tolerance else 1
    print(json.dumps(result))
    print("PyTorch accuracy %.4f%s" % (acc, "" if not args.mlopt else
          ", mlopt eval (%s) %.4f: %s" % (result["mlopt_backend"], result["mlopt_accuracy"],
                                          "match" if rc == 0 else "MISMATCH")), file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
