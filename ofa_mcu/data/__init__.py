"""Datasets, splits, preprocessing and the VWW builder.

Entry points: :func:`get_dataset` (``"fashion_mnist"`` by default, ``"imagefolder"``,
``"vww"``) -> :class:`DatasetSplits`; :func:`make_loader`; :func:`resize_batch` for per-batch
(elastic) resolutions; :class:`Preprocess` (the model input as data, for firmware).
"""
from .datasets import ArrayImageDataset, ImageFolderDataset, load_image_uint8, scan_image_folder
from .preprocess import Augment, Preprocess, normalize, resize_batch
from .registry import (DATASETS, DatasetSplits, dataset_for_space, get_dataset, load_images, make_loader,
                       register_dataset)
from .splits import evenly_spaced, interleaved_split

__all__ = [
    "ArrayImageDataset", "ImageFolderDataset", "load_image_uint8", "scan_image_folder",
    "Augment", "Preprocess", "normalize", "resize_batch",
    "DATASETS", "DatasetSplits", "dataset_for_space", "get_dataset", "load_images", "make_loader", "register_dataset",
    "evenly_spaced", "interleaved_split",
]
