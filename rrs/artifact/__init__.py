"""The artifact's contract, torch-free: what a run writes (files, columns, keys, paths), the schemas that hold
every table to it, the types of a spec's references and claims, and the hashed file list (inventory) by which a
published result directory is verified. The producer (rrs/engine) and the checker (rrs/checks) both read it; it
imports neither."""
