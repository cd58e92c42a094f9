#!/usr/bin/env python3
"""Regenerate the committed seed corpora: fuzz/seeds/<target>/.

Texts: every line of tests/data/hard_cases.txt, short slices of the other tests/data files (cut
at arbitrary byte offsets, so some start or end inside a character), and a few pathological
strings. Each target gets them in its input format (some targets read parameters from a few
header bytes first: see the doc comment of each fuzz_targets/*.rs). Deterministic.
Run from anywhere: python3 fuzz/seeds/make_seeds.py
"""
import hashlib
import random
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
OUT = ROOT / "fuzz" / "seeds"

rng = random.Random(20240607)


def texts():
    out = []
    for line in (DATA / "hard_cases.txt").read_bytes().split(b"\n"):
        out.append(line + b"\n")
    for name in ["en", "zh", "ja", "ko", "code", "mixed"]:
        data = (DATA / f"{name}.txt").read_bytes()
        for _ in range(6):
            n = rng.choice([40, 63, 64, 65, 130, 257, 400])
            at = rng.randrange(0, len(data) - n)
            out.append(data[at:at + n])
    out += [
        b"a" * 300,
        b"!" * 130,
        "😀".encode() * 70,
        b" " * 200 + b"x",
        b"\n" * 70 + b"a",
        b"\r\n" * 40,
        "x\u0301".encode() * 60,
        ("a" * 100 + " " + "b" * 101).encode(),
        "İstanbul ΣΑΣ ß ǅ ﬁ".encode(),
        "\u4e00\u9fff\u3400\u4dbf\U00020000\U0002a6df\U0002b81f\U0002b820\U0002b91f\U0002b920\uf900\ufaff".encode(),
        b"word\xffword \xc3 end \xe2\x82 x\xf0\x9f\x98\n\xc0\x80 \xed\xa0\x80",
        b"it's they'LL we'VE I'm 's 'S '  12345 1234567 \xd9\xa3\xd9\xa3\xd9\xa3\xd9\xa3",
        "\u00a0\u0085\u2028\u3000\u1680\ufeff\u200d\u200b\u00ad".encode() * 3,
        bytes(range(256)),
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" * 2,
    ]
    return out


def write(target, seeds):
    d = OUT / target
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    for s in seeds:
        (d / hashlib.sha1(s).hexdigest()).write_bytes(s)


def u16(x):
    return bytes([x & 0xFF, (x >> 8) & 0xFF])


def main():
    ts = texts()
    # scan_levels: cut a (u16), cut b (u16), alignment (u8), text.
    write("scan_levels", [u16(len(t) // 3) + u16(2 * len(t) // 3) + bytes([i % 64]) + t
                          for i, t in enumerate(ts)])
    # chunking: chunk size (u16; high bit clear = 1 + c % 16), workers (u8), text.
    write("chunking", [u16(i % 16 if i % 2 else 0x8000 | (7 * i)) + bytes([i % 3]) + t
                       for i, t in enumerate(ts)])
    # gpt_vs_fancy_regex: chunk size (u8), text.
    write("gpt_vs_fancy_regex", [bytes([i % 32]) + t for i, t in enumerate(ts)])
    write("bert_vs_reference", ts)
    # whitespace_vs_reference: cut a (u16), cut b (u16), text.
    write("whitespace_vs_reference", [u16(len(t) // 3) + u16(2 * len(t) // 3) + t for t in ts])
    write("bpe", ts)
    # wordpiece: mode 0 (bert vocabulary), then words as code-point ops (0xE0 | plane, lo, hi),
    # 0xFF between words; words are the lowercased whitespace-separated words of the texts.
    wp = []
    for t in ts:
        words = t.decode("utf-8", "replace").lower().split()[:12]
        ops = bytearray([0])
        for w in words:
            for c in w:
                cp = ord(c)
                ops += bytes([0xE0 | (cp >> 16), cp & 0xFF, (cp >> 8) & 0xFF])
            ops.append(0xFF)
        wp.append(bytes(ops))
    # Vocabulary-token ops and built vocabularies (odd mode byte): random.
    for i in range(40):
        wp.append(bytes([rng.randrange(256) for _ in range(rng.randrange(8, 60))]))
    write("wordpiece", wp)


main()
