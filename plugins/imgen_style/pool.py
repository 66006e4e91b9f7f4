"""CycleGAN's image pool: the discriminator sees a history of generated images.

Shrivastava et al. (2017) and CycleGAN update the discriminator with images drawn from a
buffer of the last generated ones, not only the newest, which reduces oscillation.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["ImagePool"]


class ImagePool:
    """A buffer of up to `size` generated images (CycleGAN's ``ImagePool``).

    `query` takes a batch and returns a batch of the same shape: while the pool is not full
    each image is stored and returned; once full, each image is, with probability 1/2,
    swapped for a random stored one (which is returned, the new one taking its place), and
    otherwise returned itself. ``size=0`` returns the input unchanged.

    The random choices come from the pool's own CPU ``torch.Generator`` (seeded with `seed`),
    so querying never moves the global RNG, and `state_dict` / `load_state_dict` carry the
    stored images and the generator state, so a resumed run continues exactly.
    """

    def __init__(self, size: int = 50, seed: int = 0) -> None:
        if size < 0:
            raise ValueError(f"The image pool size must be 0 or more, got {size}.")
        self.size = int(size)
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """A (B, C, H, W) batch mixing `images` with stored ones; the result is detached."""
        if self.size == 0:
            return images
        out = []
        for image in images:
            image = image.detach()
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=self.generator).item() < 0.5:
                slot = int(torch.randint(self.size, (), generator=self.generator))
                out.append(self.images[slot])
                self.images[slot] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict[str, Any]:
        """The stored images and the generator state (for checkpoints)."""
        return {
            "size": self.size,
            "images": [img.clone() for img in self.images],
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned; the pool then continues exactly."""
        images = list(state["images"])
        if len(images) > self.size:
            raise ValueError(
                f"The saved pool holds {len(images)} images, more than this pool's size "
                f"{self.size}; build the pool with size={state.get('size', len(images))}."
            )
        self.images = [img.detach().clone() for img in images]
        self.generator.set_state(state["generator"].clone())
