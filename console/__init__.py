"""The front door: the command line and the Textual console."""
