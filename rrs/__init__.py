"""rrs: reproducible refusal-robustness studies."""

__version__ = "0.1.0"
