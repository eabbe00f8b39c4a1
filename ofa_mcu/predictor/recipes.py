"""Training recipes for the accuracy predictor, as data (a registry of named :class:`Recipe`).

``lab`` is the MIT lab-3 MLP (one-hot 128 -> 400 -> 400 -> 400 -> 1 plus a fixed base accuracy,
L1 loss on accuracy as a fraction, Adam 1e-3, 10 epochs, batch 256). ``default`` follows what
was measured on the lab's 50,000 VWW pairs (``shared/notes/accuracy_predictor.md``): an ensemble
of dropout MLPs on the ``features`` encoding, distilled into one small, fast MLP on
teacher-labelled random archs. Two additions measured here remove the dropout nets' shrinkage
toward the mean: a linear path from the input to the output (one dropout MLP, 10 epochs: MAE
0.211 -> 0.154 points) and a refit of the output layer without dropout after training
(0.154 -> 0.147). ``small`` is one such MLP,
256 wide, without ensemble or distillation. Small data sets get a minimum number of optimiser
steps so no recipe is badly undertrained on a few hundred pairs.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import UserError
from ..validate import FRACTION, Number


# Bounds on what users may set (``predictor fit --epochs/--min-steps/--members/--distill-archs``,
# checked while parsing, and by training with these same objects): far above any real use (the
# recipes run 10-20 epochs, 3,000 minimum steps, 3 members and 200,000 distillation archs), low
# enough that a typo fails at once instead of training for days or running out of memory (the
# distillation archs are held in memory at once, encoded: measured about 3 KB each at the peak,
# so 2,000,000 of them take about 6 GB).
MLP_EPOCHS = Number(1, 100_000, integer=True)  # the predictor's MLP epochs, not the supernet's (validate.EPOCHS)
MIN_STEPS = Number(0, 10_000_000, integer=True)
MEMBERS = Number(1, 100, integer=True)
DISTILL_ARCHS = Number(0, 2_000_000, integer=True)


@dataclass(frozen=True)
class MLPSpec:
    """One MLP and how to train it."""

    encoding: str = "onehot"
    hidden: tuple[int, ...] = (400, 400, 400)
    dropout: float = 0.0
    loss: str = "l1"                # see train.LOSSES
    lr: float = 1e-3
    weight_decay: float = 0.0
    epochs: int = 10
    batch_size: int = 256
    schedule: str = "constant"      # see train.SCHEDULES
    min_steps: int = 0              # epochs are raised until at least this many steps run
    target: str = "lab_fraction"    # see train.TARGETS
    last_bias: bool = False
    standardize_inputs: bool = False
    linear_skip: bool = False       # add a linear path input -> output beside the MLP
    refit_head_epochs: int = 0      # then retrain only the output layer (and skip) without dropout

    def check(self) -> None:
        """A one-line UserError when the epochs or minimum steps are out of bounds."""
        MLP_EPOCHS.check("epochs", self.epochs)
        MIN_STEPS.check("minimum steps", self.min_steps)


@dataclass(frozen=True)
class DistillSpec:
    """Distil the teachers' average into one student trained on teacher-labelled archs."""

    student: MLPSpec
    n_random: int = 200_000         # random archs of the space labelled by the teachers
    real_weight: float = 1.0        # the training pairs join with their measured labels, this weight
    spread_fraction: float = 0.0    # of the random archs, drawn spread over sizes (sample_batch_spread)


@dataclass(frozen=True)
class Recipe:
    """A named way to train a predictor: ``members`` teachers of ``model``, optionally distilled."""

    name: str
    description: str
    model: MLPSpec
    members: int = 1
    distill: DistillSpec | None = None

    def with_(self, **changes) -> "Recipe":
        """A copy with some fields changed (``model``/``student`` fields via ``model_*``/``student_*``,
        distillation fields via ``distill_*``)."""
        model = {k[6:]: v for k, v in changes.items() if k.startswith("model_")}
        student = {k[8:]: v for k, v in changes.items() if k.startswith("student_")}
        dist = {k[8:]: v for k, v in changes.items() if k.startswith("distill_")}
        top = {k: v for k, v in changes.items() if not k.startswith(("model_", "student_", "distill_"))}
        out = dataclasses.replace(self, **top)
        if model:
            out = dataclasses.replace(out, model=dataclasses.replace(out.model, **model))
        if (student or dist) and out.distill is None:
            raise UserError(f"recipe {self.name!r} does not distil, so distillation options (--distill-archs) "
                            f"do not apply; drop them or use --recipe default")
        if student:
            out = dataclasses.replace(out, distill=dataclasses.replace(
                out.distill, student=dataclasses.replace(out.distill.student, **student)))
        if dist:
            out = dataclasses.replace(out, distill=dataclasses.replace(out.distill, **dist))
        return out

    def check(self) -> None:
        """A one-line UserError when a bounded field (epochs, minimum steps, members,
        distillation archs) is out of bounds."""
        self.model.check()
        MEMBERS.check("members", self.members)
        if self.distill is not None:
            self.distill.student.check()
            DISTILL_ARCHS.check("distillation archs", self.distill.n_random)
            FRACTION.check("spread fraction of the distillation archs", self.distill.spread_fraction)

    def to_dict(self) -> dict:
        """Plain-JSON form (recorded in the model's metadata)."""
        return dataclasses.asdict(self)


LAB = Recipe(
    name="lab",
    description="MIT lab-3 MLP: one-hot 128 -> 400x3 -> 1 + base accuracy, L1 on fractions, Adam 1e-3, "
                "10 epochs, batch 256",
    model=MLPSpec(min_steps=1500),
)

_TEACHER = MLPSpec(
    encoding="features",
    hidden=(400, 400, 400),
    dropout=0.3,
    loss="l1",
    lr=1e-3,
    epochs=20,
    batch_size=256,
    schedule="cosine",
    min_steps=3000,
    target="standardize",
    last_bias=True,
    standardize_inputs=True,
    linear_skip=True,
    refit_head_epochs=3,
)

DEFAULT = Recipe(
    name="default",
    description="3 dropout MLPs (features encoding, linear skip, cosine, standardised target, head refit "
                "without dropout) distilled into one 128x128 MLP on 200k teacher-labelled random archs "
                "(half uniform, half spread over sizes) plus the measured training pairs",
    model=_TEACHER,
    members=3,
    distill=DistillSpec(
        student=dataclasses.replace(_TEACHER, hidden=(128, 128), dropout=0.0, loss="mse", lr=2e-3, epochs=8,
                                    batch_size=512, min_steps=3000, refit_head_epochs=0),
        n_random=200_000,
        real_weight=1.0,
        spread_fraction=0.5,
    ),
)

SMALL = Recipe(
    name="small",
    description="one 256x256 dropout MLP (features encoding, linear skip, cosine, standardised target, "
                "head refit without dropout); no ensemble",
    model=dataclasses.replace(_TEACHER, hidden=(256, 256)),
)

RECIPES: dict[str, Recipe] = {r.name: r for r in (LAB, DEFAULT, SMALL)}


def get_recipe(name: str) -> Recipe:
    """Look up a recipe by name; an unknown name is a one-line UserError listing the names."""
    try:
        return RECIPES[name]
    except KeyError:
        raise UserError(f"unknown predictor recipe {name!r}; choose one of {', '.join(sorted(RECIPES))}") from None
