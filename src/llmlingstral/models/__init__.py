"""Model presets (:mod:`.registry`, light) and loaders (:mod:`.loader`, imports torch)."""
