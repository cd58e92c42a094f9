#!/usr/bin/env python3
"""tokstream vs Hugging Face `tokenizers` on the same text, single thread, in one run.

    python3 scripts/bench_vs_hf.py [--corpus DIR] [--mb 16] [--runs 3] [--bin target/release/tokstream]

For each corpus file (the first --mb MB, cut at a line end) it times, interleaved, --runs
times each, and reports medians:
  * HF pre-tokenization: BertNormalizer.normalize_str + BertPreTokenizer.pre_tokenize_str
    (bert-base-uncased settings) on ~1 MB strings, one thread;
  * HF encode: Tokenizer.encode (bert-base-uncased tokenizer.json, no special tokens, no
    truncation) on the same ~1 MB strings, one thread;
  * tokstream split / encode: the CLI with -j 1 --format none (process start and file read
    included), every scanner level given with --levels;
  * tokstream encode engine: examples/profile_encode (one pass over the text in memory, one
    thread, model loading excluded, as HF's in-process timing), detected level.
It checks that the piece and token counts agree, and prints a Markdown table.
Needs: pip install tokenizers; cargo build --release --bins --example profile_encode.
"""
import argparse, json, os, statistics, subprocess, sys, time
from pathlib import Path

from tokenizers import Tokenizer, normalizers, pre_tokenizers

ROOT = Path(__file__).resolve().parent.parent


def load(path, mb):
    data = path.read_bytes()[: mb * 1_000_000]
    data = data[: data.rfind(b"\n") + 1]
    text = data.decode("utf-8")
    # ~1 MB strings cut at line ends ('\n' is whitespace to BERT: same pieces as per line).
    parts, start = [], 0
    while start < len(text):
        end = text.find("\n", start + 1_000_000)
        end = len(text) if end < 0 else end + 1
        parts.append(text[start:end])
        start = end
    return data, parts


def hf_pretok(parts):
    norm = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    t0 = time.perf_counter()
    n = 0
    for p in parts:
        n += len(pre.pre_tokenize_str(norm.normalize_str(p)))
    return time.perf_counter() - t0, n


def hf_encode(tok, parts):
    t0 = time.perf_counter()
    n = 0
    for p in parts:
        n += len(tok.encode(p, add_special_tokens=False).ids)
    return time.perf_counter() - t0, n


def ours(binary, cmd, path, level):
    env = dict(os.environ, TOKSTREAM_SIMD=level)
    args = [binary, cmd, "--format", "none", "--stats", "-j", "1", str(path)]
    t0 = time.perf_counter()
    r = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    dt = time.perf_counter() - t0
    stats = {l.split()[0]: l.split()[-1].replace(",", "") for l in r.stderr.splitlines() if l.strip()}
    return dt, int(stats["tokens" if cmd == "encode" else "pieces"])


def engine(binary, path):
    r = subprocess.run([binary, str(path), "1"], capture_output=True, text=True, check=True)
    # "<tokens> tokens, <bytes> bytes, <level>: best of 1 <ms> ms = <MB/s> MB/s"
    words = r.stdout.split()
    return float(words[words.index("ms") - 1]) / 1e3, int(words[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="/work/corpus-data")
    ap.add_argument("--mb", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bin", default=str(ROOT / "target/release/tokstream"))
    ap.add_argument("--files", default="en,zh,ja,code,mixed")
    ap.add_argument("--levels", default="avx512,reference")
    ap.add_argument("--engine", default=str(ROOT / "target/release/examples/profile_encode"))
    a = ap.parse_args()
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    j = json.loads((ROOT / "models/bert-base-uncased-tokenizer.json").read_text())
    j["added_tokens"], j["post_processor"], j["truncation"], j["padding"] = [], None, None, None
    tok = Tokenizer.from_str(json.dumps(j))
    levels = a.levels.split(",")
    tmp = Path("/tmp/tokstream-bench")
    tmp.mkdir(exist_ok=True)
    rows = []
    for name in a.files.split(","):
        data, parts = load(Path(a.corpus) / f"{name}.txt", a.mb)
        path = tmp / f"{name}.txt"
        path.write_bytes(data)
        mb = len(data) / 1e6
        times = {k: [] for k in ["hf_pre", "hf_enc", "engine"] + [f"{c}_{l}" for c in ("split", "encode") for l in levels]}
        counts = {}
        for _ in range(a.runs):
            dt, n = hf_pretok(parts); times["hf_pre"].append(dt); counts["hf_pre"] = n
            for l in levels:
                dt, n = ours(a.bin, "split", path, l); times[f"split_{l}"].append(dt); counts[f"split_{l}"] = n
            dt, n = hf_encode(tok, parts); times["hf_enc"].append(dt); counts["hf_enc"] = n
            for l in levels:
                dt, n = ours(a.bin, "encode", path, l); times[f"encode_{l}"].append(dt); counts[f"encode_{l}"] = n
            dt, n = engine(a.engine, path); times["engine"].append(dt); counts["engine"] = n
        med = {k: statistics.median(v) for k, v in times.items()}
        for l in levels:
            assert counts[f"split_{l}"] == counts["hf_pre"], (name, l, counts)
            assert counts[f"encode_{l}"] == counts["hf_enc"], (name, l, counts)
        assert counts["engine"] == counts["hf_enc"], (name, counts)
        rows.append((name, mb, med, counts))
    print(f"Single thread; {a.runs} runs interleaved, medians; first {a.mb} MB of each file.\n")
    hdr = "| file | MB | HF pre-tok MB/s | " + " | ".join(f"split {l} MB/s (×HF)" for l in levels)
    hdr += " | HF encode MB/s | " + " | ".join(f"encode {l} MB/s (×HF)" for l in levels)
    hdr += " | encode engine MB/s (×HF) | tokens |"
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    for name, mb, med, counts in rows:
        cells = [name, f"{mb:.1f}", f"{mb / med['hf_pre']:.1f}"]
        cells += [f"{mb / med[f'split_{l}']:.0f} ({med['hf_pre'] / med[f'split_{l}']:.0f}×)" for l in levels]
        cells += [f"{mb / med['hf_enc']:.1f}"]
        cells += [f"{mb / med[f'encode_{l}']:.0f} ({med['hf_enc'] / med[f'encode_{l}']:.0f}×)" for l in levels]
        cells += [f"{mb / med['engine']:.0f} ({med['hf_enc'] / med['engine']:.0f}×)"]
        cells += [f"{counts['hf_enc']:,}"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
