"""``python -m libra``: the ``libra`` command."""

from libra.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
