import torch
from torch import nn

from warpaint.engine.neural.cpu_layout import for_cpu_inference


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 3, 3, padding=1))


def test_cpu_weights_become_channels_last_and_results_stay_the_same():
    plain, fast = _net(), for_cpu_inference(_net())
    for conv in (fast[0], fast[2]):
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
        assert not conv.weight.is_contiguous()
    x = torch.rand(1, 3, 37, 53)
    with torch.inference_mode():
        assert torch.allclose(plain(x), fast(x), atol=1e-5)


def test_a_module_without_parameters_is_returned_as_it_is():
    relu = nn.ReLU()
    assert for_cpu_inference(relu) is relu


def test_the_effects_run_channels_last_and_leave_the_shared_encoder_alone():
    from warpaint.engine.features.arbitrary_style.adain import encoder, inference_encoder
    from warpaint.engine.features.arbitrary_style.effect import load_decoder
    from warpaint.engine.features.fast_style.effect import load_generator

    def channels_last(module: nn.Module) -> bool:
        convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
        return bool(convs) and all(
            c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs
        )

    gen, _ = load_generator(None, "cpu")
    assert channels_last(gen)
    assert channels_last(load_decoder(None, "cpu"))
    fast = inference_encoder("cpu")
    assert fast is not encoder("cpu")
    assert channels_last(fast)
    # Image optimisation builds autograd graphs on the shared network: its layout stays.
    assert all(p.is_contiguous() for p in encoder("cpu").parameters())
