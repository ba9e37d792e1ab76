"""Built-in architecture presets: a `config.json` and `metadata.json` per size.

The directories beside this file are the presets; `definitions.py` is the
tool that writes them (`python -m keras_pn.models.architectures.definitions`).
"""
