"""The `sycolens` command: one subcommand per step, each a door's parser -> job -> run."""
