"""The roles wanted: the spec's types, loading it, writing it (init), and the built-in presets."""
