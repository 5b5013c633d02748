"""CLI verbs, one module each, each exposing register(app)."""
