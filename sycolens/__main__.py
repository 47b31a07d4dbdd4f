"""`python -m sycolens SUBCOMMAND`: the `sycolens` command without its console script."""

from sycolens.cli.main import main

main()
