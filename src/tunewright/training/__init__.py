"""Training: data to tokens, PEFT methods, the Trainer."""
