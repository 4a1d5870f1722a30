"""Model zoo: `create_model(name, head=...)` builds any registered backbone for 48x48 grey faces.

Importing this package also registers ferflow's custom layers and losses with Keras, which
`keras.saving.load_model` needs to read a saved `.keras` model.
"""

from ferflow.models.heads import (
    HEADS,
    SquaredHinge,
    loss_for_head,
    scores_to_probabilities,
)
from ferflow.models.pretrained import CaffePreprocess, GreyToRGB
from ferflow.models.zoo import (
    BuiltModel,
    available_models,
    count_params,
    create_model,
    set_training_phase,
)

__all__ = [
    "HEADS",
    "BuiltModel",
    "CaffePreprocess",
    "GreyToRGB",
    "SquaredHinge",
    "available_models",
    "count_params",
    "create_model",
    "loss_for_head",
    "scores_to_probabilities",
    "set_training_phase",
]
