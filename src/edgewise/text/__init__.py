"""Text utilities below every task: nothing here imports a model, an engine or another package
of edgewise, so tasks, audio and personal can all use it."""
