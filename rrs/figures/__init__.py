"""The study's figures, drawn deterministically from its tables (grid figures and the scaling-fit figure)."""
