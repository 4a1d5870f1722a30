"""Everything that talks to MLflow: where the store is (`store`), training runs
(`mlflow_service`) and the model registry (`registry`)."""
