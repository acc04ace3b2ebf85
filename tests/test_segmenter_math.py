"""The segmentation branch's memory-saving forward is the release's forward, exactly."""

import torch

from editgan.segmenter import PixelMLP, Segmenter, SegmenterConfig, pixel_grid, upsample


def make(channels=(8, 8, 6, 4), resolution=32, members=3, classes=5):
    torch.manual_seed(0)
    seg = Segmenter(SegmenterConfig(tuple(channels), resolution, tuple(f"c{i}" for i in range(classes)),
                                    tuple((i, i, i) for i in range(classes)), num_members=members, hidden=(16, 8)))
    # give batch norm non-trivial statistics
    for m in seg.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    feats = [torch.randn(2, c, r, r) for c, r in zip(channels, (4, 8, 16, 32))]
    return seg.eval(), feats


def test_projected_forward_equals_concatenated_forward():
    seg, feats = make()
    ours = seg(feats)
    release = seg.logits_concatenated(feats)
    assert ours.shape == (2, 5, 32, 32)
    assert torch.allclose(ours, release, atol=1e-5, rtol=1e-4)


def test_sampled_pixels_equal_full_upsampling():
    seg, feats = make()
    member = seg.members[0]
    full = member.logits(feats, 32)  # (N, K, R, R)
    coords = torch.randint(0, 32, (2, 50, 2))
    sampled = member.logits_at(feats, pixel_grid(coords, 32))  # (N, P, K)
    expected = torch.stack([full[i, :, coords[i, :, 0], coords[i, :, 1]].T for i in range(2)])
    assert torch.allclose(sampled, expected, atol=1e-5)


def test_wrong_features_are_refused():
    seg, feats = make()
    import pytest

    from editgan.segmenter import SegmenterError

    with pytest.raises(SegmenterError, match="another generator"):
        seg(feats[:-1])
