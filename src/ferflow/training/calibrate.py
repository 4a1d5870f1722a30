"""The train stage's last step before saving: fit the best epoch's temperature on the validation
split and put it into the model (`ferflow.models.calibration`)."""

from __future__ import annotations

import keras

from ferflow import backend
from ferflow.data.arrays import Split
from ferflow.models.calibration import fit_temperature, negative_log_likelihood, with_temperature
from ferflow.models.inference import predict_scores


def calibrate(net: keras.Model, val_set: Split, batch_size: int = 256
              ) -> tuple[keras.Model, dict[str, float]]:
    """The model to save (`net` with its fitted temperature as the last layer) and the numbers
    for the train metrics: `calibration_temperature` and the validation NLL before
    (`val_nll_uncalibrated`, T = 1) and after (`val_nll`)."""
    scores = predict_scores(backend.undistributed(net), val_set.x, batch_size)
    temperature = fit_temperature(scores, val_set.y)
    numbers = {
        "calibration_temperature": round(temperature, 6),
        "val_nll_uncalibrated": round(negative_log_likelihood(scores, val_set.y), 6),
        "val_nll": round(negative_log_likelihood(scores, val_set.y, temperature), 6),
    }
    return with_temperature(net, temperature), numbers
