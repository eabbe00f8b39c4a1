"""BatchNorm re-calibration: recompute running statistics of a (sub)network on some images.

A subnet taken from a supernet inherits BN statistics gathered on other widths and depths;
before measuring its accuracy the lab reset them and re-estimated them on a few hundred to a
few thousand images (OFA's ``set_running_statistics``).
"""
from __future__ import annotations

from ..errors import UserError


def bn_modules(model) -> list:
    """Every BatchNorm (1d/2d/3d, and modules subclassing them) that tracks running stats."""
    from torch.nn.modules.batchnorm import _BatchNorm

    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


def _images_of(batch):
    if isinstance(batch, (tuple, list)):
        return batch[0]
    if isinstance(batch, dict):
        return batch["x"] if "x" in batch else batch["image"]
    return batch


def recalibrate_bn(model, batches, num_images: int = 2000, resolution=None, device=None, progress: bool = False) -> int:
    """Reset every BN's running mean/var and re-estimate them from ``num_images`` images.

    ``batches``: a DataLoader or any iterable of ``x`` or ``(x, y, ...)`` with ``x`` float
    ``[B,C,H,W]``; the last batch is cut so exactly ``num_images`` are used (fewer if the
    iterable runs out). ``resolution`` resizes each batch (:func:`ofa_mcu.data.resize_batch`).

    Only the BN layers run in training mode (dropout and the rest stay in eval), under
    ``no_grad``. Each batch's statistics are averaged with weight = its size (the BN momentum
    is set to ``n / images_so_far`` per batch), so the result is the exact per-image-weighted
    average of the batch means and of the (unbiased) batch variances; with equal batches
    that is PyTorch's ``momentum=None`` cumulative average. Batches of one image are skipped
    (train-mode BN cannot normalise one value per channel). Modes and momenta are
    restored afterwards. Returns the number of images used.
    """
    import torch
    from tqdm import tqdm

    from ..data.preprocess import resize_batch

    if num_images < 2:
        raise UserError(f"BN re-calibration needs at least 2 images, got num_images={num_images}")
    bns = bn_modules(model)
    if not bns:
        return 0
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    modes = {m: m.training for m in model.modules()}
    momenta = {bn: bn.momentum for bn in bns}
    seen = 0
    try:
        model.eval()
        for bn in bns:
            bn.reset_running_stats()
            bn.train()
        with torch.no_grad(), tqdm(total=num_images, desc="BN re-calibration", unit="img", disable=not progress) as bar:
            for batch in batches:
                x = _images_of(batch)[: num_images - seen]
                n = int(x.shape[0])
                if n < 2:  # train-mode BN cannot normalise a single image per channel
                    if seen + n >= num_images:
                        break
                    continue
                if resolution is not None:
                    x = resize_batch(x.float(), resolution)
                for bn in bns:
                    bn.momentum = n / (seen + n)
                model(x.to(device))
                seen += n
                bar.update(n)
                if seen >= num_images:
                    break
    finally:
        for bn, mom in momenta.items():
            bn.momentum = mom
        for m, was_training in modes.items():
            m.training = was_training
    if seen == 0:
        raise UserError("no images reached BN re-calibration (empty loader, or batches of one image); pass batches of at least 2 images")
    return seen
