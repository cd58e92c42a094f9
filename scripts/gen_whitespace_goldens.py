#!/usr/bin/env python3
"""Golden pieces of Hugging Face's `Whitespace` pre-tokenizer (pip `tokenizers`).

Usage:
  python3 scripts/gen_whitespace_goldens.py                  # goldens + summary (deterministic)
  python3 scripts/gen_whitespace_goldens.py --full-corpus DIR [NAME ...]
      also count HF's pieces over the FULL corpus files DIR/NAME.txt (default: en zh code) and
      rewrite the "full corpus" section of the summary (it holds timings, so it is not
      byte-reproducible; without --full-corpus an existing section is kept verbatim).

Outputs (tab-separated, ABSOLUTE byte offsets into the input, end exclusive):
  tests/data/golden/whitespace/<name>.pieces   start  end   for tests/data/<name>.txt
  tests/data/golden/whitespace/lossy.bin       hand-made bytes with invalid UTF-8
  tests/data/golden/whitespace/lossy.pieces    start  end   (HF on the lossy-decoded text)
  tests/data/golden/WHITESPACE_SUMMARY.txt

How:
- the pre-tokenizer is `pre_tokenizers.Whitespace()` alone (no normalizer), called with
  `pre_tokenize_str`, whose offsets are CHAR offsets into the str: converted to byte offsets;
- files are read as bytes and split on b"\\n" only ("\\n" is `\\s`, which no piece contains, so
  line by line equals the whole text); each line is decoded as strict UTF-8;
- lossy.bin: HF only takes text, so it sees the bytes decoded with U+FFFD for each maximal
  invalid subpart (what String::from_utf8_lossy does and tokstream does); the offsets of its
  pieces are mapped back to the ORIGINAL bytes, each U+FFFD to the bytes it replaced;
- the full-corpus count uses a Tokenizer with a one-entry WordLevel model, which maps every
  pre-token to exactly one token (checked against pre_tokenize_str on the golden files).
"""
import argparse
import codecs
import hashlib
import os
import sys
import time

import tokenizers
from tokenizers import Tokenizer, models, pre_tokenizers

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DATA = os.path.join(ROOT, "tests", "data")
GOLDEN = os.path.join(DATA, "golden")
OUT = os.path.join(GOLDEN, "whitespace")
SUMMARY = os.path.join(GOLDEN, "WHITESPACE_SUMMARY.txt")
BATCH = 10000
FULL_HEADER = "## full corpus"

# Invalid UTF-8 in every position a piece can have it: alone, inside and at the edges of word
# and punctuation runs, truncated sequences, surrogates, overlongs, and a cut sequence at the
# very end (one U+FFFD for the rest of the input).
LOSSY = b"".join([
    b"ab\xffcd ..\xff.. \xff \xff\xfe x\xc3 y\xc3( \xe2\x82 \xe2\x82\xac\xe2\x82z\n",
    b"\xed\xa0\x80 \xc0\xaf \xf0\x9f\x98 \xf0\x9f\x98\x80\xf0\x9f a\x80\x80b _\xff_ \xf4\x90\x80\x80\n",
    "caf\u00e9".encode("utf-8") + b"\xff! " + "\u4e16\u754c\u2026 \u200d".encode("utf-8") + b"\xff",
    b" \xef\xbf\xbd\xff\xef\xbf\xbd! end\xe4\xb8",
])


def lossy_decode(data):
    """(text, byte_start) where byte_start[i] is the original offset of char i (plus the end),
    decoding like String::from_utf8_lossy (CPython's decoder replaces maximal subparts too)."""
    text = []
    starts = []
    pos = 0
    while pos < len(data):
        try:
            chunk = data[pos:].decode("utf-8")
            bad = None
        except UnicodeDecodeError as e:
            chunk = data[pos:pos + e.start].decode("utf-8")
            bad = (pos + e.start, pos + e.end)
        for ch in chunk:
            starts.append(pos)
            text.append(ch)
            pos += len(ch.encode("utf-8"))
        if bad:
            starts.append(bad[0])
            text.append("\ufffd")
            pos = bad[1]
    starts.append(pos)
    return "".join(text), starts


def split_lines(data):
    """[(absolute byte offset, line bytes)] splitting on b'\\n' only."""
    out = []
    pos = 0
    for line in data.split(b"\n"):
        out.append((pos, line))
        pos += len(line) + 1
    if out and out[-1][1] == b"":
        out.pop()
    return out


def char_to_byte(text):
    pre = [0] * (len(text) + 1)
    acc = 0
    for i, ch in enumerate(text):
        acc += len(ch.encode("utf-8"))
        pre[i + 1] = acc
    return pre


def pieces_of_text(pt, text, starts):
    """HF's pieces of `text` as original byte ranges (`starts`: original offset of each char)."""
    out = []
    prev = -1
    for _, (cs, ce) in pt.pre_tokenize_str(text):
        s, e = starts[cs], starts[ce]
        assert prev <= s < e, (text, cs, ce)
        prev = e
        out.append((s, e))
    return out


def file_pieces(pt, data):
    out = []
    for base, raw in split_lines(data):
        text = raw.decode("utf-8")
        pre = char_to_byte(text)
        assert pre[-1] == len(raw)
        out.extend((base + s, base + e) for s, e in pieces_of_text(pt, text, pre))
    return out


def word_level():
    tok = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return tok


def count_lines(tok, lines):
    n = 0
    for i in range(0, len(lines), BATCH):
        for enc in tok.encode_batch(lines[i:i + BATCH], add_special_tokens=False):
            n += len(enc.ids)
    return n


def write_tsv(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write("".join("\t".join(map(str, r)) + "\n" for r in rows).encode("ascii"))


def goldens():
    pt = pre_tokenizers.Whitespace()
    tok = word_level()
    names = sorted(n[:-4] for n in os.listdir(DATA) if n.endswith(".txt"))
    summary = []
    for name in names:
        with open(os.path.join(DATA, name + ".txt"), "rb") as f:
            data = f.read()
        data.decode("utf-8")
        pieces = file_pieces(pt, data)
        # The WordLevel count (used for the full corpus) agrees with pre_tokenize_str.
        assert count_lines(tok, [b.decode("utf-8") for _, b in split_lines(data)]) == len(pieces)
        write_tsv(os.path.join(OUT, name + ".pieces"), pieces)
        n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        summary.append(f"{name}.txt\t{len(data)}\t{n_lines}\t{len(pieces)}")
        print(summary[-1], flush=True)
    with open(os.path.join(OUT, "lossy.bin"), "wb") as f:
        f.write(LOSSY)
    text, starts = lossy_decode(LOSSY)
    assert text == LOSSY.decode("utf-8", "replace")
    pieces = pieces_of_text(pt, text, starts)
    write_tsv(os.path.join(OUT, "lossy.pieces"), pieces)
    n_lines = LOSSY.count(b"\n") + (0 if LOSSY.endswith(b"\n") else 1)
    summary.append(f"lossy.bin\t{len(LOSSY)}\t{n_lines}\t{len(pieces)}")
    print(summary[-1], flush=True)
    return summary


def full_corpus(corpus, names):
    tok = word_level()
    out = []
    for name in names:
        path = os.path.join(corpus, name + ".txt")
        t0 = time.time()
        with open(path, "rb") as f:
            data = f.read()
        sha = hashlib.sha256(data).hexdigest()
        lines = data.decode("utf-8").split("\n")
        del data
        n = count_lines(tok, lines)
        dt = time.time() - t0
        out.append(f"{name}.txt\t{os.path.getsize(path)}\t{sha}\t{n}\t{dt:.1f}")
        print(out[-1], flush=True)
    return out


def read_existing_full_section():
    try:
        with open(SUMMARY, "rb") as f:
            text = f.read().decode("utf-8")
    except FileNotFoundError:
        return None
    i = text.find(FULL_HEADER)
    return text[i:] if i >= 0 else None


def main():
    # CPython's "replace" must give one U+FFFD per maximal subpart, as Rust does.
    assert codecs.decode(b"\xe2\x82a\xf0\x9f\x98\xed\xa0\x80", "utf-8", "replace") == \
        "\ufffda\ufffd\ufffd\ufffd\ufffd"
    ap = argparse.ArgumentParser()
    ap.add_argument("--full-corpus", metavar="DIR")
    ap.add_argument("names", nargs="*", default=["en", "zh", "code"])
    args = ap.parse_args()

    full_section = read_existing_full_section()
    summary = goldens()
    if args.full_corpus:
        rows = full_corpus(args.full_corpus, args.names)
        cmd = "python3 scripts/gen_whitespace_goldens.py --full-corpus " + args.full_corpus + \
            " " + " ".join(args.names)
        full_section = (
            f"{FULL_HEADER} (HF tokenizers {tokenizers.__version__}, Whitespace pre-tokenizer "
            "+ one-entry WordLevel: one token per piece;\n"
            "# whole file decoded as UTF-8, split on \"\\n\", encode_batch of "
            f"{BATCH} lines; elapsed = wall time incl. reading, {os.cpu_count()} cores)\n"
            f"# command: {cmd}\n"
            "# file\tbytes\tsha256\tpieces\telapsed_s\n" + "\n".join(rows) + "\n")
    head = (
        "# Whitespace goldens for tests/data/*.txt, generated by "
        "scripts/gen_whitespace_goldens.py\n"
        f"# tokenizers {tokenizers.__version__}; pre_tokenizers.Whitespace() alone "
        "(regex \\w+|[^\\w\\s]+), pre_tokenize_str\n"
        "# lines = number of b\"\\n\"-terminated lines (+1 if the file does not end with one)\n"
        "# file\tbytes\tlines\tpieces\n")
    text = head + "\n".join(summary) + "\n"
    if full_section:
        text += "\n" + full_section
    with open(SUMMARY, "wb") as f:
        f.write(text.encode("utf-8"))


if __name__ == "__main__":
    sys.exit(main())
