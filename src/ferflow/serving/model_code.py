"""The file MLflow stores in every logged ferflow model ("models from code"): loading the model
runs it, which hands MLflow the pyfunc. No pickled Python object is stored in the model."""

import mlflow

from ferflow.serving.pyfunc import EmotionClassifier

mlflow.models.set_model(EmotionClassifier())
