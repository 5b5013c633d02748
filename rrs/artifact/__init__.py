"""The artifact contract: what a published result directory holds and how it is verified (torch-free)."""
