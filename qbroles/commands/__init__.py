"""The commands of qbroles, by what they do; cli.py gathers them into the group."""
