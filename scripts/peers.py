#!/usr/bin/env python3
"""tokstream and the other fast tokenizers side by side, on the same inputs, in one run.

    scripts/peers.sh [--mb 16] [--runs 3] [--inputs en,zh,code,mixed] [--tasks bert,cl100k_base,o200k_base]
                     [--threads 1,N] [--no-docs] [--skip-install]
    scripts/peers.sh --from-json target/peers.json     # rewrite table, plot and docs only

(`scripts/peers.sh` runs this file with the system python3; this file needs only the standard
library itself and runs each peer in a subprocess of the virtualenv it makes.)

Steps:
 1. a virtualenv (`target/peers-venv`, or $PEERS_VENV) with the peers pip-installed one by one:
    tokenizers, tiktoken, gigatoken, fastokens, riptoken, bpe-openai (and matplotlib for the
    plot). A peer that does not install, import, or load the repo's own model file is recorded
    as "unavailable: <reason>" and skipped; nothing is downloaded at run time.
 2. `cargo build --release` (honours $CARGO_TARGET_DIR).
 3. The inputs: the first --mb MB of each corpus file ($TOKSTREAM_CORPUS, default
    /work/corpus-data; tests/data/*.txt when it is absent), cut at a line end.
 4. For each task (bert = bert-base-uncased WordPiece, cl100k_base, o200k_base), input and
    thread count (1 and all cores), --runs times, interleaved: tokstream as a whole CLI process
    (`tokstream encode -j N --model M --format u32 -o FILE INPUT`, process start, model set-up,
    file reading and writing included) and every peer in a fresh Python process, timing only the
    encode call (input already in memory as text, model loaded). Best of --runs is reported.
 5. Exactness: every peer's ids, concatenated, are compared with tokstream's whole id sequence
    (and tokstream -j N with -j 1); a difference is reported with its first index.
 6. Output: a Markdown table on stdout, target/peers.json (raw results), docs/img/peers.svg
    (matplotlib, or a hand-written SVG when matplotlib is missing) and the section between
    `<!-- peers:begin -->` and `<!-- peers:end -->` in docs/performance.md (--no-docs: neither).

How the peers get the text: the input is cut into ~--chunk-kb KB documents, each cut just
after a '\\n' followed by a letter. Pieces never cross such a point (BERT splits on whitespace;
no cl100k/o200k pattern alternative matches a newline followed by a letter), so the
concatenated ids of the documents equal the ids of the whole text; the comparison with
tokstream checks it. Each peer gets the same documents through its batch API.
"""
import argparse
import base64
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from array import array
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"

PEERS = ["tokenizers", "tiktoken", "gigatoken", "fastokens", "riptoken", "bpe-openai"]
TASKS = ["bert", "cl100k_base", "o200k_base"]
TOKSTREAM_MODEL = {"bert": "bert-base-uncased", "cl100k_base": "cl100k_base", "o200k_base": "o200k_base"}
TASK_LABEL = {"bert": "BERT (bert-base-uncased)", "cl100k_base": "cl100k_base", "o200k_base": "o200k_base"}

# tiktoken's patterns (tiktoken_ext/openai_public.py; /work/shared/SPEC.md section 3).
PATTERNS = {
    "cl100k_base": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
    "o200k_base": "|".join([
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]),
}

# How each peer is called (shown under the table). T = the thread count of the row.
HOW = {
    "tokstream": "`tokstream encode -j T --model M --format u32 -o FILE INPUT`, whole process timed "
                 "(start, model set-up, reading, writing u32 included); `-j 1` = one worker thread "
                 "(plus the reader and the ordered writer)",
    "tokenizers": "`Tokenizer.from_file(models/bert-base-uncased-tokenizer.json)` (no truncation or padding, "
                  "`encode_special_tokens = True` so that a literal `[PAD]` in the text is text) or, "
                  "for cl100k/o200k, a tokenizer.json made here from the repo's `.tiktoken` ranks (Split with "
                  "tiktoken's pattern + ByteLevel, BPE with merges recovered from the ranks, `ignore_merges`); "
                  "`encode_batch_fast(docs, add_special_tokens=False)`; T=1: `TOKENIZERS_PARALLELISM=false "
                  "RAYON_NUM_THREADS=1`, T>1: `TOKENIZERS_PARALLELISM=true RAYON_NUM_THREADS=T`",
    "tiktoken": "`tiktoken.Encoding(name, pat_str, load_tiktoken_bpe(models/X.tiktoken), special_tokens={})`, "
                "`encode_ordinary_batch(docs, num_threads=T)`",
    "gigatoken": "`Tokenizer.from_tiktoken(models/X.tiktoken, special_tokens={})`, `encode_batch(docs as bytes, "
                 "parallel=T>1)` with `RAYON_NUM_THREADS=T`",
    "fastokens": "`Tokenizer.from_tiktoken(models/X.tiktoken, encoding=X)`, `encode_batch_flat(docs, "
                 "add_special_tokens=False, split_special_tokens=True)` with `RAYON_NUM_THREADS=T "
                 "FASTOKENS_BPE_THREADS=T`",
    "riptoken": "`CoreBPE(load_tiktoken_bpe(models/X.tiktoken), {}, pattern)`, `encode_ordinary_batch(docs)` "
                "with `RAYON_NUM_THREADS=T`",
    "bpe-openai": "`bpe_openai.get_encoding(X)` (its own bundled ranks: it cannot load a file; checked "
                  "identical to models/X.tiktoken), `encode_ordinary_batch(docs, num_threads=T)` "
                  "(a Python thread pool; its binding holds the GIL, so more threads cannot help)",
}


# --------------------------------------------------------------------------------------------
# Worker side: runs inside the virtualenv, one peer, one task, one input, one thread count.
# --------------------------------------------------------------------------------------------

def split_docs(data, chunk):
    """Cut bytes into documents of about `chunk` bytes, each cut right after a b'\\n' that is
    followed by a letter (so no pre-token piece of bert, cl100k or o200k crosses a cut)."""
    docs, start, n = [], 0, len(data)
    while start < n:
        pos = start + chunk
        cut = n
        while pos < n:
            nl = data.find(b"\n", pos)
            if nl < 0 or nl + 1 >= n:
                break
            ch = data[nl + 1:nl + 5].decode("utf-8", "ignore")[:1]
            if ch.isalpha():
                cut = nl + 1
                break
            pos = nl + 1
        docs.append(data[start:cut])
        start = cut
    return docs


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def load_ranks(path):
    ranks = {}
    for line in Path(path).read_bytes().splitlines():
        if line:
            tok, rank = line.split()
            ranks[base64.b64decode(tok)] = int(rank)
    return ranks


def onig_pattern(task):
    """tiktoken's pattern for Hugging Face's Oniguruma engine, where `{1,3}+` is not possessive
    and `$` also matches before a newline: `\\p{N}{1,3}` (possessive changes nothing there) and
    `\\z` (end of text, as `$` in tiktoken's fancy-regex)."""
    return PATTERNS[task].replace(r"\p{N}{1,3}+", r"\p{N}{1,3}").replace(r"\s++$", r"\s++\z")


def hf_json_from_tiktoken(task, cache_dir):
    """A Hugging Face tokenizer.json equivalent to a tiktoken encoding, made from the repo's
    ranks file (merges recovered as transformers' TikTokenConverter does). Cached."""
    out = Path(cache_dir) / f"{task}.tokenizer.json"
    src = MODELS / f"{task}.tiktoken"
    if out.exists() and out.stat().st_mtime >= max(src.stat().st_mtime, Path(__file__).stat().st_mtime):
        return out
    ranks = load_ranks(src)
    b2u = bytes_to_unicode()
    enc = lambda b: "".join(b2u[x] for x in b)
    merges = []
    for token, rank in ranks.items():
        if len(token) < 2:
            continue
        local = []
        for i in range(1, len(token)):
            left, right = token[:i], token[i:]
            if left in ranks and right in ranks:
                local.append((ranks[left], ranks[right], left, right))
        local.sort()
        merges.extend((rank, l, r) for _, _, l, r in local)
    merges.sort(key=lambda m: m[0])
    j = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": onig_pattern(task)}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": {enc(t): r for t, r in ranks.items()},
                  "merges": [[enc(l), enc(r)] for _, l, r in merges]},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(j, ensure_ascii=False))
    tmp.replace(out)
    return out


def u32_array(raw):
    a = array("I")
    a.frombytes(raw)
    return a


class Unavailable(Exception):
    pass


def make_encoder(peer, task, threads, cache_dir):
    """Returns (version, note, encode(docs_bytes, docs_str) -> result, flatten(result) -> array)."""
    from importlib.metadata import version as pkg_version
    gpt = task != "bert"
    tiktoken_path = MODELS / f"{task}.tiktoken"
    if peer == "tokenizers":
        from tokenizers import Tokenizer
        if gpt:
            tok = Tokenizer.from_file(str(hf_json_from_tiktoken(task, cache_dir)))
        else:
            tok = Tokenizer.from_file(str(MODELS / "bert-base-uncased-tokenizer.json"))
            tok.no_truncation()
            tok.no_padding()
            # Plain text, like tokstream and encode_ordinary: a literal "[PAD]" in the input is
            # not the special token (without this, code.txt differs at its first "[PAD]").
            tok.encode_special_tokens = True
        fn = (lambda b, s: tok.encode_batch_fast(s, add_special_tokens=False)) if hasattr(tok, "encode_batch_fast") \
            else (lambda b, s: tok.encode_batch(s, add_special_tokens=False))
        return pkg_version("tokenizers"), "", fn, lambda r: [i for e in r for i in e.ids]
    if not gpt:
        # The others are byte-level BPE libraries; try what they offer for a WordPiece model.
        if peer == "gigatoken":
            import gigatoken as gt
            try:
                gt.Tokenizer(str(MODELS / "bert-base-uncased-tokenizer.json"))
            except Exception as e:
                raise Unavailable(f"no WordPiece (loading bert-base-uncased tokenizer.json: {str(e).splitlines()[0][:100]})")
            raise Unavailable("no WordPiece support (its README: 'WordPiece is not yet supported')")
        if peer == "fastokens":
            import fastokens
            try:
                fastokens.Tokenizer.from_file(str(MODELS / "bert-base-uncased-tokenizer.json"))
            except Exception as e:
                raise Unavailable(f"no WordPiece/BERT ({str(e).splitlines()[0][:100]})")
        raise Unavailable("no WordPiece (byte-level BPE / tiktoken files only)")
    if peer == "tiktoken":
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe
        enc = tiktoken.Encoding(task, pat_str=PATTERNS[task], mergeable_ranks=load_tiktoken_bpe(str(tiktoken_path)),
                                special_tokens={})
        return pkg_version("tiktoken"), "", lambda b, s: enc.encode_ordinary_batch(s, num_threads=threads), \
            lambda r: [i for d in r for i in d]
    if peer == "gigatoken":
        import gigatoken as gt
        import numpy as np
        tok = gt.Tokenizer.from_tiktoken(str(tiktoken_path), special_tokens={})
        import awkward as ak
        return pkg_version("gigatoken"), "", lambda b, s: tok.encode_batch(b, parallel=threads > 1), \
            lambda r: u32_array(ak.to_numpy(ak.flatten(r)).astype("<u4").tobytes())
    if peer == "fastokens":
        import fastokens
        tok = fastokens.Tokenizer.from_tiktoken(str(tiktoken_path), encoding=task)
        fn = lambda b, s: tok.encode_batch_flat(s, add_special_tokens=False, split_special_tokens=True)
        return pkg_version("fastokens"), "", fn, lambda r: u32_array(r[0])
    if peer == "riptoken":
        import riptoken
        core = riptoken.CoreBPE(riptoken.load_tiktoken_bpe(str(tiktoken_path)), {}, PATTERNS[task])
        return pkg_version("riptoken"), "", lambda b, s: core.encode_ordinary_batch(s), lambda r: [i for d in r for i in d]
    if peer == "bpe-openai":
        import gzip
        import bpe_openai
        from importlib import resources
        enc = bpe_openai.get_encoding(task)
        bundled = gzip.decompress(resources.files("bpe_openai.data").joinpath(f"{task}.tiktoken.gz").read_bytes())
        same = bundled == tiktoken_path.read_bytes()
        note = f"bundled ranks {'identical to' if same else 'DIFFER from'} models/{task}.tiktoken"
        return pkg_version("bpe-openai"), note, lambda b, s: enc.encode_ordinary_batch(s, num_threads=threads), \
            lambda r: [i for d in r for i in d]
    raise Unavailable(f"unknown peer {peer}")


def worker(spec):
    out = {}
    try:
        peer, task, threads = spec["peer"], spec["task"], spec["threads"]
        try:
            ver, note, fn, flat = make_encoder(peer, task, threads, spec["cache"])
        except Unavailable as e:
            return {"unavailable": str(e)}
        except ImportError as e:
            return {"unavailable": f"does not import: {e}"}
        out.update(version=ver, note=note)
        # One call on a short unrelated sample first: lazy set-up (regex compilation, thread
        # pool start) is not counted, the peer's caches stay almost empty.
        sample = "Hello, world! Ünïcode 世界 and code: fn main() { x += 1; }\n".encode()
        flat(fn([sample], [sample.decode()]))
        if spec.get("probe"):
            return out
        data = Path(spec["input"]).read_bytes()
        docs_b = split_docs(data, spec["chunk"])
        docs_s = [d.decode("utf-8") for d in docs_b]
        t0 = time.perf_counter()
        res = fn(docs_b, docs_s)
        out["seconds"] = time.perf_counter() - t0
        if spec.get("warm") and out["seconds"] < 5:
            t0 = time.perf_counter()
            fn(docs_b, docs_s)
            out["warm_seconds"] = time.perf_counter() - t0
        ids = flat(res)
        ids = ids if isinstance(ids, array) else array("I", ids)
        del res
        ref = u32_array(Path(spec["ref"]).read_bytes())
        out["tokens"] = len(ids)
        out["docs"] = len(docs_b)
        out["exact"] = ids == ref
        if not out["exact"]:
            n = min(len(ids), len(ref))
            out["first_diff"] = next((i for i in range(n) if ids[i] != ref[i]), n)
            out["ref_tokens"] = len(ref)
    except BaseException as e:  # report, never crash the whole run (pyo3 panics are BaseException)
        out["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    return out


# --------------------------------------------------------------------------------------------
# Orchestrator side: standard library only.
# --------------------------------------------------------------------------------------------

def log(*a):
    print(*a, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def setup_venv(venv, peers, skip_install):
    """Returns ({peer: reason} for peers that did not install, has_matplotlib)."""
    py = venv / "bin" / "python"
    failed = {}
    if not py.exists():
        log(f"creating virtualenv {venv}")
        r = sh([sys.executable, "-m", "venv", str(venv)])
        if r.returncode:
            sys.exit(f"python3 -m venv failed: {r.stderr.strip()}")
        sh([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    for pkg in ([] if skip_install else peers + ["matplotlib"]):
        r = sh([str(py), "-m", "pip", "install", "-q", pkg])
        if r.returncode:
            last = [l for l in (r.stderr or r.stdout).strip().splitlines() if l.strip()]
            failed[pkg] = "pip install failed: " + (last[-1][:150] if last else f"exit {r.returncode}")
            log(f"pip install {pkg}: {failed[pkg]}")
        else:
            log(f"pip install {pkg}: ok")
    has_mpl = sh([str(py), "-c", "import matplotlib"]).returncode == 0
    return failed, has_mpl


def build_tokstream():
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not target.is_absolute():
        target = ROOT / target
    log(f"cargo build --release (target dir {target})")
    for attempt in range(5):
        r = subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, capture_output=True, text=True)
        if r.returncode == 0:
            return target / "release" / "tokstream"
        log(f"build failed (attempt {attempt + 1}), retrying in 60 s:\n{r.stderr[-2000:]}")
        time.sleep(60)
    sys.exit("cargo build --release failed")


def prepare_inputs(corpus, names, mb, work):
    out = {}
    for name in names:
        src = corpus / f"{name}.txt"
        if not src.exists():
            log(f"no {src}: skipped")
            continue
        data = src.read_bytes()[: mb * 1_000_000]
        data = data[: data.rfind(b"\n") + 1]
        data.decode("utf-8")  # every peer takes str: the inputs must be valid UTF-8
        dst = work / f"{name}.txt"
        if not dst.exists() or dst.read_bytes() != data:
            dst.write_bytes(data)
        out[name] = {"path": dst, "bytes": len(data), "source": str(src)}
    return out


def thread_env(threads):
    env = dict(os.environ)
    env.update(RAYON_NUM_THREADS=str(threads), FASTOKENS_BPE_THREADS=str(threads),
               TOKENIZERS_PARALLELISM="true" if threads > 1 else "false", OMP_NUM_THREADS=str(threads))
    return env


def run_worker(py, spec, threads):
    r = subprocess.run([str(py), str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
                       capture_output=True, text=True, env=thread_env(threads), cwd=ROOT)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except Exception:
        tail = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
        return {"error": f"worker died (exit {r.returncode}): {tail[:200]}"}


def run_tokstream(binary, task, inp, threads, out_path):
    args = [str(binary), "encode", "-j", str(threads), "--model", TOKSTREAM_MODEL[task], "--format", "u32",
            "--no-progress", "-o", str(out_path), str(inp)]
    t0 = time.perf_counter()
    r = subprocess.run(args, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode:
        sys.exit(f"{' '.join(args)} failed: {r.stderr}")
    return dt, args


def first_diff_bytes(a, b):
    n = min(len(a), len(b)) // 4 * 4
    if a[:n] == b[:n]:
        return n // 4
    lo, hi = 0, n // 4  # binary search on the 4-byte ids
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[: mid * 4] == b[: mid * 4]:
            lo = mid
        else:
            hi = mid
    return lo if a[lo * 4:(lo + 1) * 4] != b[lo * 4:(lo + 1) * 4] else hi


def fmt_rate(x):
    return "—" if x is None else (f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}")


def markdown(results, meta):
    lines = []
    hdr = "| task | input | threads | program | MB/s | M tokens/s | tokstream ÷ this | exact |"
    lines.append(hdr)
    lines.append("|---|---|---|---|---|---|---|---|")
    order = {t: i for i, t in enumerate(TASKS)}
    inputs = list(meta["inputs"])
    rows = sorted(results["rows"], key=lambda r: (order.get(r["task"], 9), inputs.index(r["input"]), r["threads"]))
    for row in rows:
        if row.get("unavailable") or row.get("error"):
            continue
        ts = row["tokstream_best"]
        cells = [TASK_LABEL[row["task"]], row["input"], str(row["threads"]),
                 f"**tokstream** {meta['tokstream_version']}" if row["program"] == "tokstream" else f"{row['program']} {row['version']}",
                 fmt_rate(row["mb_s"]), fmt_rate(row["mtok_s"]),
                 "1" if row["program"] == "tokstream" else f"{row['best'] / ts:.2f}",
                 ("yes" if row["exact"] else f"**no**: first difference at id {row['first_diff']:,}")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def unavailable_lines(results):
    seen, lines = set(), []
    for row in results["rows"]:
        reason = row.get("unavailable") or row.get("error")
        if not reason:
            continue
        key = (row["program"], row["task"], reason)
        if key in seen:
            continue
        seen.add(key)
        kind = "unavailable" if row.get("unavailable") else "failed"
        lines.append(f"- {row['program']}, {TASK_LABEL[row['task']]}: {kind}: {reason}")
    return lines


def plot_svg(results, path, py, has_mpl):
    rows = [r for r in results["rows"] if r.get("mb_s")]
    data = json.dumps(rows)
    if has_mpl:
        code = PLOT_MPL
        r = subprocess.run([str(py), "-c", code, str(path)], input=data, capture_output=True, text=True)
        if r.returncode == 0:
            return "matplotlib"
        log(f"matplotlib plot failed, writing a plain SVG: {r.stderr[-500:]}")
    path.write_text(plain_svg(rows))
    return "plain SVG"


PLOT_MPL = r'''
import json, sys
import matplotlib
matplotlib.use("Agg")
matplotlib.rcParams["svg.fonttype"] = "none"
matplotlib.rcParams["svg.hashsalt"] = "peers"
import matplotlib.pyplot as plt
rows = json.load(sys.stdin)
tasks = [t for t in ["bert", "cl100k_base", "o200k_base"] if any(r["task"] == t for r in rows)]
threads = sorted({r["threads"] for r in rows})
inputs = list(dict.fromkeys(r["input"] for r in rows))
progs = list(dict.fromkeys(["tokstream"] + [r["program"] for r in rows]))
colors = {p: c for p, c in zip(progs, ["#d62728", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"])}
fig, axes = plt.subplots(len(tasks), len(threads), figsize=(6 * len(threads), 3.2 * len(tasks)), squeeze=False, sharey=True)
for i, t in enumerate(tasks):
    for j, th in enumerate(threads):
        ax = axes[i][j]
        sub = [r for r in rows if r["task"] == t and r["threads"] == th]
        ps = [p for p in progs if any(r["program"] == p for r in sub)]
        w = 0.8 / max(1, len(ps), min(len(progs), 4))
        for k, p in enumerate(ps):
            xs, ys, hatch = [], [], []
            for x, inp in enumerate(inputs):
                r = next((r for r in sub if r["program"] == p and r["input"] == inp), None)
                if r:
                    xs.append(x + w * (k - (len(ps) - 1) / 2)); ys.append(r["mb_s"]); hatch.append("" if r["exact"] else "//")
            bars = ax.bar(xs, ys, w, label=p, color=colors[p])
            for b, h in zip(bars, hatch):
                b.set_hatch(h)
        ax.set_yscale("log")
        ax.set_xticks(range(len(inputs)), inputs)
        ax.set_title(f"{t}, {th} thread{'s' if th > 1 else ''}", fontsize=10)
        ax.grid(axis="y", which="both", alpha=0.3)
        if j == 0:
            ax.set_ylabel("MB/s (log)")
handles = {}
for ax in axes.flat:
    for h, l in zip(*ax.get_legend_handles_labels()):
        handles.setdefault(l, h)
fig.suptitle("Encode throughput on the same inputs (hatched: ids differ from tokstream)", y=0.995, fontsize=11)
fig.legend(handles.values(), handles.keys(), loc="upper center", bbox_to_anchor=(0.5, 0.975), ncol=len(handles),
           fontsize=9, frameon=False)
fig.tight_layout(rect=(0, 0, 1, 0.94))
fig.savefig(sys.argv[1], format="svg", metadata={"Date": None})
'''


def plain_svg(rows):
    """A horizontal bar chart, one bar per row, no dependencies."""
    h, top, left, width = 14, 30, 330, 520
    mx = max((r["mb_s"] for r in rows), default=1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{top + h * len(rows) + 20}" '
           f'font-family="sans-serif" font-size="10">',
           f'<text x="10" y="18" font-size="12">Encode throughput, MB/s (same inputs; * = ids differ from tokstream)</text>']
    for i, r in enumerate(rows):
        y = top + i * h
        bw = width * r["mb_s"] / mx
        color = "#d62728" if r["program"] == "tokstream" else "#1f77b4"
        label = f'{r["task"]} {r["input"]} j{r["threads"]} {r["program"]}{"" if r["exact"] else " *"}'
        out.append(f'<text x="{left - 5}" y="{y + 10}" text-anchor="end">{label}</text>')
        out.append(f'<rect x="{left}" y="{y + 2}" width="{bw:.1f}" height="{h - 4}" fill="{color}"/>')
        out.append(f'<text x="{left + bw + 4:.1f}" y="{y + 10}">{fmt_rate(r["mb_s"])}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def update_docs(doc, section):
    text = doc.read_text()
    begin, end = "<!-- peers:begin -->", "<!-- peers:end -->"
    if begin in text and end in text:
        a = text.index(begin) + len(begin)
        b = text.index(end)
        text = text[:a] + "\n" + section + "\n" + text[b:]
    else:
        text = text.rstrip("\n") + f"\n\n## Peers side by side\n\n{begin}\n{section}\n{end}\n"
    doc.write_text(text)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        print(json.dumps(worker(json.loads(sys.argv[2]))))
        return 0
    ncpu = os.cpu_count() or 1
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=16, help="MB of each input (cut at a line end)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each program; the best is reported")
    ap.add_argument("--corpus", default=os.environ.get("TOKSTREAM_CORPUS", "/work/corpus-data"))
    ap.add_argument("--inputs", default="en,zh,code,mixed")
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--threads", default=f"1,{ncpu}" if ncpu > 1 else "1")
    ap.add_argument("--chunk-kb", type=int, default=256, help="size of the documents handed to the peers")
    ap.add_argument("--venv", default=os.environ.get("PEERS_VENV", str(ROOT / "target/peers-venv")))
    ap.add_argument("--skip-install", action="store_true", help="use the virtualenv as it is")
    ap.add_argument("--json", default=str(ROOT / "target/peers.json"))
    ap.add_argument("--svg", default=str(ROOT / "docs/img/peers.svg"))
    ap.add_argument("--doc", default=str(ROOT / "docs/performance.md"))
    ap.add_argument("--no-docs", action="store_true", help="do not write the SVG nor docs/performance.md")
    ap.add_argument("--from-json", metavar="FILE", help="measure nothing: rewrite the table, SVG and docs section "
                    "from the results of an earlier run (its JSON, e.g. target/peers.json)")
    a = ap.parse_args()
    if a.from_json:
        results = json.loads(Path(a.from_json).read_text())
        venv = Path(a.venv)
        return report(results, a, venv / "bin" / "python", (venv / "bin" / "python").exists() and
                      sh([str(venv / "bin" / "python"), "-c", "import matplotlib"]).returncode == 0)
    command = "scripts/peers.sh " + " ".join(sys.argv[1:])

    venv = Path(a.venv)
    peers = [p for p in a.peers.split(",") if p]
    tasks = [t for t in a.tasks.split(",") if t]
    threads = [int(t) for t in a.threads.split(",")]
    failed_pip, has_mpl = setup_venv(venv, peers, a.skip_install)
    py = venv / "bin" / "python"
    binary = build_tokstream()
    tver = sh([str(binary), "--version"]).stdout.strip()
    tver_short = tver.split()[1] if len(tver.split()) > 1 else tver
    simd = tver[tver.find("SIMD: ") + 6:].split(";")[0] if "SIMD: " in tver else "?"

    work = ROOT / "target/peers-work"
    work.mkdir(parents=True, exist_ok=True)
    corpus = Path(a.corpus)
    names = a.inputs.split(",")
    if not all((corpus / f"{n}.txt").exists() for n in names):
        log(f"corpus {corpus} incomplete: using tests/data")
        corpus = ROOT / "tests/data"
    inputs = prepare_inputs(corpus, names, a.mb, work)

    # Probe each peer once per task (version, or why it is unavailable).
    probe = {}
    for peer in peers:
        for task in tasks:
            if peer in failed_pip:
                probe[(peer, task)] = {"unavailable": failed_pip[peer]}
                continue
            spec = {"peer": peer, "task": task, "threads": 1, "cache": str(work), "probe": True}
            probe[(peer, task)] = run_worker(py, spec, 1)
            log(f"probe {peer} {task}: {probe[(peer, task)]}")

    # Timed runs, interleaved.
    times = {}      # (program, task, input, threads) -> [seconds]
    extra = {}      # same key -> worker record of the first run
    tok_cmds = {}
    for run in range(a.runs):
        for name, inp in inputs.items():
            for task in tasks:
                for th in threads:
                    out = work / f"{name}.{task}.j{th}.u32"
                    dt, args = run_tokstream(binary, task, inp["path"], th, out)
                    times.setdefault(("tokstream", task, name, th), []).append(dt)
                    tok_cmds[(task, name, th)] = args
                    ref = work / f"{name}.{task}.j{threads[0]}.u32"
                    log(f"run {run + 1} {name} {task} -j {th}: tokstream {inp['bytes'] / dt / 1e6:.1f} MB/s")
                    for peer in peers:
                        if "version" not in probe[(peer, task)]:
                            continue
                        spec = {"peer": peer, "task": task, "threads": th, "cache": str(work), "input": str(inp["path"]),
                                "ref": str(ref), "chunk": a.chunk_kb * 1024, "warm": run == 0}
                        rec = run_worker(py, spec, th)
                        key = (peer, task, name, th)
                        if "seconds" in rec:
                            times.setdefault(key, []).append(rec["seconds"])
                            log(f"    {peer}: {inp['bytes'] / rec['seconds'] / 1e6:.1f} MB/s exact={rec.get('exact')}")
                        else:
                            log(f"    {peer}: {rec}")
                        if run == 0 or key not in extra or "seconds" not in extra[key]:
                            extra[key] = rec

    # tokstream's own ids: -j N identical to -j 1; start-up cost per model (empty input).
    startup = {}
    empty = work / "empty.txt"
    empty.write_bytes(b"")
    for task in tasks:
        startup[task] = min(run_tokstream(binary, task, empty, 1, work / "empty.u32")[0] for _ in range(3))
    rows = []
    for name, inp in inputs.items():
        for task in tasks:
            ref = (work / f"{name}.{task}.j{threads[0]}.u32").read_bytes()
            for th in threads:
                ts_best = min(times[("tokstream", task, name, th)])
                mine = (work / f"{name}.{task}.j{th}.u32").read_bytes()
                ntok = len(ref) // 4
                rows.append({"program": "tokstream", "version": tver_short, "task": task, "input": name, "threads": th,
                             "bytes": inp["bytes"], "tokens": len(mine) // 4, "times": times[("tokstream", task, name, th)],
                             "best": ts_best, "tokstream_best": ts_best, "mb_s": inp["bytes"] / ts_best / 1e6,
                             "mtok_s": len(mine) / 4 / ts_best / 1e6, "exact": mine == ref,
                             "first_diff": None if mine == ref else first_diff_bytes(mine, ref),
                             "command": " ".join(tok_cmds[(task, name, th)]).replace(str(ROOT) + "/", "")})
                for peer in peers:
                    pr = probe[(peer, task)]
                    key = (peer, task, name, th)
                    base = {"program": peer, "task": task, "input": name, "threads": th, "bytes": inp["bytes"]}
                    if "version" not in pr:
                        rows.append({**base, "unavailable": pr.get("unavailable"), "error": pr.get("error")})
                        continue
                    rec = extra.get(key, {})
                    if key not in times:
                        rows.append({**base, "version": pr["version"], "error": rec.get("error", "no result")})
                        continue
                    best = min(times[key])
                    rows.append({**base, "version": pr["version"], "note": rec.get("note", ""), "times": times[key],
                                 "best": best, "tokstream_best": ts_best, "warm_seconds": rec.get("warm_seconds"),
                                 "tokens": rec.get("tokens"), "docs": rec.get("docs"),
                                 "mb_s": inp["bytes"] / best / 1e6, "mtok_s": rec.get("tokens", 0) / best / 1e6,
                                 "exact": bool(rec.get("exact")), "first_diff": rec.get("first_diff"),
                                 "ref_tokens": rec.get("ref_tokens", ntok)})
    head = sh(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT).stdout.strip()
    dirty = sh(["git", "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock", "build.rs"], cwd=ROOT).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    try:
        autogroup = Path("/proc/self/autogroup").read_text().split("nice")[1].strip()
    except (OSError, IndexError):
        autogroup = None
    meta = {"autogroup_nice": autogroup, "date": datetime.date.today().isoformat(), "commit": head, "src_dirty": bool(dirty),
            "tokstream_version": tver_short, "tokstream_version_line": tver, "simd": simd, "cpu": cpu, "cores": ncpu,
            "load_avg_at_end": os.getloadavg(), "mb": a.mb, "runs": a.runs, "chunk_kb": a.chunk_kb, "command": command,
            "corpus": str(corpus.relative_to(ROOT)) if corpus.is_relative_to(ROOT) else str(corpus), "inputs": {k: {"bytes": v["bytes"], "source": v["source"]} for k, v in inputs.items()},
            "tokstream_startup_seconds": startup, "how": HOW, "python": platform.python_version()}
    results = {"meta": meta, "rows": rows}
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(results, indent=1))
    return report(results, a, py, has_mpl)


def report(results, a, py, has_mpl):
    meta = results["meta"]
    table = markdown(results, meta)
    print(table)
    for l in unavailable_lines(results):
        print(l)
    if a.no_docs:
        return 0
    svg = Path(a.svg)
    svg.parent.mkdir(parents=True, exist_ok=True)
    how_plot = plot_svg(results, svg, py, has_mpl)
    update_docs(Path(a.doc), section(results, table, how_plot, svg))
    log(f"wrote {svg} ({how_plot}) and the peers section of {a.doc}; results in {a.from_json or a.json}")
    return 0


def gigatoken_table(results):
    """tokstream against GigaToken, the issue's reference competitor (target: tokstream >= 3x)."""
    m, rows = results["meta"], results["rows"]
    ts = {(r["task"], r["input"], r["threads"]): r for r in rows if r["program"] == "tokstream"}
    gg = [r for r in rows if r["program"] == "gigatoken" and r.get("mb_s")]
    if not gg:
        return []
    out = ["tokstream against GigaToken (the issue's target: tokstream ≥ 3× GigaToken). \"whole\" is "
           "tokstream's whole process as above; \"− start-up\" subtracts the empty-input run of the same "
           "model, closer to GigaToken's encode-call-only timing:", "",
           "| task | input | threads | GigaToken MB/s | tokstream MB/s whole | tokstream MB/s − start-up | "
           "tokstream ÷ GigaToken, whole | tokstream ÷ GigaToken, − start-up |",
           "|---|---|---|---|---|---|---|---|"]
    for g in gg:
        t = ts[(g["task"], g["input"], g["threads"])]
        net = t["best"] - m["tokstream_startup_seconds"][g["task"]]
        net_mb = t["bytes"] / net / 1e6 if net > 0 else None
        net_ratio = "—" if net_mb is None else f"{net_mb / g['mb_s']:.2f}"
        out.append(f"| {g['task']} | {g['input']} | {g['threads']} | {fmt_rate(g['mb_s'])} | {fmt_rate(t['mb_s'])} | "
                   f"{fmt_rate(net_mb)} | {t['mb_s'] / g['mb_s']:.2f} | "
                   f"{net_ratio} |")
    return out + [""]


def section(results, table, how_plot, svg):
    m = results["meta"]
    rows = results["rows"]
    ins = ", ".join(f"{k} ({v['bytes'] / 1e6:.1f} MB)" for k, v in m["inputs"].items())
    inexact = [r for r in rows if r.get("mb_s") and not r["exact"]]
    warm = {}
    for r in rows:
        if r.get("warm_seconds"):
            warm.setdefault(r["program"], []).append(r["warm_seconds"] / r["times"][0])
    s = [f"Measured {m['date']} at commit `{m['commit']}`"
         + (" (with other sessions' uncommitted changes in src/ in the working tree)" if m["src_dirty"] else "")
         + f", {m['cpu']}, {m['cores']} cores, tokstream SIMD level {m['simd']}. "
         "**Noisy:** the machine has only two cores and other sessions were compiling and testing "
         "on them during the run (load average at the end: "
         + ", ".join(f"{x:.1f}" for x in m["load_avg_at_end"]) + "), so treat the absolute figures as rough; "
         "the programs were run interleaved, so the ratios are the more reliable part.",
         "",
         "```sh",
         m["command"].strip() if m.get("autogroup_nice") in (None, "0") else
         f"setsid bash -c 'echo {m['autogroup_nice']} > /proc/self/autogroup; {m['command'].strip()}'",
         "```",
         ] + ([] if m.get("autogroup_nice") in (None, "0") else [
         "", f"(`setsid` + autogroup nice {m['autogroup_nice']}: Linux gives every session's autogroup an equal "
         "share of the cores whatever its nice value; this gave the run its share next to the other sessions.)"]) + [
         "",
         f"Inputs: the first {m['mb']} MB of each file of `{m['corpus']}`, cut at a line end: {ins}. "
         f"Best of {m['runs']} runs. MB/s = input bytes ÷ seconds (10^6 bytes). "
         "**tokstream** is timed as the whole CLI process (process start, model set-up, reading the "
         "file, writing the u32 ids to a file: "
         + ", ".join(f"{TASK_LABEL[t]} {s:.2f} s" for t, s in m["tokstream_startup_seconds"].items())
         + " of it is the start-up on an empty input); "
         "**peers** are timed on the encode call only, in a fresh Python process per run, with the "
         f"text already in memory as ~{m['chunk_kb']} KB documents cut after a newline that is followed by a letter "
         "(pieces never cross such a cut, so the concatenated ids must equal tokstream's ids of the whole "
         "file; *exact* compares the whole id sequence). \"tokstream ÷ this\" = this program's time ÷ "
         "tokstream's time (above 1: tokstream is faster).",
         "",
         table,
         "",
         ] + gigatoken_table(results) + [
         f"![encode MB/s per task, input and thread count](img/{svg.name})",
         "",
         "How each program was run (T = threads column):",
         "",
         ]
    progs = list(dict.fromkeys(r["program"] for r in rows))
    for p in progs:
        s.append(f"- **{p}**: {HOW.get(p) or m['how'].get(p, '')}")
    notes = {}
    for r in rows:
        if r.get("note") and r["note"] not in notes.setdefault(r["program"], []):
            notes[r["program"]].append(r["note"])
    for p, n in notes.items():
        s.append(f"- {p}: {'; '.join(n)}.")
    un = unavailable_lines(results)
    if un:
        s += ["", "Not measured:", ""] + un
    if warm:
        med = lambda v: sorted(v)[len(v) // 2]
        s += ["", "Second calls: each peer's first timed run also encoded the same documents a second time in "
              "the same process (when the first call took under 5 s). Median of second-call time ÷ "
              "first-call time over the rows: "
              + ", ".join(f"{p} {med(v):.2f}" for p, v in sorted(warm.items(), key=lambda kv: med(kv[1])))
              + ". Well below 1 means the peer keeps caches across calls (pre-token → ids); the table "
              "uses first calls in fresh processes, since tokstream's runs are fresh processes too. The "
              "second-call times are in target/peers.json (`warm_seconds`)."]
    if inexact:
        s += ["", "**Ids differ:** " + "; ".join(
            f"{r['program']} {r['task']} {r['input']} j{r['threads']} at id {r['first_diff']:,} "
            f"({r.get('tokens')} vs {r.get('ref_tokens')} ids)" for r in inexact) + "."]
    by = {(r["program"], r["task"], r["input"], r["threads"]): r["mb_s"] for r in rows if r.get("mb_s")}
    slower = [f"{p} {t} {i}" for (p, t, i, th), v in by.items() if th > 1 and v < by.get((p, t, i, 1), 0)]
    if slower:
        s += ["", f"Slower with {max(r['threads'] for r in rows)} threads than with 1 (noise from the other "
              f"sessions, or no parallel speed-up on two busy cores): {', '.join(slower)}."]
    s += ["", f"Raw results: target/peers.json (not committed); `scripts/peers.sh --from-json target/peers.json` "
          f"rewrites this section and the plot from it without measuring. Plot: {how_plot}."]
    return "\n".join(s)


if __name__ == "__main__":
    sys.exit(main())
