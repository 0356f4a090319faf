from gradcmp import interrupt

interrupt.install()  # first: an interrupt while torch imports must end as cleanly as one later

from gradcmp.cli import main  # noqa: E402

main()
