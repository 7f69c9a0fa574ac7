"""What the model is asked for: the tasks, their response models and the clause checklist."""
