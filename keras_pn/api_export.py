"""Registration of public classes for Keras serialization.

Every public layer and model is registered under the package name
`keras_pn`, so saved configs carry `"registered_name": "keras_pn>ClassName"`
and load back (in Keras safe mode) without custom-object scopes.
"""

import keras


def keras_pn_export(path):
    """Class decorator: register `cls` with Keras under `keras_pn>Name`.

    Args:
        path: the public path of the symbol, e.g. `"keras_pn.layers.X"`
            (documentation only; the registered name is `keras_pn>X`).
    """

    def decorator(cls):
        return keras.saving.register_keras_serializable(package="keras_pn")(cls)

    return decorator
