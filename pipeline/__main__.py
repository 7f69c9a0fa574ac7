"""`python -m pipeline` is the `docpipe` command."""

from pipeline.cli import main

if __name__ == "__main__":
    main()
