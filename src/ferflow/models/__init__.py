"""The models: `ferflow.models.zoo.create_model(name, head=...)` builds any registered backbone
for 48x48 grey faces; `ferflow.models.inference` loads a saved one and predicts.

Importing this package registers ferflow's custom layers (the calibration's
`TemperatureScaling` among them) and losses with Keras, which
`keras.saving.load_model` needs to read a saved `.keras` model. It does not import the zoo's
builders, so loading and predicting run none of the families' code.
"""

from ferflow.models.calibration import TemperatureScaling, model_temperature, with_temperature
from ferflow.models.common import PerImageStandardization
from ferflow.models.heads import (
    HEADS,
    SquaredHinge,
    loss_for_head,
    scores_to_probabilities,
)
from ferflow.models.pretrained import CaffePreprocess, GreyToRGB

__all__ = [
    "HEADS",
    "CaffePreprocess",
    "GreyToRGB",
    "PerImageStandardization",
    "SquaredHinge",
    "TemperatureScaling",
    "loss_for_head",
    "model_temperature",
    "scores_to_probabilities",
    "with_temperature",
]
