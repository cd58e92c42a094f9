#!/usr/bin/env python3
"""Cut the real-text test samples tests/data/{en,zh,ja,ko,code,mixed}.txt from the corpus.

Usage: python3 scripts/make_test_data.py [CORPUS_DIR]     (default /work/corpus-data)

CORPUS_DIR is the output of `bash ../shared/corpus/build.sh CORPUS_DIR`. Each sample is the
concatenation of WINDOWS windows of about WINDOW bytes taken at evenly spaced positions of the
source file (first window at offset 0, last one ending at the end of the file), so that a sample
covers the different sub-sources the corpus file was assembled from. Every window starts just
after a b"\\n" (or at offset 0) and ends on a b"\\n" (inclusive), so samples are cut on line
boundaries and thus on UTF-8 character boundaries. Bytes are copied as they are: no decoding,
no newline translation (a b"\\r" stays a b"\\r").

The cut depends only on the source bytes, so it is deterministic. The source sha256 is checked
against CORPUS_DIR/MANIFEST.txt and printed; tests/data/README.md records the values used.
"""
import hashlib
import os
import sys

NAMES = ["en", "zh", "ja", "ko", "code", "mixed"]
WINDOWS = 6
WINDOW = 60 * 1024
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")


def manifest_sha(corpus):
    """{name.txt: sha256} from the '## outputs' section of MANIFEST.txt."""
    out = {}
    with open(os.path.join(corpus, "MANIFEST.txt"), "rb") as f:
        for line in f.read().decode("utf-8").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0].isdigit() and len(parts[1]) == 64:
                out[parts[2]] = parts[1]
    return out


def next_line_start(data, pos):
    """Smallest line start >= pos (a line start is 0 or just after b'\\n'); len(data) if none."""
    if pos <= 0:
        return 0
    if data[pos - 1:pos] == b"\n":
        return pos
    nl = data.find(b"\n", pos)
    return len(data) if nl < 0 else nl + 1


def cut(data):
    """Concatenation of WINDOWS line-aligned windows of ~WINDOW bytes, evenly spread."""
    size = len(data)
    if size <= WINDOWS * WINDOW:
        return data
    pieces = []
    prev_end = 0
    for i in range(WINDOWS):
        start = next_line_start(data, max((size - WINDOW) * i // (WINDOWS - 1), prev_end))
        end = next_line_start(data, start + WINDOW)
        if start >= end:
            break
        pieces.append(data[start:end])
        prev_end = end
    return b"".join(pieces)


def main():
    corpus = sys.argv[1] if len(sys.argv) > 1 else "/work/corpus-data"
    shas = manifest_sha(corpus)
    total = 0
    for name in NAMES:
        src = os.path.join(corpus, name + ".txt")
        with open(src, "rb") as f:
            data = f.read()
        src_sha = hashlib.sha256(data).hexdigest()
        want = shas.get(name + ".txt")
        if want != src_sha:
            print(f"WARNING: {src} sha256 {src_sha} != MANIFEST {want}", file=sys.stderr)
        sample = cut(data)
        sample.decode("utf-8")  # raises if not valid UTF-8
        assert sample.endswith(b"\n") or sample == data
        out = os.path.join(OUT_DIR, name + ".txt")
        with open(out, "wb") as f:
            f.write(sample)
        total += len(sample)
        print(f"{name}.txt\t{len(sample)}\t{hashlib.sha256(sample).hexdigest()}"
              f"\tfrom {name}.txt {len(data)} B sha256 {src_sha}")
    print(f"total\t{total}")
    assert total >= 2_100_000, "samples are smaller than expected"


if __name__ == "__main__":
    main()
