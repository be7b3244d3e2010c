"""The fast-style generator network."""

import torch

from warpaint.engine.features.fast_style import generator
from warpaint.engine.features.fast_style.generator import GeneratorConfig, StyleGenerator


def test_the_generator_reuses_its_noise_inputs_for_the_same_size_and_origin():
    gen = StyleGenerator(GeneratorConfig(styles=1, half=8, quarter=8, blocks=1, noise=2)).eval()
    gen.set_style(torch.ones(1))
    x = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        first = gen(x, origin=(0, 0))
        (kept,) = gen._noise_memo.values()
        again = gen(x, origin=(0, 0))
        assert next(iter(gen._noise_memo.values())) is kept  # reused, not computed again
        moved = gen(x, origin=(4, 0))
        assert len(gen._noise_memo) == 2
        for top in range(8, 8 + 2 * generator.NOISE_MEMO, 2):
            gen(x, origin=(top, 0))
        assert len(gen._noise_memo) == generator.NOISE_MEMO  # only the last few are kept
    assert torch.equal(first, again)
    assert not torch.equal(first, moved)  # the noise is tied to where the image sits


def test_a_training_step_after_inference_computes_its_own_noise_inputs():
    config = GeneratorConfig(styles=1, half=8, quarter=8, blocks=1, noise=2, coarse_noise=2)
    gen = StyleGenerator(config)
    gen.set_style(torch.ones(1))
    x = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        gen(x)  # remembers noise inputs made under inference mode
    gen(x).mean().backward()  # the same size and origin, now with a graph
    assert gen.coarse is not None and gen.coarse.weight.grad is not None
