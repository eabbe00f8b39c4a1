"""The search space's choices as one config object (configs as data, not code).

Every other module (the arch dict validator, the per-layer table, the torch supernet,
the converters and the code generator) reads the space from a :class:`SpaceConfig`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import UserError


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``v`` to the nearest multiple of ``divisor`` (never below 90 % of ``v``).

    The MobileNet/OFA channel rounding rule that the lab's supernet uses.
    """
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return int(new_v)


@dataclass(frozen=True)
class SpaceConfig:
    """Choices of an OFA-MCUNet search space.

    The defaults are the lab's VWW configuration ("mcunet384", see
    ``shared/reference/ofa_mcunet_space.md``).
    """

    name: str = "vww"
    n_classes: int = 2
    in_channels: int = 3
    base_stage_width: tuple[int, ...] = (32, 16, 24, 40, 80, 96, 192, 320, 384)
    width_mult_list: tuple[float, ...] = (0.5, 0.75, 1.0)
    ks_list: tuple[int, ...] = (3, 5, 7)
    expand_ratio_list: tuple[int, ...] = (3, 4, 6)
    depth_list: tuple[int, ...] = (0, 1, 2)
    base_depth: tuple[int, ...] = (1, 2, 2, 2, 2)
    stage_strides: tuple[int, ...] = (2, 2, 2, 1, 2, 1)
    # One entry per stage: a bool for the whole stage, or a tuple with one bool per slot.
    se_stages: tuple = (False, (False, True, True, True), True, True, True, False)
    first_stride: int = 2
    resolutions: tuple[int, ...] = (96, 112, 128, 144, 160)
    # The width indices the sampler draws from (the lab drew only wid 0 and 1).
    sample_wids: tuple[int, ...] = (0, 1)
    # The lab's SE (OFA's SEModule) uses ReLU between its two 1x1 convs, not ReLU6.
    se_reduce_act: str = "relu"
    bn_momentum: float = 0.1
    bn_eps: float = 1e-3

    # ---- derived structure -------------------------------------------------------------
    @property
    def n_stages(self) -> int:
        """Number of MBConv stages (the last one is never elastic)."""
        return len(self.stage_strides)

    @property
    def stage_slots(self) -> tuple[int, ...]:
        """Block slots per stage: base depth + max extra depth, and 1 for the last stage."""
        extra = max(self.depth_list)
        return tuple(b + extra for b in self.base_depth) + (1,) * (self.n_stages - len(self.base_depth))

    @property
    def n_slots(self) -> int:
        """Total number of elastic block slots (the length of ``ks`` and ``e``)."""
        return sum(self.stage_slots)

    @property
    def n_depth(self) -> int:
        """Length of the ``d`` list (one entry per stage, the last one unused)."""
        return self.n_stages

    @property
    def slot_stage(self) -> tuple[int, ...]:
        """Stage index of each slot."""
        return tuple(s for s, n in enumerate(self.stage_slots) for _ in range(n))

    @property
    def slot_index_in_stage(self) -> tuple[int, ...]:
        """Position of each slot inside its stage (0 is the stage's first block)."""
        return tuple(i for n in self.stage_slots for i in range(n))

    @property
    def slot_se(self) -> tuple[bool, ...]:
        """Whether each slot carries squeeze-and-excite."""
        out = []
        for stage, n in enumerate(self.stage_slots):
            flag = self.se_stages[stage]
            for i in range(n):
                out.append(bool(flag[i]) if isinstance(flag, (tuple, list)) else bool(flag))
        return tuple(out)

    def widths(self, wid: int) -> dict:
        """Channel counts for width index ``wid``: first conv, block 0, stages, feature mix."""
        w = self.width_mult_list[wid]
        b = self.base_stage_width
        return {
            "first": make_divisible(b[0] * w),
            "block0": make_divisible(b[1] * w),
            "stages": tuple(make_divisible(c * w) for c in b[2:-1]),
            "feature_mix": make_divisible(b[-1] * w) if w > 1.0 else b[-1],
        }

    def with_(self, **changes) -> "SpaceConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain-JSON form of the config."""
        d = dataclasses.asdict(self)
        d["se_stages"] = [list(s) if isinstance(s, (tuple, list)) else s for s in self.se_stages]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SpaceConfig":
        """Inverse of :meth:`to_dict` (lists become tuples, unknown keys are rejected)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise UserError(f"unknown space config keys {sorted(unknown)}; expected some of {sorted(known)}")
        kw = {}
        for k, v in d.items():
            if k == "se_stages":
                v = tuple(tuple(s) if isinstance(s, list) else s for s in v)
            elif isinstance(v, list):
                v = tuple(v)
            kw[k] = v
        return cls(**kw)


VWW = SpaceConfig()

# The embedded default: Fashion-MNIST (28x28 grayscale, 10 classes) upsampled to 32-48 px.
# 32 px is the smallest input that survives the five stride-2 stages (total stride 32); the
# images carry no detail beyond 28 px, so larger inputs only buy compute, not information.
FASHION_MNIST = SpaceConfig(
    name="fashion_mnist",
    n_classes=10,
    in_channels=1,
    resolutions=(32, 40, 48),
    sample_wids=(0, 1, 2),
)

SPACES: dict[str, SpaceConfig] = {"vww": VWW, "fashion_mnist": FASHION_MNIST}


def get_space(name: str) -> SpaceConfig:
    """Look up a named space config; an unknown name gets a one-line error listing the names."""
    try:
        return SPACES[name]
    except KeyError:
        raise UserError(f"unknown space {name!r}; choose one of {', '.join(sorted(SPACES))}") from None
