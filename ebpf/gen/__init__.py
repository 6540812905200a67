"""The code generator (being written)."""
