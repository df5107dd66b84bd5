"""The model registry of a config: every name a rule or the planner may use -> its `ModelSpec`, built once.

Names are the `models` entries, the `finetune` entries and their seed replicas (their base's usage settings,
their weights in `layout.model_dir`), the fine-tunes' merges with their base (workflow.variants; the
fine-tune's usage settings, `layout.model_dir`) and ONNX exports (`layout.onnx_dir`). Built here, in the
workflow layer, because the folders are the layout's to say; `models.spec` keeps the pure pieces
(`registry_spec`, `finetuned_spec`, `onnx_spec`, `onnx_exports`). `Plan.of` builds it after
`checks.finetunes`, so every base is known and no fine-tune chain is a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from embedlab.errors import EmbedlabError
from embedlab.models.spec import (
    ONNX_FILES,
    ModelSpec,
    finetuned_spec,
    onnx_exports,
    onnx_spec,
    registry_spec,
)
from embedlab.workflow import layout


@dataclass(frozen=True)
class Registry:
    """name -> ModelSpec of every model a config defines, and which of them are ONNX exports."""

    specs: dict[str, ModelSpec]
    exports: list[str]

    @classmethod
    def of(
        cls, models: dict[str, Any], finetunes: dict[str, Any], merges: dict[str, str] | None = None
    ) -> Registry:
        """The registry of a checked config's `models` and `finetune` sections (seed replicas expanded, as
        `Plan.finetunes` holds them); `merges`: merged model -> the fine-tune it merges with its base."""
        specs = {name: registry_spec(models, name) for name in models}

        def trained(name: str) -> ModelSpec:
            if name not in specs:  # a fine-tune of a fine-tune: its base first
                base = trained(finetunes[name]["base"])
                specs[name] = finetuned_spec(base, name, layout.model_dir(name))
            return specs[name]

        for name in finetunes:
            trained(name)
        for name, ft in (merges or {}).items():  # the fine-tune's usage settings, like an ONNX export's
            specs[name] = finetuned_spec(specs[ft], name, layout.model_dir(name))
        exports = onnx_exports(finetunes)
        for name in exports:
            suffix = next(s for s in ONNX_FILES if name.endswith(s) and name[: -len(s)] in finetunes)
            ft = name[: -len(suffix)]
            specs[name] = onnx_spec(specs[ft], name, layout.onnx_dir(ft), ONNX_FILES[suffix])
        return cls(specs, exports)

    def spec(self, name: str) -> ModelSpec:
        """The spec of `name`; an unknown name is a one-line error listing the known ones."""
        if name not in self.specs:
            raise EmbedlabError(
                f"unknown model {name!r}; defined models: {', '.join(sorted(self.specs)) or '(none)'}"
            )
        return self.specs[name]
