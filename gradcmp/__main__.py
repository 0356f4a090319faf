"""`python -m gradcmp` and the `gradcmp` command."""
import os
import sys

from gradcmp import interrupt


def _prepare() -> tuple[str, int] | None:
    """Fit the process gradcmp was given to run it; (why, exit status) where it cannot, else None.

    A closed stdin, stdout or stderr (`>&-`) is pointed at /dev/null, so no file gradcmp opens takes its
    number (C code writing to "stderr" would write into the results file); with stderr closed, messages
    go nowhere, as asked. With stdout closed there is nothing to run for: exit 1, saying so.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free number: this one
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")
    if sys.stdout is None:  # Python found fd 1 closed: whatever gradcmp printed would be lost
        return "cannot write the output: stdout is closed", 1
    try:
        os.getcwd()
    except FileNotFoundError:  # relative paths mean nothing, and torch's MKL cannot load
        return "Error: the working directory no longer exists; cd to one that does", 2
    return None


def run() -> None:
    # First: a signal while gradcmp starts (its imports, click parsing the arguments) is kept, and the
    # command raises it as it begins: exit 130/143/129 with one line, never a half-import's traceback.
    interrupt.install(raising=False)
    refused = _prepare()
    if refused:
        print(refused[0], file=sys.stderr)
        sys.exit(refused[1])
    from gradcmp.cli import main

    try:
        main()
    finally:
        interrupt.ignore()  # the exit status is decided: no signal during the teardown may change it


if __name__ == "__main__":
    run()
