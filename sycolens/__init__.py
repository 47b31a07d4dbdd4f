"""sycolens: find and fix sycophancy in chat language models (Chen et al., ICML 2024)."""

__version__ = "0.1.0"
