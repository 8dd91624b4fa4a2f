from trainer.cli import group

if __name__ == "__main__":  # `python -m trainer train ...`: the trainer's commands alone (`emergent` has them all)
    group()
