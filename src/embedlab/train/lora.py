"""LoRA for the sentence-transformers backend: PEFT adapters on the transformer, trained alone (every other
weight frozen), merged into the weights before the model is saved.

Through peft itself (`get_peft_model` on the Transformer module's model) rather than
`SentenceTransformer.add_adapter`: that goes through transformers' PEFT integration, which in transformers
5.24 asks for peft >= 0.22, newer than any release (peft 0.21.2 is pinned). The saved model is a plain
sentence-transformers folder (`SentenceTransformer(path)` loads it offline, without peft); the adapter alone
is kept in its adapter/ folder for whoever wants to apply it to the base themselves.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from embedlab import filenames
from embedlab.errors import EmbedlabError

BACKEND = "sentence-transformers"


def lora_problem(settings: Mapping[str, Any]) -> str | None:
    """Why this `finetune` entry cannot train LoRA (None if it can): only the sentence-transformers backend
    trains it."""
    if settings["lora"]["enabled"] and settings["backend"] != BACKEND:
        return (
            f"lora needs backend {BACKEND} (not {settings['backend']}): set lora.enabled: false or "
            f"backend: {BACKEND}"
        )
    return None


def add_lora(model: Any, lora: Mapping[str, Any]) -> dict[str, Any]:
    """Freeze `model` and wrap its transformer in LoRA adapters (`lora`: the entry's settings); returns the
    facts of training.json (the settings, the resolved target modules, trainable and total parameters)."""
    from peft import LoraConfig, get_peft_model

    module = _transformer(model)
    for param in model.parameters():  # Dense heads and the like too: only the adapter trains
        param.requires_grad = False
    config = LoraConfig(
        r=lora["r"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        target_modules=lora["target_modules"],
    )
    try:
        module.model = get_peft_model(module.model, config)
    except ValueError as exc:  # no default targets for this model type, or a name that matches nothing
        raise EmbedlabError(
            f"lora: {' '.join(str(exc).split())}: set lora.target_modules to names of the model's linear "
            "layers (e.g. [query, value] for BERT)"
        ) from exc
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {
        **lora,
        "target_modules": sorted(module.model.peft_config["default"].target_modules),
        "trainable_parameters": trainable,
        "total_parameters": total,
        "adapter": filenames.LORA_ADAPTER,
    }


def has_lora(model: Any) -> bool:
    """Whether `model`'s transformer carries a LoRA adapter (the trainer's checkpoints then hold only it);
    without importing peft when no adapter was ever added."""
    peft = sys.modules.get("peft")
    return peft is not None and any(isinstance(getattr(m, "model", None), peft.PeftModel) for m in model)


def load_adapter_checkpoint(model: Any, checkpoint: str | Path) -> None:
    """Load the adapter weights of a trainer checkpoint into `model`: with an adapter, PEFT saves only the
    adapter there, which sentence-transformers' own checkpoint loading cannot read back."""
    from peft import load_peft_weights, set_peft_model_state_dict

    folder = next(Path(checkpoint).rglob("adapter_model.safetensors")).parent
    set_peft_model_state_dict(_transformer(model).model, load_peft_weights(str(folder)))


def merge_lora(model: Any, folder: Path) -> None:
    """Save the adapter alone into `folder`/adapter, then merge it into the transformer's weights, so that
    `model.save` writes a plain model."""
    module = _transformer(model)
    module.model.save_pretrained(str(folder / filenames.LORA_ADAPTER))
    module.model = module.model.merge_and_unload()


def _transformer(model: Any) -> Any:
    """The model's Transformer module (the one holding the Hugging Face model)."""
    from sentence_transformers.sentence_transformer.modules import Transformer

    for module in model:
        if isinstance(module, Transformer):
            return module
    raise EmbedlabError("lora: the model has no Transformer module to adapt: set lora.enabled: false")
