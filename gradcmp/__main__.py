"""`python -m gradcmp` and the `gradcmp` command."""
from gradcmp import interrupt


def run() -> None:
    # First: a signal while gradcmp starts (its imports, click parsing the arguments) is kept, and the
    # command raises it as it begins: exit 130/143 with one line, never a half-import's traceback.
    interrupt.install(raising=False)
    from gradcmp.cli import main

    main()


if __name__ == "__main__":
    run()
