"""Tiled inference with instance-norm statistics shared by all tiles."""

import pytest
import torch

from warpaint.engine.features.fast_style.bench import johnson_net
from warpaint.engine.features.fast_style.generator import GeneratorConfig, StyleGenerator
from warpaint.engine.neural import feedforward
from warpaint.engine.neural.feedforward import (
    auto_tile_side,
    frozen_statistics,
    norm_layers,
    norm_statistics,
    tiled_forward,
)


def _generator(styles: int = 2, seed: int = 0) -> StyleGenerator:
    torch.manual_seed(seed)
    gen = StyleGenerator(GeneratorConfig(styles=styles, half=8, quarter=16, blocks=2)).eval()
    with torch.no_grad():
        # Away from the identity init, so every norm layer's scale/shift matters.
        for p in gen.parameters():
            p.add_(0.1 * torch.randn_like(p))
    gen.set_style(torch.tensor([0.3, 0.7]))
    return gen


def _image(h: int, w: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    smooth = torch.stack([torch.sin(7 * xs + 3 * ys), torch.cos(5 * ys), xs * ys])[None]
    return (0.5 + 0.3 * smooth + 0.1 * torch.rand(1, 3, h, w, generator=g)).clamp(0, 1)


def test_relu_runs_in_place_without_gradients_and_out_of_place_with_them():
    x = torch.tensor([-1.0, 2.0, -3.0])
    y = feedforward.relu(x)
    assert y is x and torch.equal(x, torch.tensor([0.0, 2.0, 0.0]))
    leaf = torch.tensor([-1.0, 2.0], requires_grad=True)
    h = leaf * 1.0
    out = feedforward.relu(h)
    assert out is not h and torch.equal(h.detach(), torch.tensor([-1.0, 2.0]))
    out.sum().backward()
    assert torch.equal(leaf.grad, torch.tensor([0.0, 1.0]))


def test_tiled_output_equals_the_untiled_output():
    gen, x = _generator(), _image(210, 275)
    with torch.inference_mode():
        whole = gen(x)
        tiled = tiled_forward(gen, gen, x, tile=64, halo=64, align=4)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max() < 1e-4


def test_tiles_without_shared_statistics_would_show_seams():
    # The reason the statistics are frozen: each tile's own statistics differ.
    gen, x = _generator(), _image(128, 256)
    with torch.inference_mode():
        whole = gen(x)
        left, right = gen(x[..., :128]), gen(x[..., 128:])
    naive = torch.cat([left, right], dim=-1)
    assert (naive - whole).abs().max() > 1e-2


def test_frozen_statistics_reproduce_the_network_exactly_on_the_same_image():
    gen, x = _generator(), _image(96, 80)
    with torch.inference_mode():
        stats = norm_statistics(gen, gen, x)
        assert len(stats) == len(norm_layers(gen))
        with frozen_statistics(gen, stats):
            frozen = gen(x)
        free = gen(x)
    assert torch.allclose(frozen, free, atol=1e-6)
    assert all("forward" not in m.__dict__ for m in norm_layers(gen)), "patches removed"


def test_frozen_statistics_work_for_plain_instance_norm_networks():
    torch.manual_seed(0)
    net = johnson_net().eval()
    x = _image(112, 144)
    with torch.inference_mode():
        whole = net(x)
        tiled = tiled_forward(net, net, x, tile=48, halo=64, align=4)
    assert (tiled - whole).abs().max() < 1e-4


def test_wrong_number_of_statistics_is_refused():
    gen = _generator()
    with pytest.raises(ValueError, match="statistics for"), frozen_statistics(gen, []):
        pass


def test_tile_side_follows_free_memory(monkeypatch):
    monkeypatch.setattr(feedforward, "free_memory_bytes", lambda device: 64 << 20)
    small = auto_tile_side(1000.0, "cpu", halo=64, align=4)
    monkeypatch.setattr(feedforward, "free_memory_bytes", lambda device: 64 << 30)
    big = auto_tile_side(1000.0, "cpu", halo=64, align=4)
    assert small % 4 == 0 and big % 4 == 0
    assert feedforward.MIN_TILE <= small < big <= feedforward.MAX_TILE_CPU
    # 0.4 * 64 MiB at 1000 bytes per pixel is a (164 px)^2 window, minus the halos.
    assert small == 36 // 4 * 4 or small == feedforward.MIN_TILE


def test_progress_and_cancellation_points_are_called_per_tile():
    gen, x = _generator(), _image(100, 100)
    fractions, checks = [], []
    with torch.inference_mode():
        tiled_forward(
            gen,
            gen,
            x,
            tile=48,
            halo=16,
            align=4,
            check=lambda: checks.append(1),
            progress=fractions.append,
        )
    assert fractions[-1] == 1.0 and len(fractions) == 9
    assert len(checks) >= 9


@pytest.mark.parametrize(
    ("noise", "noise_head", "coarse"), [(1, False, 0), (1, True, 0), (0, False, 2), (1, True, 2)]
)
def test_coordinate_noise_input_keeps_tiles_identical_to_one_pass(noise, noise_head, coarse):
    torch.manual_seed(0)
    config = GeneratorConfig(
        styles=1,
        half=8,
        quarter=16,
        blocks=2,
        noise=noise,
        noise_head=noise_head,
        coarse_noise=coarse,
        coarse_cell=24,
    )
    gen = StyleGenerator(config).eval()
    with torch.no_grad():
        for p in gen.parameters():
            p.add_(0.1 * torch.randn_like(p))
    gen.set_style(torch.ones(1))
    x = _image(130, 170)

    def forward(y, origin=(0, 0)):
        return gen(y, origin=origin)

    with torch.inference_mode():
        whole = forward(x)
        tiled = tiled_forward(gen, forward, x, tile=64, halo=64, align=4, with_origin=True)
        shifted = forward(x, (7, 0))
    assert (tiled - whole).abs().max() < 1e-4
    assert gen.reads_origin
    assert (shifted - whole).abs().max() > 1e-3, "the noise input matters"


def test_precomputed_noise_inputs_give_the_same_result_and_mismatched_ones_are_refused():
    # The CUDA runner makes the noise planes once per size and passes them in.
    torch.manual_seed(0)
    config = GeneratorConfig(
        styles=1,
        half=8,
        quarter=16,
        blocks=2,
        noise=1,
        noise_head=True,
        coarse_noise=2,
        coarse_cell=24,
    )
    gen = StyleGenerator(config).eval()
    with torch.no_grad():
        for p in gen.parameters():
            p.add_(0.1 * torch.randn_like(p))
    gen.set_style(torch.ones(1))
    x = torch.cat([_image(45, 66), _image(45, 66, seed=2)])  # padded to 48 x 68
    origins = [(8, 4), (0, 12)]
    noise = gen.noise_inputs(45, 66, origins, "cpu")
    assert noise.pixel is not None and noise.pixel.shape == (2, 1, 48, 68)
    assert noise.coarse is not None and noise.coarse.shape == (2, 2, 12, 17)
    with torch.inference_mode():
        assert torch.equal(gen(x, noise=noise), gen(x, origin=origins))
        assert not torch.equal(gen(x, noise=noise), gen(x)), "the origins are in the planes"
        with pytest.raises(ValueError, match="noise inputs do not match"):
            gen(x, noise=noise._replace(coarse=None))


def test_coordinate_noise_depends_only_on_absolute_coordinates():
    from warpaint.engine.features.fast_style.generator import coordinate_noise

    big = coordinate_noise(40, 50, 0, 0, 2, "cpu")
    part = coordinate_noise(10, 20, 25, 17, 2, "cpu")
    assert torch.equal(big[..., 25:35, 17:37], part)
    assert float(big.min()) >= 0.0 and float(big.max()) < 1.0
    assert abs(float(big.mean()) - 0.5) < 0.05 and not torch.equal(big[:, 0], big[:, 1])


def test_lattice_noise_is_smooth_blobs_a_cell_wide_tied_to_absolute_coordinates():
    from warpaint.engine.features.fast_style.generator import lattice_noise

    big = lattice_noise(64, 80, 0, 0, 2, 32, 4, "cpu")  # a 256 x 320 px area at 1/4 size
    assert torch.equal(big[..., 6:30, 10:50], lattice_noise(24, 40, 24, 40, 2, 32, 4, "cpu"))
    assert float(big.min()) >= 0.0 and float(big.max()) < 1.0
    assert not torch.equal(big[:, 0], big[:, 1])
    # Smooth: neighbours 4 px apart differ little, points 4 cells apart are unrelated.
    step = (big[..., 1:] - big[..., :-1]).abs().mean()
    far = (big[..., 32:] - big[..., :-32]).abs().mean()
    assert step < 0.2 * far and far > 0.15
    finer = lattice_noise(64, 80, 0, 0, 1, 8, 4, "cpu")
    assert (finer[..., 1:] - finer[..., :-1]).abs().mean() > 2 * step, "the cell sets the size"


@pytest.mark.parametrize("dilated", [False, True])
def test_the_receptive_radius_bounds_what_a_pixel_sees_and_sets_the_tiles_halo(dilated):
    from warpaint.engine.features.fast_style.effect import halo

    torch.manual_seed(0)
    gen = StyleGenerator(GeneratorConfig(styles=1, half=8, quarter=16, blocks=5, dilated=dilated))
    gen.eval().set_style(torch.ones(1))
    x = _image(200, 200)
    with torch.no_grad():
        stats = norm_statistics(gen, gen, x)
    x.requires_grad_(True)
    with frozen_statistics(gen, stats):  # as in tiles: the network is then local
        gen(x)[0, :, 100, 100].sum().backward()
    seen = (x.grad.abs().sum(dim=(0, 1)) > 0).nonzero()
    radius = int((seen - torch.tensor([100, 100])).abs().max())
    assert radius <= gen.receptive_radius()
    assert radius > (60 if dilated else 30)  # the dilation widens the view
    with torch.inference_mode():
        whole = gen(x.detach())
        tiled = tiled_forward(gen, gen, x.detach(), tile=64, halo=halo(gen), align=4)
    assert (tiled - whole).abs().max() < 1e-4
