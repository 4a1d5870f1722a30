"""Hides TensorFlow from a child process, as on a GPU host that has only JAX installed.

A child gets this folder first on its PYTHONPATH (tests/keras_backends.py), so Python runs this
module at start-up: every later `import tensorflow` (Keras' own lazy ones included) then fails as
if TensorFlow were not installed, and a dependency on it shows up as a failed test.
"""

import sys


class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the tests: a JAX "
                                      "host may have no TensorFlow)", name=name)
        return None


sys.meta_path.insert(0, _NoTensorFlow())
