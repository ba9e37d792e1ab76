"""Architecture presets (a config, no weights) written for tests that build small models."""

import json
import os

from keras_pn.models.architectures.definitions import serialized_config


def write_architecture_preset(directory, class_name, **config):
    """Writes a keras-hub preset of `class_name` (`"GPTBackbone"`, ...) with `config`; returns its path."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(serialized_config(class_name, config), f)
    with open(os.path.join(directory, "metadata.json"), "w") as f:
        json.dump({"parameter_count": 0}, f)
    return str(directory)
