from gradcmp.cli import main

main()
