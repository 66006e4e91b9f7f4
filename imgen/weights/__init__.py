"""Model files made elsewhere, in and out.

- :mod:`imgen.weights.files`: read a ``.pth``/``.pt``/``.ckpt``/``.safetensors`` file as a
  state dict without running code, unwrapping the usual containers.
- :mod:`imgen.weights.formats`: which task and networks a state dict is, through the readers
  that plugins register (``imgen_register_formats``): imgen's own networks first, spandrel's
  architectures last.
- :mod:`imgen.weights.loading`: a task and its networks from a run directory or a file
  (``imgen predict --weights``, ``imgen eval --weights``), and ``imgen import``.
- :mod:`imgen.weights.export`: ONNX and TorchScript with a parity check (``imgen export``).
"""

from imgen.weights.files import WEIGHT_SUFFIXES, read_state_dict
from imgen.weights.formats import Detected, detect, known_formats

__all__ = ["WEIGHT_SUFFIXES", "Detected", "detect", "known_formats", "read_state_dict"]
