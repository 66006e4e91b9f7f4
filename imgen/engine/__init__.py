"""The training engine: the loop, precision, EMA, checkpoints, logging and progress."""
