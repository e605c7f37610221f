"""The emorig runtime: audio in, engine, sinks, control, and the `emorig` command."""
