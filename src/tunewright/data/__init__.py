"""Data stages: checks, audit, split. Every stage consumes and yields Examples."""
