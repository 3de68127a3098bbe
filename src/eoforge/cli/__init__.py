"""Command-line interface (Typer). Parses, calls the API, prints."""
