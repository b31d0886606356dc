"""PyTorch cells with a typed signature (zoo/signatures.py): models from PyTorch's own model
libraries — Hugging Face ``transformers`` built from a tiny configuration in code, torchvision's
task models (segmentation, ...) — with random weights, nothing downloaded.

The same contract as zoo/frameworks/torch_exporter.py (build, calibrate, run, export,
versions), for zoo/signature_export.py. What differs:

* the model is wrapped in ``SignatureModule``: positional inputs in the catalogue's order,
  handed to the library model by name (transformers) or by position (torchvision), and its
  outputs flattened into one tuple in the documented order (signatures.flatten), so the ONNX
  graph's inputs and outputs carry the catalogue's input names and the outputs' paths;
* besides BatchNorm (calibrated as the first tier's, docs/design.md §4), LayerNorm and RMSNorm
  scales (and LayerNorm shifts) are drawn from a seeded generator: their library init is 1
  and 0, under which a normalisation error in the converter could hide behind the identity;
* Hugging Face attention masks are built by transformers' own export-friendly mask function
  (``integrations.executorch.sdpa_mask_without_vmap``, the one its ExecuTorch path uses): the
  default one builds the causal/padding mask with ``torch.vmap``, which torch.onnx's tracer
  cannot follow ("RuntimeError: unordered_map::at"). The swap is scoped to the model's own
  calls (``export_friendly_masks``) and gives the same mask.

transformers imports TensorFlow (and Flax) too when it finds them installed; an export process
holds one source framework (docs/design.md §2, §7), so this module tells it to use PyTorch only
(``USE_TF=0``, ``USE_FLAX=0``) before anything imports it.
"""
from __future__ import annotations

import contextlib
import os

import torch

os.environ["USE_TF"] = "0"      # read once, when transformers is first imported
os.environ["USE_FLAX"] = "0"

from ..signatures import flatten
from .torch_exporter import calibrate, randomize_batchnorm  # noqa: F401 - calibrate: the exporter contract


class SignatureModule(torch.nn.Module):
    """A library model behind a flat signature: ``forward(*inputs)`` -> a tuple of tensors."""

    def __init__(self, model: torch.nn.Module, input_names: list, by_name: bool, hf_masks: bool = False):
        super().__init__()
        self.model = model
        self.input_names = list(input_names)
        self.by_name = by_name
        self.hf_masks = hf_masks

    def named_outputs(self, *inputs) -> list:
        with export_friendly_masks() if self.hf_masks else contextlib.nullcontext():
            out = self.model(**dict(zip(self.input_names, inputs))) if self.by_name else self.model(*inputs)
        return flatten(out)

    def forward(self, *inputs):
        return tuple(leaf for _, leaf in self.named_outputs(*inputs))


@contextlib.contextmanager
def export_friendly_masks():
    """transformers' eager and sdpa mask builders replaced, for the duration, by its
    vmap-free one (module docstring); eager attention gets it as an additive float mask."""
    from transformers.integrations.executorch import sdpa_mask_without_vmap
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS

    def eager_mask(*args, dtype: torch.dtype = torch.float32, **kwargs):
        kwargs.pop("allow_is_causal_skip", None)
        allowed = sdpa_mask_without_vmap(*args, allow_is_causal_skip=False, allow_torch_fix=False, **kwargs)
        return torch.where(allowed, torch.tensor(0.0, dtype=dtype), torch.finfo(dtype).min)

    saved = {k: ALL_MASK_ATTENTION_FUNCTIONS._local_mapping.get(k) for k in ("eager", "sdpa")}
    ALL_MASK_ATTENTION_FUNCTIONS["eager"] = eager_mask
    ALL_MASK_ATTENTION_FUNCTIONS["sdpa"] = sdpa_mask_without_vmap
    try:
        yield
    finally:
        for key, previous in saved.items():
            if previous is None:
                del ALL_MASK_ATTENTION_FUNCTIONS[key]
            else:
                ALL_MASK_ATTENTION_FUNCTIONS[key] = previous


def randomize_norms(model: torch.nn.Module, seed: int) -> None:
    """Seeded LayerNorm / RMSNorm affine parameters (scale in [0.5, 1.5], shift ~ N(0, 0.1))."""
    g = torch.Generator().manual_seed(seed + 7)
    for m in model.modules():
        is_layer_norm = isinstance(m, torch.nn.LayerNorm)
        if not (is_layer_norm or type(m).__name__.endswith("RMSNorm")):
            continue
        weight, bias = getattr(m, "weight", None), getattr(m, "bias", None)
        with torch.no_grad():
            if isinstance(weight, torch.nn.Parameter):
                weight.copy_(torch.rand(weight.shape, generator=g) + 0.5)
            if isinstance(bias, torch.nn.Parameter):
                bias.copy_(torch.randn(bias.shape, generator=g) * 0.1)


def _torchvision_builder(variant: str):
    import torchvision

    for library in (torchvision.models.segmentation, torchvision.models.detection, torchvision.models):
        if hasattr(library, variant):
            return getattr(library, variant)
    raise ValueError(f"torchvision has no model {variant!r}")


def build(builder: str, variant: str, seed: int, input_names: list, **kwargs) -> SignatureModule:
    """``transformers``: ``variant`` is a model class (BertModel, LlamaForCausalLM, ...) and
    ``kwargs`` its configuration's fields. ``torchvision``: ``variant`` a builder function,
    called with ``weights=None`` and ``kwargs`` (pass ``weights_backbone: null`` there)."""
    torch.manual_seed(seed)
    if builder == "transformers":
        import transformers

        cls = getattr(transformers, variant)
        model = cls(cls.config_class(**kwargs))
        wrapped = SignatureModule(model, input_names, by_name=True, hf_masks=True)
    elif builder == "torchvision":
        model = _torchvision_builder(variant)(weights=None, **kwargs)
        wrapped = SignatureModule(model, input_names, by_name=False)
    else:
        raise ValueError(f"unknown PyTorch signature builder {builder!r}")
    randomize_batchnorm(model, seed)
    randomize_norms(model, seed)
    return wrapped.eval()


def _tensors(inputs: list) -> list:
    return [torch.from_numpy(x) for x in inputs]


def run(model: SignatureModule, inputs: list) -> list:
    with torch.no_grad():
        return [leaf.detach().numpy() for leaf in model(*_tensors(inputs))]


def prepare_export(model: SignatureModule, inputs: list, dynamic_axes: dict = None) -> dict:
    """The ONNX graph's input names (the catalogue's), output names (the outputs' paths) and
    the inputs' named dynamic dims ({input: {axis: dim name}}; torch names the outputs' own)."""
    with torch.no_grad():
        outputs = model.named_outputs(*_tensors(inputs))
    return {"input_names": list(model.input_names), "output_names": [name for name, _ in outputs],
            "dynamic_axes": dict(dynamic_axes or {})}


def export(model: SignatureModule, inputs: list, path: str, opset: int, prepared: dict) -> None:
    torch.onnx.export(model, tuple(_tensors(inputs)), path, opset_version=opset, dynamo=False,
                      input_names=prepared["input_names"], output_names=prepared["output_names"],
                      dynamic_axes=prepared.get("dynamic_axes") or None, do_constant_folding=True)


def versions() -> dict:
    import torchvision
    import transformers

    return {"torch": torch.__version__, "torchvision": torchvision.__version__,
            "transformers": transformers.__version__}
