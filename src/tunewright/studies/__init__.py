"""Studies: many runs of one project compared. The sub-run primitive (subrun.py) and what runs on it: tune
(Optuna, multi-objective), the learning curve and the mitigation comparison."""
