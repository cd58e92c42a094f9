#!/usr/bin/env python3
"""Build tests/data/gpt2-tokenizer.json: GPT-2 as a Hugging Face `tokenizer.json` (byte-level BPE),
and check it against the tiktoken goldens with pip `tokenizers`.

Usage:
  python3 scripts/gen_gpt2_tokenizer_json.py [SHARED_MODELS_DIR]    # default ../shared/models

Input: the original GPT-2 `encoder.json` and `vocab.bpe` (merges) from SHARED_MODELS_DIR
(gpt2-encoder.json, gpt2-vocab.bpe; provenance and sha256 in its PROVENANCE.md / SHA256SUMS,
checked here). Built with `tokenizers` itself, no transformers:
  Tokenizer(models.BPE(vocab, merges)), pre_tokenizer ByteLevel(add_prefix_space=False),
  decoder ByteLevel; saved compact (to_str(pretty=False), about 1.5 MB).

Check: for every tests/data/*.txt (read as bytes, decoded strictly), `tokenizers`' ids of the
whole text equal tests/data/golden/r50k_base/<name>.ids (tiktoken's encode_ordinary, from
scripts/gen_tiktoken_goldens.py). So tokstream's test that the file gives the r50k goldens
also proves it gives pip tokenizers' ids. The output is deterministic.
"""
import hashlib
import json
import os
import sys

import tokenizers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DATA = os.path.join(ROOT, "tests", "data")
OUT = os.path.join(DATA, "gpt2-tokenizer.json")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "models")
    sums = {}
    with open(os.path.join(shared, "SHA256SUMS"), encoding="utf-8") as f:
        for line in f:
            h, name = line.split()
            sums[name.lstrip("*")] = h
    for name in ["gpt2-encoder.json", "gpt2-vocab.bpe"]:
        assert sha256(os.path.join(shared, name)) == sums[name], f"{name}: sha256 differs"
    with open(os.path.join(shared, "gpt2-encoder.json"), "rb") as f:
        vocab = json.loads(f.read().decode("utf-8"))
    with open(os.path.join(shared, "gpt2-vocab.bpe"), "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    assert lines[0].startswith("#version"), lines[0]
    merges = [tuple(l.split(" ")) for l in lines[1:] if l]
    assert all(len(m) == 2 for m in merges)
    tok = Tokenizer(models.BPE(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    with open(OUT, "wb") as f:
        f.write(tok.to_str(pretty=False).encode("utf-8"))
    print(f"{OUT}: {os.path.getsize(OUT)} bytes, {len(vocab)} tokens, {len(merges)} merges, "
          f"tokenizers {tokenizers.__version__}")

    tok = Tokenizer.from_file(OUT)
    names = sorted(n[:-4] for n in os.listdir(DATA) if n.endswith(".txt"))
    for name in names:
        with open(os.path.join(DATA, name + ".txt"), "rb") as f:
            text = f.read().decode("utf-8")
        ids = tok.encode(text, add_special_tokens=False).ids
        with open(os.path.join(DATA, "golden", "r50k_base", name + ".ids"), "rb") as f:
            want = [int(x) for x in f.read().split()]
        same = ids == want
        print(f"{name}.txt: {len(ids)} ids, {'equal to' if same else 'DIFFERENT from'} the "
              "r50k_base goldens")
        if not same:
            i = next((k for k, (a, b) in enumerate(zip(ids, want)) if a != b), min(len(ids), len(want)))
            print(f"  first difference at token {i}: {ids[i:i + 5]} vs {want[i:i + 5]}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
