"""The `emergent` command: the one place that composes the stages' click groups (see emergent/cli.py)."""
