"""Training: the recipe (optimizer, schedule, class weights), augmentation layers, the epoch
rules, the resumable fit loop (`ferflow.training.loop.train_backbone`) behind the
train@<backbone> stage and the stage's outputs."""
