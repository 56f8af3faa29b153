"""Model folders on disk: the files (``modelfile``: config.json and model.safetensors, no torch) and what they
describe, checked (``folder``: the config's schema, the network and the input scaling).
"""
