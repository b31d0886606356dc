"""PyTorch: torchvision/timm builders, BatchNorm randomisation, torch.onnx export."""
from __future__ import annotations

import torch


def randomize_batchnorm(model: "torch.nn.Module", seed: int) -> None:
    """Give every BatchNorm non-trivial running stats and affine params (docs/design.md §4)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            with torch.no_grad():
                if m.running_mean is not None:
                    m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
                    m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(n, generator=g) * 1.5 + 0.25)
                    m.bias.copy_(torch.randn(n, generator=g) * 0.5)


def calibrate(model: "torch.nn.Module", inputs: list, seed: int) -> "torch.nn.Module":
    """Running stats measured on a seeded calibration batch, then jittered (seeded).

    Stats drawn blindly (randomize_batchnorm) let activations grow layer by layer: resnet50's
    logits reached |x| ~ 400, where float32 rounding alone (~1e-4) exceeds the default atol
    1e-5 and no exporter can pass. Measured stats keep each BN output near the scale its
    random affine params give it, as training would, and stay far from the identity.
    """
    bns = [m for m in model.modules()
           if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not bns:
        return model
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: one batch sets the stats exactly
        m.train()
    with torch.no_grad():
        model(*[torch.from_numpy(x) for x in inputs])
    g = torch.Generator().manual_seed(seed)
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
        m.eval()
        with torch.no_grad():
            n = m.num_features
            m.running_mean.add_(torch.randn(n, generator=g) * 0.1 * m.running_var.sqrt())
            m.running_var.mul_(torch.rand(n, generator=g) * 0.45 + 0.8)
    return model.eval()


def build(builder: str, variant: str, seed: int, **kwargs) -> "torch.nn.Module":
    torch.manual_seed(seed)
    if builder == "torchvision":
        import torchvision

        model = getattr(torchvision.models, variant)(weights=None, **kwargs)
    elif builder == "timm":
        import timm

        model = timm.create_model(variant, pretrained=False, **kwargs)
    elif builder == "zoo":
        from zoo.models import torch as zoo_models

        model = zoo_models.create(variant, **kwargs)
    else:
        raise ValueError(f"unknown PyTorch builder {builder!r}")
    randomize_batchnorm(model, seed)
    return model.eval()


def run(model, inputs: list) -> list:
    with torch.no_grad():
        out = model(*[torch.from_numpy(x) for x in inputs])
    outs = out if isinstance(out, (tuple, list)) else [out]
    return [o.detach().numpy() for o in outs]


def export(model, inputs: list, path: str, opset: int, dynamic_batch: bool = False) -> None:
    """``dynamic_batch``: axis 0 of every input and output is symbolic ("batch"), so one
    exported graph serves any batch size (docs/design.md §4)."""
    args = tuple(torch.from_numpy(x) for x in inputs)
    n_outputs = len(run(model, inputs))  # name every output; torch would number them by node
    input_names = [f"input_{i}" for i in range(len(args))]
    output_names = [f"output_{i}" for i in range(n_outputs)]
    axes = {name: {0: "batch"} for name in input_names + output_names} if dynamic_batch else None
    torch.onnx.export(model, args, path, opset_version=opset, dynamo=False, input_names=input_names,
                      output_names=output_names, dynamic_axes=axes, do_constant_folding=True)


def versions() -> dict:
    import timm
    import torchvision

    return {"torch": torch.__version__, "torchvision": torchvision.__version__, "timm": timm.__version__}
