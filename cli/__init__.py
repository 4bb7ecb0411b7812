"""`python -m cli`: the command-line client for the people who run Roster (docs/cli.md)."""
