"""One module per source framework: build a catalogue model, randomise it, export to ONNX.

Each module is imported only inside its own export process (docs/design.md §2), never beside
OneFlow or another framework.
"""
