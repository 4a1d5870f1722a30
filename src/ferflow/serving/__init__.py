"""Putting the registered model to use: images in, emotions out (CLI, face detection, pyfunc,
ONNX and LiteRT exports)."""
