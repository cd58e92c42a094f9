#!/usr/bin/env python3
"""Golden BERT outputs for tests/data/*.txt, produced by Hugging Face `tokenizers` (pip).

Usage:
  python3 scripts/gen_bert_goldens.py                      # goldens + SUMMARY.txt (deterministic)
  python3 scripts/gen_bert_goldens.py --full-corpus DIR [NAME ...]
      also count tokens over the FULL corpus files DIR/NAME.txt (default: en) and rewrite the
      "full corpus" section of SUMMARY.txt (that section holds timings, so it is not
      byte-reproducible; without --full-corpus an existing section is kept verbatim).

Outputs (tab-separated, one record a line, ABSOLUTE byte offsets into the file, end exclusive):
  tests/data/golden/bert-base-uncased/<name>.tokens   id  start  end   (WordPiece tokens)
  tests/data/golden/bert/<name>.pieces                start  end       (uncased bert pre-tokens)
  tests/data/golden/bert-cased/<name>.pieces          start  end       (cased bert pre-tokens)
  tests/data/golden/SUMMARY.txt

How (see ../shared/SPEC.md sections 1, 2, 5):
- files are read as bytes and split on b"\\n" only (a b"\\r" stays in its line: it is whitespace
  to BERT, as is "\\n", so encoding line by line equals encoding the whole text); each line is
  decoded as strict UTF-8 and its byte offset in the file is added to every offset;
- the model is /work/shared/models/bert-base-uncased-tokenizer.json with no added tokens (a literal
  "[SEP]" in the text is plain text, as tiktoken's encode_ordinary), no post-processor, no
  truncation, no padding, encoded with add_special_tokens=False;
- Python `tokenizers` returns CHAR offsets into the str: converted to byte offsets here;
- pre-token pieces with offsets into the ORIGINAL text: a Tokenizer with the BERT normalizer and
  pre-tokenizer and a one-entry WordLevel model maps every pre-token to exactly one token, whose
  offsets are the piece's (checked against pre_tokenize_str(normalize_str(line)) for every line).
"""
import argparse
import hashlib
import json
import os
import re
import sys
import time

import tokenizers
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DATA = os.path.join(ROOT, "tests", "data")
GOLDEN = os.path.join(DATA, "golden")
MODEL_JSON = "/work/shared/models/bert-base-uncased-tokenizer.json"
UNK_ID = 100
BATCH = 10000
FULL_HEADER = "## full corpus"


def wordpiece_tokenizer():
    with open(MODEL_JSON, "rb") as f:
        j = json.loads(f.read().decode("utf-8"))
    j["added_tokens"] = []
    j["post_processor"] = None
    j["truncation"] = None
    j["padding"] = None
    tok = Tokenizer.from_str(json.dumps(j))
    tok.no_truncation()
    tok.no_padding()
    assert tok.model.__class__.__name__ == "WordPiece"
    assert tok.token_to_id("[UNK]") == UNK_ID
    return tok


def bert_normalizer(cased):
    if cased:
        return normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                          strip_accents=False, lowercase=False)
    return normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                      strip_accents=None, lowercase=True)


def piece_tokenizer(cased):
    tok = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tok.normalizer = bert_normalizer(cased)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tok


def split_lines(data):
    """[(absolute byte offset, line bytes)] splitting on b'\\n' only."""
    out = []
    pos = 0
    for line in data.split(b"\n"):
        out.append((pos, line))
        pos += len(line) + 1
    if out and out[-1][1] == b"":
        out.pop()  # nothing after the final '\n'
    return out


def byte_offsets(text):
    """prefix[i] = byte offset of char i in text (len(text)+1 entries)."""
    pre = [0] * (len(text) + 1)
    acc = 0
    for i, ch in enumerate(text):
        acc += len(ch.encode("utf-8"))
        pre[i + 1] = acc
    return pre


def encode_file(tok, lines):
    """([(abs_start, abs_end, id)] for every token of every line, [tokens per line])."""
    out = []
    per_line = []
    for i in range(0, len(lines), BATCH):
        chunk = lines[i:i + BATCH]
        texts = [b.decode("utf-8") for _, b in chunk]
        encs = tok.encode_batch(texts, add_special_tokens=False)
        for (base, raw), text, enc in zip(chunk, texts, encs):
            pre = byte_offsets(text)
            assert pre[-1] == len(raw)
            per_line.append(len(enc.ids))
            prev = (0, 0)
            for tid, (cs, ce) in zip(enc.ids, enc.offsets):
                s, e = pre[cs], pre[ce]
                assert 0 <= s <= e <= len(raw), (raw, cs, ce)
                raw[s:e].decode("utf-8")  # on char boundaries by construction; sanity
                assert s >= prev[0] and e >= prev[1], ("offsets not monotone", raw, prev, s, e)
                prev = (s, e)
                out.append((base + s, base + e, tid))
    return out, per_line


def check_pieces(tok, cased, lines, pieces_per_line):
    """The WordLevel trick gives exactly as many pieces as the pre-tokenizer, line by line."""
    norm = bert_normalizer(cased)
    pt = pre_tokenizers.BertPreTokenizer()
    for (_, raw), n in zip(lines, pieces_per_line):
        want = pt.pre_tokenize_str(norm.normalize_str(raw.decode("utf-8")))
        assert len(want) == n, (raw, len(want), n)


def write_tsv(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write("".join("\t".join(map(str, r)) + "\n" for r in rows).encode("ascii"))


def goldens():
    wp = wordpiece_tokenizer()
    pieces_tok = {"bert": piece_tokenizer(False), "bert-cased": piece_tokenizer(True)}
    names = sorted(n[:-4] for n in os.listdir(DATA) if n.endswith(".txt"))
    summary = []
    for name in names:
        with open(os.path.join(DATA, name + ".txt"), "rb") as f:
            data = f.read()
        data.decode("utf-8")  # the whole file must be valid UTF-8
        lines = split_lines(data)
        n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        toks, _ = encode_file(wp, lines)
        write_tsv(os.path.join(GOLDEN, "bert-base-uncased", name + ".tokens"),
                  [(t, s, e) for s, e, t in toks])
        n_unk = sum(1 for _, _, t in toks if t == UNK_ID)
        summary.append(f"{name}.txt\tbert-base-uncased\t{len(data)}\t{n_lines}\t{len(toks)}\t{n_unk}")
        for set_name, ptok in pieces_tok.items():
            pcs, per_line = encode_file(ptok, lines)
            check_pieces(ptok, set_name == "bert-cased", lines, per_line)
            write_tsv(os.path.join(GOLDEN, set_name, name + ".pieces"),
                      [(s, e) for s, e, _ in pcs])
            summary.append(f"{name}.txt\t{set_name}\t{len(data)}\t{n_lines}\t{len(pcs)}\t-")
        print(summary[-3], summary[-2], summary[-1], sep="\n", flush=True)
    return summary


def full_corpus(corpus, names):
    wp = wordpiece_tokenizer()
    out = []
    for name in names:
        path = os.path.join(corpus, name + ".txt")
        t0 = time.time()
        with open(path, "rb") as f:
            data = f.read()
        sha = hashlib.sha256(data).hexdigest()
        text = data.decode("utf-8")
        del data
        lines = text.split("\n")
        del text
        n_tok = n_unk = 0
        for i in range(0, len(lines), BATCH):
            for enc in wp.encode_batch(lines[i:i + BATCH], add_special_tokens=False):
                ids = enc.ids
                n_tok += len(ids)
                n_unk += ids.count(UNK_ID)
        dt = time.time() - t0
        size = os.path.getsize(path)
        out.append(f"{name}.txt\t{size}\t{sha}\t{n_tok}\t{n_unk}\t{dt:.1f}")
        print(out[-1], flush=True)
    return out


def read_existing_full_section():
    try:
        with open(os.path.join(GOLDEN, "SUMMARY.txt"), "rb") as f:
            text = f.read().decode("utf-8")
    except FileNotFoundError:
        return None
    i = text.find(FULL_HEADER)
    return text[i:] if i >= 0 else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--full-corpus", metavar="DIR")
    ap.add_argument("names", nargs="*", default=["en"])
    args = ap.parse_args()

    full_section = read_existing_full_section()
    summary = goldens()
    if args.full_corpus:
        rows = full_corpus(args.full_corpus, args.names)
        cmd = "python3 scripts/gen_bert_goldens.py --full-corpus " + args.full_corpus + " " + \
            " ".join(args.names)
        full_section = (
            f"{FULL_HEADER} (HF tokenizers {tokenizers.__version__}, same tokenizer, no special "
            "tokens, no truncation;\n"
            "# whole file decoded as UTF-8, split on \"\\n\", encode_batch of "
            f"{BATCH} lines; elapsed = wall time incl. reading, {os.cpu_count()} cores)\n"
            f"# command: {cmd}\n"
            "# file\tbytes\tsha256\ttokens\tunk\telapsed_s\n" + "\n".join(rows) + "\n")

    head = (
        "# BERT goldens for tests/data/*.txt, generated by scripts/gen_bert_goldens.py\n"
        f"# tokenizers {tokenizers.__version__}; model {os.path.basename(MODEL_JSON)} "
        "(no added tokens, no post-processor, add_special_tokens=False)\n"
        "# lines = number of b\"\\n\"-terminated lines (+1 if the file does not end with one)\n"
        "# records = tokens (bert-base-uncased) or pre-token pieces (bert, bert-cased); "
        f"unk = tokens with id {UNK_ID} ([UNK])\n"
        "# file\tset\tbytes\tlines\trecords\tunk\n")
    text = head + "\n".join(summary) + "\n"
    if full_section:
        text += "\n" + full_section
    with open(os.path.join(GOLDEN, "SUMMARY.txt"), "wb") as f:
        f.write(text.encode("utf-8"))


if __name__ == "__main__":
    sys.exit(main())
