"""Top-1 accuracy, per-class accuracy and the confusion matrix of a classifier on a loader."""
from __future__ import annotations

from ..errors import UserError


def predict_logits(model, loader, resolution=None, device="cpu", progress: bool = False, max_images: int | None = None):
    """Run ``model`` in eval mode over ``loader`` (``(x, y)`` batches) -> ``(logits [N,K], labels [N])``.

    ``resolution`` resizes every batch (bilinear, antialiased when shrinking) before the
    forward pass; ``max_images`` stops early. The model's training flag is restored.
    """
    import torch
    from tqdm import tqdm

    from ..data.preprocess import resize_batch

    was_training = model.training
    model.eval()
    outs, labels, seen = [], [], 0
    try:
        with torch.no_grad():
            for x, y in tqdm(loader, desc="evaluate", unit="batch", disable=not progress):
                if max_images is not None:
                    x, y = x[: max_images - seen], y[: max_images - seen]
                if resolution is not None:
                    x = resize_batch(x, resolution)
                outs.append(model(x.to(device)).float().cpu())
                labels.append(torch.as_tensor(y, dtype=torch.int64).cpu())
                seen += int(x.shape[0])
                if max_images is not None and seen >= max_images:
                    break
    finally:
        model.train(was_training)
    if not outs:
        raise UserError("the evaluation loader yielded no images; pass a non-empty dataset")
    return torch.cat(outs), torch.cat(labels)


def confusion_matrix(predictions, labels, num_classes: int):
    """``[K,K]`` int64 counts: row = true class, column = predicted class."""
    import torch

    predictions = torch.as_tensor(predictions, dtype=torch.int64)
    labels = torch.as_tensor(labels, dtype=torch.int64)
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise UserError(f"labels outside 0..{num_classes - 1}; the model's class count does not match the dataset")
    flat = labels * num_classes + predictions.clamp(0, num_classes - 1)
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def metrics_from_confusion(confusion) -> dict:
    """``top1`` (percent), ``per_class`` (percent recall per class, ``None`` if a class has no
    images), ``confusion`` (nested lists) and ``n`` from a confusion matrix."""
    conf = confusion.tolist()
    n = sum(map(sum, conf))
    correct = sum(conf[i][i] for i in range(len(conf)))
    per_class = [100.0 * row[i] / sum(row) if sum(row) else None for i, row in enumerate(conf)]
    return {"top1": 100.0 * correct / n if n else 0.0, "per_class": per_class, "confusion": conf, "n": n}


def evaluate_top1(model, loader, resolution=None, device="cpu", num_classes: int | None = None, progress: bool = False) -> dict:
    """Accuracy of ``model`` on ``loader``: ``{"top1": %, "per_class": [%...], "confusion": [[...]], "n": N}``.

    Percentages (0-100), as in the lab's accuracy pairs. ``num_classes`` defaults to the
    width of the model's output.
    """
    logits, labels = predict_logits(model, loader, resolution=resolution, device=device, progress=progress)
    k = int(num_classes or logits.shape[1])
    return metrics_from_confusion(confusion_matrix(logits.argmax(1), labels, k))
