"""embedlab: your documents -> synthetic queries -> fine-tuned embedding models, with the evidence."""

__version__ = "0.1.0"
