"""Conformance checks for plugin authors: does a task, or a model, keep imgen's contracts?

Use them in a plugin's own tests (``imgen new-plugin`` writes such a test)::

    from imgen.testing import check_model, check_task, tiny_image_folder


    def test_denoise_task_conforms(tmp_path):
        data = tiny_image_folder(tmp_path / "images")
        check_task("denoise", data=data, config={"crop": 32, "depth": 3, "features": 8})


    def test_dncnn_conforms():
        check_model("dncnn", kwargs={"depth": 3, "features": 8})

Every check raises :class:`ConformanceError` (an ``AssertionError``, so pytest reports a
failed test) with one sentence naming the task or model, what broke and where to look. On
success it returns a report of what it saw, for further asserts.

What :func:`check_task` checks, in this order (each part is a function of its own):

1. :func:`check_config`: the config dataclass round-trips through the command line
   (``imgen train TASK --option value``), a ``--config`` TOML file and ``config.json``.
2. :func:`check_dataset`: the training dataset gives the same item for the same
   ``(index, seed)`` (exact ``--resume``), and the prepared batch has the declared keys, with
   image tensors in their ranges ([0, 1] unless declared otherwise).
3. One optimization step with the real trainer: it runs, changes the weights of every
   network it optimizes and logs finite losses.
4. The checkpoint round-trips: the run directory alone rebuilds the same networks (raw and
   EMA), and ``--resume`` restores the step, the weights and the optimizer state.
5. ``predict()`` keeps the input size (times the task's scale) for an odd-sized image and
   returns [0, 1]; for tasks without an image input (``takes_image = False``),
   ``generate()`` returns ``n`` images in [0, 1], the same ones for the same seed.
6. ``evaluate()`` reports finite numbers for every metric the task declares (or a note
   saying why one is unavailable).

The checks live in one module per subject, all re-exported here: :mod:`imgen.testing.config`
(:func:`check_config`), :mod:`imgen.testing.data` (:func:`tiny_image_folder`,
:func:`check_dataset`), :mod:`imgen.testing.task` (:func:`check_task`) and
:mod:`imgen.testing.model` (:func:`check_model`). :mod:`imgen.testing.toy` is the 2-D toy GAN
(8 Gaussians on a ring) that tests the core's adversarial objectives.
"""

from imgen.testing.common import ConformanceError
from imgen.testing.config import check_config
from imgen.testing.data import check_dataset, tiny_image_folder
from imgen.testing.model import ModelReport, check_model
from imgen.testing.task import TaskReport, check_task

__all__ = [
    "ConformanceError",
    "ModelReport",
    "TaskReport",
    "check_config",
    "check_dataset",
    "check_model",
    "check_task",
    "tiny_image_folder",
]
