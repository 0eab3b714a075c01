"""``python -m lrkit``: the ``lrkit`` command."""

from lrkit.cli.main import script

if __name__ == "__main__":
    script()
