"""Folder scanning, safe decoding, seed-addressed crops and datasets.

Every task turns a folder of ordinary images into training samples through these pieces:
`scan_images` finds the files, `decode_image` turns any common file into 8-bit RGB,
`ImageFolderDataset` serves crops addressed by (index, seed), and `SampleStream` yields
those addresses in a resumable order. Large sets are cut once by `prepare_folder`
(``imgen prepare``) into tar shards that `PreparedDataset` reads with the same contract;
`training_images` picks whichever a folder is.
"""

from imgen.data.datasets import ImageFolderDataset, training_images
from imgen.data.folder import (
    IMAGE_EXTENSIONS,
    decode_image,
    image_key,
    image_size,
    is_image_file,
    load_images,
    probe_images,
    read_image_tensor,
    read_or_skip,
    save_image_tensor,
    scan_images,
)
from imgen.data.prepared import PreparedDataset, is_prepared, prepare_folder
from imgen.data.sampler import SampleStream, epoch_permutation, sample_seed
from imgen.data.transforms import (
    center_crop,
    paired_augment,
    paired_random_crop,
    sample_rng,
    to_tensor_uint8,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageFolderDataset",
    "PreparedDataset",
    "SampleStream",
    "center_crop",
    "decode_image",
    "epoch_permutation",
    "image_key",
    "image_size",
    "is_image_file",
    "is_prepared",
    "load_images",
    "paired_augment",
    "paired_random_crop",
    "prepare_folder",
    "probe_images",
    "read_image_tensor",
    "read_or_skip",
    "sample_rng",
    "sample_seed",
    "save_image_tensor",
    "scan_images",
    "to_tensor_uint8",
    "training_images",
]
