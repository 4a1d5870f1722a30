"""Everything that talks to MLflow: where the store is (`store`), training runs
(`mlflow_service`), the model registry (`registry`) and the exported files of a registered
version (`exports`)."""
