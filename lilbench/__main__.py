from lilbench.cli import main

main()
