"""The names of the files a stage module writes (or reads back) inside a folder it is handed.

Why apart from `workflow/layout.py`: stage modules (data, models, train, report, word2vec) may not import the
workflow layer, yet they name the files of a model folder, an ONNX export, a word2vec run or a prepared
dataset. layout.py composes its paths from these names, so each is spelled once. Names a third party
dictates (sentence-transformers' modules.json, BEIR's corpus.jsonl, AutoTrain's files) are not ours.
"""

from __future__ import annotations

# A dataset folder: results/qa/<corpus>/<lang>/ (layout.qa_dir), or data.prepare's one folder.
DATASET = "dataset.json"
PROVENANCE = "provenance.json"
TRAIN = "train.json"
VAL = "val.json"
SPLIT = "split.json"
CHUNKS = "chunks.json"  # data.prepare's chunks; the pipeline's are layout.chunks()


def queries(generator: str) -> str:
    """One generator's queries (layout.queries puts them below the dataset folder's queries/)."""
    return f"{generator}.json"


def per_query(summary: str) -> str:
    """The per-query CSV beside a summary CSV (`x.csv` -> `x.queries.csv`): evaluations, query sets."""
    return summary.removesuffix(".csv") + ".queries.csv"


# A fine-tuned model's or reranker's folder (layout.model_dir, layout.reranker_dir), besides the files
# sentence-transformers writes; MODEL_CARD is also the MTEB card and the published model's card (the Hub reads
# a model card from README.md).
TRAINING_FACTS = "training.json"
MODEL_CARD = "README.md"
AUTOTRAIN_CONFIG = "config.yml"  # the AutoTrain export in the model folder's autotrain/
AUTOTRAIN_LOG = "autotrain.log"
LORA_ADAPTER = "adapter"  # folder: the LoRA adapter alone (PEFT's files), its merge being the model itself
MERGE_FACTS = "merge.json"  # a merged model's folder (rule merge_model): base, fine-tune, weight, the choice

# An ONNX export (layout.onnx_dir), beside the tokenizer and sentence-transformers' module configs.
ONNX_FP32 = "model.onnx"
ONNX_INT8 = "model_int8.onnx"
ONNX_PARITY = "parity.json"

# A word2vec run's folder (layout.word2vec): the train_word2vec rule's output name -> its file.
WORD2VEC = {
    "vectors": "vectors.tsv",
    "loss": "loss.csv",
    "neighbours": "neighbours.json",
    "scatter": "scatter.png",
    "loss_plot": "loss.png",
}
