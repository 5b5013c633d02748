"""The run pipeline and everything that needs torch: plan → stages (models, safety tuning, LoRA attack, generation,
embeddings) → grid rows → the run's output folder. Imported lazily by the CLI, never by rrs/checks or rrs/artifact."""
