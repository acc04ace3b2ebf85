"""Training the segmentation branch from a pixel pool: what a 1024-px generator needs (its 16 examples' maps: 8 GiB)."""

import torch

from conftest import BAND_CLASSES, BAND_COLORS, band_labels, band_values, make_tiny_model
from editgan.segmenter import (
    SegmenterTrainConfig,
    feature_mb,
    generator_features,
    mean_iou,
    pixel_grid,
    pixel_pool,
    sample_at,
    train_segmenter,
)

torch.set_num_threads(1)


def test_feature_mb_counts_every_map():
    model, _ = make_tiny_model(n=2)
    G = model.G
    w = G.w_plus_from_seeds([0])
    features = generator_features(G, w)
    assert feature_mb(G, 3) == sum(f.numel() for f in features) * 3 * 4 / 2**20


def test_pool_holds_the_sampled_features_of_its_pixels():
    model, thresholds = make_tiny_model(n=2)
    G = model.G
    w = G.w_plus_from_seeds([3, 4])
    features = generator_features(G, w)
    labels = band_labels(band_values(G, features), thresholds)
    config = SegmenterTrainConfig(pool_pixels=50, seed=1)
    pool, pool_labels = pixel_pool(G, w, labels, len(BAND_CLASSES), config)
    assert pool.shape == (2, 50, sum(G.synthesis.feature_channels)) and pool_labels.shape == (2, 50)
    # the same draws, by hand: each pixel's feature vector and label
    gen = torch.Generator().manual_seed(1)
    r = G.resolution
    from editgan.segmenter import pixel_sampling_weights

    for i in range(2):
        idx = torch.multinomial(pixel_sampling_weights(labels[i : i + 1], 3, config.balance), 50, replacement=True, generator=gen)
        grid = pixel_grid(torch.stack([idx // r, idx % r], -1), r)
        expected = torch.cat([sample_at(f[i : i + 1], grid) for f in features], -1)
        assert torch.allclose(pool[i : i + 1], expected, atol=1e-5)
        assert torch.equal(pool_labels[i], labels[i].flatten()[idx[0]])


def test_training_from_a_pool_generalises(tiny):
    """Forced onto the pool (max_feature_mb=0): held-out mIoU close to training on the whole maps."""
    model, thresholds = tiny
    G = model.G
    w = G.w_plus_from_seeds(range(16))

    held_out = G.w_plus_from_seeds(range(100, 108))
    held_labels = band_labels(band_values(G, generator_features(G, held_out)), thresholds)
    train_labels = band_labels(band_values(G, generator_features(G, w)), thresholds)
    config = SegmenterTrainConfig(steps=150, lr=3e-3, pixels_per_example=128, max_feature_mb=0.0, pool_pixels=512)
    seg = train_segmenter(G, w, train_labels, BAND_CLASSES, BAND_COLORS, config, num_members=3).segmenter
    pooled_miou, _ = mean_iou(seg.predict(generator_features(G, held_out)), held_labels, 3)
    maps_miou, _ = mean_iou(model.segmenter.predict(generator_features(G, held_out)), held_labels, 3)
    assert pooled_miou > 0.5 and pooled_miou > maps_miou - 0.15, (pooled_miou, maps_miou)


def test_labels_may_be_a_function_of_the_image(tiny):
    model, _ = tiny
    G = model.G
    w = G.w_plus_from_seeds(range(4))

    def brightness_bands(image):  # three bands of the image's own brightness
        v = image.mean(1)[0]
        return (v > v.quantile(1 / 3)).long() + (v > v.quantile(2 / 3)).long()

    config = SegmenterTrainConfig(steps=5, pixels_per_example=32, pool_pixels=64)
    res = train_segmenter(G, w, brightness_bands, BAND_CLASSES, BAND_COLORS, config, num_members=2)
    assert len(res.losses) == 5 and all(torch.isfinite(torch.tensor(res.losses)))
    assert res.segmenter.config.feature_channels == tuple(G.synthesis.feature_channels)
