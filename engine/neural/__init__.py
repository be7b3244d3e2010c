"""Pieces several neural features share: the loss networks (VGG-19,
EfficientNet-Lite0) and style losses, tiled feed-forward inference, CUDA-graph
replay, effect tensor helpers, the procedural style images, and the helpers
benchmarks share (the style judge, test images)."""
