""":func:`check_model`: a generator or discriminator keeps imgen's contracts (shapes, gradients,
state_dict, determinism)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from imgen.testing.common import _fail

# A parameter whose largest gradient is below this fraction of the largest gradient of the
# model gets no gradient in exact arithmetic (float rounding is ~1e-7 relative).
_ZERO_GRAD = 1e-5


@dataclass
class ModelReport:
    """What :func:`check_model` saw: the model's name, parameter count and output shape."""

    name: str
    parameters: int
    output_shape: tuple[int, ...]


def check_model(
    model: str | Callable[..., nn.Module],
    *,
    kwargs: Mapping[str, Any] | None = None,
    role: str = "generator",
    input_shape: tuple[int, ...] = (2, 3, 32, 32),
    example_input: torch.Tensor | tuple[torch.Tensor, ...] | None = None,
    output_shape: tuple[int, ...] | None = None,
    zero_grad_ok: Iterable[str] = (),
    seed: int = 0,
) -> ModelReport:
    """Check a generator or discriminator: shapes, gradients, state_dict, determinism.

    1. It builds an ``nn.Module`` whose output for a batch is a finite tensor with the
       batch's size (and ``output_shape``, when given).
    2. Gradients flow to every trainable parameter (not None, finite, not zero) from a
       random projection of the output, in training mode.
    3. Its state_dict round-trips through safetensors (imgen's checkpoint format) into a
       model built with another seed, which then computes the same outputs.
    4. In eval mode, two calls on the same input give the same output.

    Args:
        model: a registered model name (built like a task builds it, with
            :func:`imgen.plugins.create_model`) or a factory: a class or a callable.
        kwargs: keyword arguments of the factory, e.g. ``{"num_feat": 8}`` (keep it small).
        role: ``generator`` or ``discriminator``: the registry of a name.
        input_shape: shape of the random input in [0, 1], batch first (at least 2, for
            batch norm).
        example_input: the input(s) to use instead (e.g. a noise vector and labels).
        output_shape: the exact output shape expected, if known.
        zero_grad_ok: glob patterns of parameters whose gradient may be zero (below 1e-5 of
            the model's largest).
        seed: seed of the weights and input.

    Returns:
        A :class:`ModelReport`.

    Raises:
        ConformanceError: naming the check that failed and why.

    Example:
        >>> check_model("patchgan", role="discriminator", kwargs={"ndf": 8}).output_shape
        (2, 1, 2, 2)
    """
    kwargs = dict(kwargs or {})
    if isinstance(model, str):
        from imgen.plugins import create_model

        name = model
        subject = f"{role} {model!r}"

        def build() -> Any:
            return create_model(model, role, **kwargs)

    else:
        name = getattr(model, "__name__", type(model).__name__)
        subject = f"model {name!r}"

        def build() -> Any:
            return model(**kwargs)

    torch.manual_seed(seed)
    net = build()
    if not isinstance(net, nn.Module):
        raise _fail(subject, f"the factory must return an nn.Module, got {type(net).__name__}")
    if example_input is None:
        generator = torch.Generator().manual_seed(seed)
        inputs: tuple[torch.Tensor, ...] = (torch.rand(*input_shape, generator=generator),)
    else:
        inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    batch = inputs[0].shape[0]

    net.train()
    out = net(*inputs)
    if not isinstance(out, torch.Tensor):
        raise _fail(subject, f"forward() must return a tensor, got {type(out).__name__}")
    if out.ndim < 1 or out.shape[0] != batch:
        raise _fail(subject, f"a batch of {batch} gave an output of shape {tuple(out.shape)}")
    if output_shape is not None and tuple(out.shape) != tuple(output_shape):
        raise _fail(
            subject,
            f"the output has shape {tuple(out.shape)}, not {tuple(output_shape)}, for an input "
            f"of shape {tuple(inputs[0].shape)}",
        )
    if not torch.isfinite(out).all():
        raise _fail(subject, "the output has NaN or infinite values")

    params = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    if params:
        weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed + 1))
        (out.float() * weights).sum().backward()
        _check_gradients(subject, params, tuple(zero_grad_ok))

    state = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    try:
        from safetensors.torch import load as load_bytes
        from safetensors.torch import save as save_bytes

        restored = load_bytes(save_bytes(state))
    except Exception as exc:
        raise _fail(subject, f"its state_dict cannot be saved as safetensors: {exc}") from None
    torch.manual_seed(seed + 2)
    twin = build()
    try:
        twin.load_state_dict(restored, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0:2]
        raise _fail(subject, f"its state_dict does not load back: {' '.join(first)}") from None

    net.eval()
    twin.eval()
    with torch.no_grad():
        a, b, c = net(*inputs), net(*inputs), twin(*inputs)
    if not torch.allclose(a, b, rtol=1e-5, atol=1e-6):
        raise _fail(
            subject, "two calls in eval mode give different outputs (dropout or noise in eval?)"
        )
    if a.shape != c.shape or not torch.allclose(a, c, rtol=1e-5, atol=1e-6):
        raise _fail(
            subject,
            "a copy loaded from its state_dict computes other outputs; keep all state in "
            "parameters or persistent buffers",
        )
    return ModelReport(name, sum(p.numel() for _, p in params), tuple(out.shape))


def _check_gradients(
    subject: str, params: list[tuple[str, nn.Parameter]], zero_ok: tuple[str, ...]
) -> None:
    def listed(names: list[str]) -> str:
        return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")

    missing = [n for n, p in params if p.grad is None]
    if missing:
        raise _fail(
            subject,
            f"no gradient reaches {listed(missing)}; is every parameter used in forward()?",
        )
    bad = [n for n, p in params if not torch.isfinite(p.grad).all()]
    if bad:
        raise _fail(subject, f"the gradient of {listed(bad)} has NaN or infinite values")
    # "Zero" is relative: a bias followed by a normalization that subtracts the mean gets
    # a gradient that is zero in exact arithmetic and only float rounding in practice.
    largest = max(float(p.grad.abs().max()) for _, p in params)
    zero = [
        n
        for n, p in params
        if float(p.grad.abs().max()) <= _ZERO_GRAD * largest
        and not any(fnmatch.fnmatchcase(n, pat) for pat in zero_ok)
    ]
    if zero:
        raise _fail(
            subject,
            f"the gradient of {listed(zero)} is zero (a bias followed by a normalization "
            f"that removes it? build that layer with bias=False)",
        )
