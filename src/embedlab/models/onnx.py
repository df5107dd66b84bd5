"""ONNX export of a sentence-transformers model (fp32 and dynamic int8) and the `onnx` model kind.

sentence-transformers' own ONNX backend needs optimum-onnx, which pins transformers < 4.58, so the export
uses torch's exporter (`torch.onnx.export(dynamo=True)`, dynamic batch and sequence axes) on the model's
transformer alone; pooling and normalisation run in numpy from the model's own module configs, so the
exported folder is the tokenizer + `modules.json` + the pooling config + `model.onnx` (+ `model_int8.onnx`).
A folder is only written when every file reproduces the torch vectors on the parity texts
(`parity.json`: min and mean cosine per file).

Dynamic int8 (`onnxruntime.quantization.quantize_dynamic`) quantizes weights per output channel; activations
are quantized per tensor at run time, which clips the outliers of the FFN down-projections' GELU inputs: with
`int8_fp32_down_proj` those MatMuls (input width > output width) stay in fp32, trading speed for parity.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embedlab import filenames, io
from embedlab.errors import EmbedlabError
from embedlab.models.base import Encoder
from embedlab.models.sources import resolve_model_source
from embedlab.models.spec import ModelSpec

log = logging.getLogger(__name__)

PARITY_FORMAT = "embedlab.onnx_parity/1"
POOLINGS = ("mean", "cls", "max")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # what the exported graph may take
_MAX_PROTO_BYTES = 2_000_000_000  # one ONNX protobuf file holds < 2 GB of weights
_EXAMPLE = ["an example sentence to trace the model", "a second, somewhat longer example sentence to trace"]


# --- running an exported folder ----------------------------------------------------------------------------
class OnnxModel:
    """An exported folder in onnxruntime: tokenize, run the graph, pool and normalise like the ST model."""

    def __init__(
        self,
        folder: str | Path,
        file_name: str,
        *,
        intra_op_threads: int | None,
        max_seq_length: int | None = None,
    ) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        self.folder = Path(folder)
        path = self.folder / file_name
        if not path.is_file():
            files = sorted(p.name for p in self.folder.glob("*.onnx")) or ["none"]
            raise EmbedlabError(
                f"{path}: no such ONNX file; set the file name to one of {', '.join(files)} "
                "(or export the model with embedlab.models.onnx.export_onnx)"
            )
        self.pooling, self.normalize, self.dim = read_st_modules(self.folder)
        cfg = io.read_json(self.folder / "sentence_bert_config.json")
        self.max_length = int(max_seq_length or cfg["max_seq_length"])
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder)
        self.tokenizer.padding_side = "right"  # cls pooling reads position 0
        options = ort.SessionOptions()
        if intra_op_threads:
            options.intra_op_num_threads = int(intra_op_threads)
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """Pooled (and, when the model has a Normalize module, unit) float32 rows in the order of `texts`."""
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths per batch: less padding
        out = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(
                [texts[i] for i in order[start : start + batch_size]],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="np",
            )
            feed = {name: batch[name].astype(np.int64) for name in self.inputs}
            hidden = self.session.run(None, feed)[0]
            out.append(pool(hidden, batch["attention_mask"], self.pooling))
        vecs = np.concatenate(out).astype(np.float32)
        if self.normalize:
            vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        result = np.empty_like(vecs)
        result[order] = vecs
        return result


def pool(hidden: np.ndarray, mask: np.ndarray, how: str) -> np.ndarray:
    """sentence-transformers' Pooling on right-padded rows: mean over real tokens, first token, or max."""
    m = mask[..., None].astype(hidden.dtype)
    if how == "mean":
        return (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    if how == "cls":
        return hidden[:, 0]
    if how == "max":
        return np.where(m > 0, hidden, -1e9).max(1)
    raise EmbedlabError(
        f"pooling {how!r} is not supported by the ONNX kind; use one of {', '.join(POOLINGS)}"
    )


def read_st_modules(folder: Path) -> tuple[str, bool, int]:
    """(pooling mode, has Normalize, dimension) from an exported folder's modules.json and pooling config."""
    modules = io.read_json(folder / "modules.json")
    kinds = {m["type"].rsplit(".", 1)[-1]: m for m in modules}
    if "Pooling" not in kinds:
        raise EmbedlabError(f"{folder}/modules.json: no Pooling module; re-export the model")
    cfg = io.read_json(folder / kinds["Pooling"]["path"] / "config.json")
    return cfg["pooling_mode"], "Normalize" in kinds, int(cfg["embedding_dimension"])


class OnnxEncoder(Encoder):
    """Kind `onnx`: `source` is an exported folder; `model_kwargs.file_name` picks model.onnx or
    model_int8.onnx and `model_kwargs.intra_op_threads` caps onnxruntime's threads (CPU only)."""

    def __init__(self, spec: ModelSpec, device: str = "auto") -> None:
        super().__init__(spec, "cpu")
        if device not in ("auto", "cpu"):
            log.warning("model %s: the onnx kind runs on the CPU (onnxruntime), not on %s", spec.name, device)
        file_name = spec.model_kwargs.get("file_name")
        if not spec.source or not file_name:
            raise EmbedlabError(
                f"model {spec.name}: kind onnx needs source (an exported folder) and model_kwargs.file_name "
                f"({filenames.ONNX_FP32} or {filenames.ONNX_INT8})"
            )
        self.model = OnnxModel(
            resolve_model_source(spec.source),
            file_name,
            intra_op_threads=spec.model_kwargs.get("intra_op_threads"),
            max_seq_length=spec.max_seq_length,
        )

    @property
    def dim(self) -> int | None:
        return self.model.dim

    def _encode(self, texts: list[str], role: str) -> Any:
        prefix = self.prefix(role)
        return self.model.encode([prefix + t for t in texts], self.spec.batch_size)

    def close(self) -> None:
        del self.model


# --- export -------------------------------------------------------------------------------------------------
def export_onnx(
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    quantize: bool,
    parity_texts: Sequence[str],
    min_cosine: float,
    seed: int,
    int8_fp32_down_proj: bool,
    batch_size: int,
) -> dict[str, Any]:
    """Export a sentence-transformers model to `out_dir` (atomically) and return the parity record.

    Raises EmbedlabError naming the file when its mean cosine to the torch vectors on `parity_texts` is
    below `min_cosine` (the minimum is recorded beside it); nothing is written then.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    texts = [t for t in parity_texts if t.strip()]
    if not texts:
        raise EmbedlabError(f"{out_dir}: no parity texts; pass the val texts to check the export against")
    torch.manual_seed(seed)
    source = resolve_model_source(str(model_dir))
    try:
        model = SentenceTransformer(source, device="cpu")
    except OSError as exc:
        raise EmbedlabError(f"{model_dir}: cannot load a sentence-transformers model ({exc})") from exc
    model.eval()
    transformer, pooling = _check_modules(model, str(model_dir))
    reference = model.encode(
        texts,
        batch_size=batch_size,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    with io.atomic_dir(out_dir) as tmp:
        _write_configs(model, transformer, pooling, tmp)
        _export_graph(transformer, tmp / filenames.ONNX_FP32)
        files = [filenames.ONNX_FP32]
        if quantize:
            _quantize(tmp / filenames.ONNX_FP32, tmp / filenames.ONNX_INT8, int8_fp32_down_proj)
            files.append(filenames.ONNX_INT8)
        record = {
            "format": PARITY_FORMAT,
            "source": str(model_dir),
            "texts": len(texts),
            "min_cosine_required": min_cosine,
            "int8_fp32_down_proj": int8_fp32_down_proj if quantize else None,
            "files": {},
        }
        for name in files:
            onnx_vecs = OnnxModel(tmp, name, intra_op_threads=None).encode(texts, batch_size)
            onnx_vecs /= np.maximum(np.linalg.norm(onnx_vecs, axis=1, keepdims=True), 1e-12)
            cos = (onnx_vecs * reference).sum(1)
            record["files"][name] = {"min": round(float(cos.min()), 6), "mean": round(float(cos.mean()), 6)}
            log.info("%s: cosine to torch min %.4f mean %.4f", name, cos.min(), cos.mean())
            if cos.mean() < min_cosine:
                raise EmbedlabError(
                    f"{Path(out_dir) / name}: mean cosine {cos.mean():.4f} to the torch model on "
                    f"{len(texts)} parity texts is below {min_cosine}; "
                    + (
                        "keep the FFN down-projections in fp32 (int8_fp32_down_proj) or skip quantize"
                        if name == filenames.ONNX_INT8
                        else "the exported graph does not match: report the model architecture"
                    )
                )
        io.write_json(tmp / filenames.ONNX_PARITY, record)
    return record


def _check_modules(model: Any, name: str) -> tuple[Any, Any]:
    """The Transformer and Pooling modules of a Transformer + Pooling (+ Normalize) model, else an error."""
    kinds = [type(m).__name__ for m in model]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise EmbedlabError(
            f"{name}: modules {' + '.join(kinds)} cannot be exported; the ONNX export supports "
            "Transformer + Pooling (+ Normalize)"
        )
    transformer, pooling = model[0], model[1]
    task = transformer.get_config_dict().get("transformer_task", "feature-extraction")
    mode = pooling.pooling_mode
    if task != "feature-extraction" or mode not in POOLINGS or not pooling.include_prompt:
        raise EmbedlabError(
            f"{name}: transformer task {task!r} with pooling {mode!r} (include_prompt="
            f"{pooling.include_prompt}) cannot be exported; supported: feature-extraction with "
            f"{', '.join(POOLINGS)} pooling that includes the prompt"
        )
    params = sum(p.numel() * p.element_size() for p in transformer.auto_model.parameters())
    if params > _MAX_PROTO_BYTES:
        raise EmbedlabError(
            f"{name}: {params / 1e9:.1f} GB of weights; the ONNX export handles models < 2 GB"
        )
    return transformer, pooling


def _write_configs(model: Any, transformer: Any, pooling: Any, folder: Path) -> None:
    """Tokenizer files, max_seq_length, modules.json and the pooling config (sentence-transformers form)."""
    transformer.tokenizer.save_pretrained(folder)
    io.write_json(folder / "sentence_bert_config.json", {"max_seq_length": int(model.max_seq_length)})
    entries = []
    for idx, module in enumerate(model):
        cls = type(module)
        path = "" if idx == 0 else f"{idx}_{cls.__name__}"
        entries.append(
            {"idx": idx, "name": str(idx), "path": path, "type": f"{cls.__module__}.{cls.__name__}"}
        )
    io.write_json(folder / "modules.json", entries)
    io.write_json(folder / entries[1]["path"] / "config.json", pooling.get_config_dict())


def _export_graph(transformer: Any, path: Path) -> None:
    """The transformer (token embeddings out) through torch's dynamo exporter, batch and sequence dynamic.

    Eager attention is traced instead of SDPA: its MatMul/Softmax pattern runs faster in onnxruntime.
    """
    import torch

    hf = transformer.auto_model
    names = [n for n in _INPUTS if n in transformer.tokenizer.model_input_names or n == "input_ids"]
    example = transformer.tokenizer(_EXAMPLE, padding=True, return_tensors="pt")
    args = tuple(example[n] for n in names)

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hf = hf

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.hf(**dict(zip(names, inputs, strict=True))).last_hidden_state

    previous = hf.config._attn_implementation
    hf.set_attn_implementation("eager")
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    try:
        with torch.no_grad():
            torch.onnx.export(
                TokenEmbeddings().eval(),
                args,
                str(path),
                input_names=names,
                output_names=["token_embeddings"],
                dynamo=True,
                external_data=False,
                dynamic_shapes=(tuple({0: batch, 1: seq} for _ in names),),
                verbose=False,
            )
    except Exception as exc:  # the exporter's errors are long; the model is what the user can change
        raise EmbedlabError(
            f"{path}: torch.onnx.export failed ({type(exc).__name__}: {str(exc)[:300]})"
        ) from exc
    finally:
        hf.set_attn_implementation(previous)


def _quantize(src: Path, dst: Path, fp32_down_proj: bool) -> None:
    """Dynamic int8 weights (per output channel); optionally keep the FFN down-projections in fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    exclude: list[str] = []
    if fp32_down_proj:
        graph = onnx.load(str(src)).graph
        dims = {i.name: list(i.dims) for i in graph.initializer}
        for node in graph.node:
            weights = [dims[x] for x in node.input if len(dims.get(x, [])) == 2]
            if node.op_type == "MatMul" and weights and weights[0][0] > weights[0][1]:
                exclude.append(node.name)
    quantize_dynamic(
        str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=exclude
    )


def export_finetuned(
    model_dir: str | Path,
    out_dir: str | Path,
    val_paths: Sequence[str | Path],
    settings: dict[str, Any],
    *,
    seed: int,
    batch_size: int,
) -> dict[str, Any]:
    """Rule `export_onnx`: a fine-tuned model exported per its `export_onnx` settings, its parity checked on
    a seeded sample of `settings["parity_texts"]` val texts (queries and chunks of its datasets)."""
    texts: list[str] = []
    for path in val_paths:
        val = io.read_json(path)
        texts += [*val["queries"].values(), *val["corpus"].values()]
    rng = np.random.default_rng(seed)
    sample = [texts[int(i)] for i in sorted(rng.permutation(len(texts))[: settings["parity_texts"]])]
    return export_onnx(
        model_dir,
        out_dir,
        quantize=settings["quantize"],
        parity_texts=sample,
        min_cosine=settings["min_cosine"],
        seed=seed,
        int8_fp32_down_proj=settings["int8_fp32_down_proj"],
        batch_size=batch_size,
    )
