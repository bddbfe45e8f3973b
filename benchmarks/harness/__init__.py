"""The benchmark's parts; ``bench.py`` is the command that puts them together."""
