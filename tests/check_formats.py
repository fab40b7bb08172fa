#!/usr/bin/env python3
"""Optional cross-check of mlopt's file formats against the reference Python
packages.  Usage: check_formats.py PATH/TO/write_sample_formats

Exits 77 (ctest SKIP_RETURN_CODE) when numpy, safetensors or tensorboard
cannot be imported, 0 when every check passes, 1 otherwise."""
import glob
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import save_file
    from tensorboard.backend.event_processing import event_accumulator
except Exception as exc:  # any import failure means "not available here"
    print(f"skipped: reference packages unavailable ({exc})")
    sys.exit(77)


def crc32c(data):
    """Bit-wise CRC-32C, independent of mlopt's table-driven one."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def check_tfrecords(path):
    """Every record's framing and both CRCs; returns the record count."""
    data = open(path, "rb").read()
    pos = count = 0
    while pos < len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        (len_crc,) = struct.unpack_from("<I", data, pos + 8)
        assert masked(crc32c(data[pos:pos + 8])) == len_crc, f"length CRC at {pos}"
        payload = data[pos + 12:pos + 12 + length]
        (data_crc,) = struct.unpack_from("<I", data, pos + 12 + length)
        assert masked(crc32c(payload)) == data_crc, f"data CRC at {pos}"
        pos += 12 + length + 4
        count += 1
    assert pos == len(data)
    return count


def main():
    tool = sys.argv[1]
    assert crc32c(b"123456789") == 0xE3069283
    with tempfile.TemporaryDirectory(prefix="mlopt-formats-") as tmp:
        subprocess.run([tool, "write", tmp], check=True)

        # safetensors written by mlopt, read by the reference package.
        path = os.path.join(tmp, "sample.safetensors")
        with safe_open(path, framework="numpy") as f:
            assert sorted(f.keys()) == ["fc.bias", "fc.weight", "q", "u"], f.keys()
            meta = f.metadata()
            assert meta == {"format": "pt", "note": "quote \" backslash \\ newline \n e-acute \u00e9"}, meta
            w = f.get_tensor("fc.weight")
            assert w.dtype == np.float32 and w.shape == (2, 3)
            assert np.array_equal(w, (np.arange(6, dtype=np.float32) * 0.5 - 1.0).reshape(2, 3))
            b = f.get_tensor("fc.bias")
            assert b.dtype == np.int32 and b.tolist() == [-1, 0, 7]
            q = f.get_tensor("q")
            assert q.dtype == np.int8 and q.tolist() == [[-128, -1], [0, 127]]
            u = f.get_tensor("u")
            assert u.dtype == np.uint8 and u.tolist() == [0, 1, 128, 255]

        # safetensors written by the reference package, read by mlopt.
        ref = {
            "a.weight": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
            "b": np.array([[-3, 5]], dtype=np.int32),
            "c": np.array([1, 2, 250], dtype=np.uint8),
            "d": np.array([-5], dtype=np.int8),
            "e": np.array([1.5, -2.25], dtype=np.float64),
        }
        ref_path = os.path.join(tmp, "reference.safetensors")
        save_file(ref, ref_path, metadata={"k": "v\u00e9"})
        out = subprocess.run([tool, "dump", ref_path], check=True, capture_output=True, text=True).stdout
        names = {"float32": "F32", "int32": "I32", "uint8": "U8", "int8": "I8", "float64": "F64"}
        expected = set()
        for name, arr in ref.items():
            shape = "x".join(str(d) for d in arr.shape)
            expected.add(f"tensor {name} {names[str(arr.dtype)]} {shape} {arr.tobytes().hex()}")
        expected.add("meta k v\u00e9")
        got = set(out.splitlines())
        assert got == expected, f"mlopt read {got}, expected {expected}"

        # TensorBoard event file: framing, CRCs and values.
        events = glob.glob(os.path.join(tmp, "tb", "events.out.tfevents.*"))
        assert len(events) == 1, events
        assert check_tfrecords(events[0]) == 1 + 6
        acc = event_accumulator.EventAccumulator(os.path.join(tmp, "tb"))
        acc.Reload()
        tags = acc.Tags()["scalars"]
        assert sorted(tags) == ["eval/accuracy", "train/loss"], tags
        loss = acc.Scalars("train/loss")
        assert [e.step for e in loss] == [0, 1, 2, 3, 4]
        for e in loss:
            assert e.value == float(np.float32(1.0) / np.float32(e.step + 1)), e
            assert e.wall_time > 1.5e9
        (ev,) = acc.Scalars("eval/accuracy")
        assert (ev.step, ev.value) == (4, 0.75)
        assert acc.file_version == 2.0, acc.file_version
    print("check_formats: safetensors (both directions) and TensorBoard agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
