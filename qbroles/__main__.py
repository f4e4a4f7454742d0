from qbroles.cli import main

main()
