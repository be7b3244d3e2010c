"""Fast (feed-forward) style: the effect, its generator, training by distillation
from Gatys stylization, and its benchmark."""
