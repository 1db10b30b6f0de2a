"""`python -m cinderlite` -> cli.main()."""

from cinderlite.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
