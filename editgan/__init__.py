"""editgan: semantic image editing with StyleGAN2 and a segmentation branch (EditGAN)."""

from .checkpoints import CheckpointError
from .editor import EditConfig, EditError, EditResult, edit, refine
from .embedding import (EmbedConfig, EmbedResult, ImageError, InversionConfig, InversionResult, PTIConfig, embed, invert,
                        load_image, pivotal_tuning)
from .encoder import Encoder, EncoderError, train_encoder
from .generator import Generator, GeneratorConfig, model_fingerprint
from .model import EditModel, convert_checkpoint, load_generator, load_model
from .segmenter import Segmenter, SegmenterConfig, SegmenterError, train_segmenter
from .vectors import EditVector, IncompatibleVectorError, VectorError, apply_vectors, load_vector, save_vector

__version__ = "0.1.0"

__all__ = [
    "CheckpointError", "EditConfig", "EditError", "EditModel", "EditResult", "EditVector", "EmbedConfig",
    "EmbedResult", "Encoder", "EncoderError", "InversionConfig", "InversionResult", "PTIConfig", "invert",
    "pivotal_tuning", "train_encoder", "Generator", "GeneratorConfig", "ImageError", "IncompatibleVectorError", "Segmenter",
    "SegmenterConfig", "SegmenterError", "VectorError", "apply_vectors", "convert_checkpoint", "edit", "embed",
    "load_generator", "load_image", "load_model", "load_vector", "model_fingerprint", "refine", "save_vector",
    "train_segmenter",
]
