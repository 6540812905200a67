"""Testing BPF programs and the Python code around them (being written)."""
