"""Torch-free checks of published results: schemas, references, claims, figures.

This package may import pandas, pandera, numpy, pyyaml, pydantic, matplotlib and jsonschema only: never torch,
transformers or peft, directly or through another rrs module.
"""
