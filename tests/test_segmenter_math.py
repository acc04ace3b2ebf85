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


def test_ensemble_logits_at_pixels_equal_the_full_forward():
    """The editor's way (each map projected or sampled first, whichever is cheaper) equals the full logits read at the pixels."""
    seg, feats = make()
    full = seg(feats)  # (N, K, R, R)
    for points in (10, 100, 600):  # fewer, more pixels than the 8- and 16-px maps hold
        coords = torch.randint(0, 32, (2, points, 2))
        sampled = seg.logits_at(feats, coords)  # (N, P, K)
        expected = torch.stack([full[i, :, coords[i, :, 0], coords[i, :, 1]].T for i in range(2)])
        assert torch.allclose(sampled, expected, atol=1e-5)


def test_rows_at_a_time_give_the_same_logits():
    seg, feats = make()
    member = seg.members[0]
    hidden = member.hidden(feats, 32)
    whole = member.rest(hidden.permute(0, 2, 3, 1).reshape(-1, hidden.shape[1])).reshape(2, 32, 32, -1)
    for rows in (1, 5, 32, 64):
        assert torch.allclose(member.rest_by_rows(hidden, rows), whole, atol=1e-6)


def test_sampling_matrices_give_the_same_logits_and_gradients():
    """An edit's way for fixed pixels (sparse sampling matrices built once) equals grid sampling, values and gradients,
    borders included."""
    from editgan.segmenter import sampling_matrices

    seg, feats = make()
    feats = [f[:1].clone().requires_grad_(True) for f in feats]
    for points in (10, 600):  # fewer, more pixels than the small maps hold
        coords = torch.randint(0, 32, (1, points, 2))
        coords[0, :4] = torch.tensor([[0, 0], [31, 31], [0, 31], [31, 0]])  # the corners: border padding
        matrices = sampling_matrices(coords[0], 32, {f.shape[-1] for f in feats})
        grads = []
        for m in (None, matrices):
            out = seg.logits_at(feats, coords, m)
            (g := torch.autograd.grad((out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum(), feats))
            grads.append((out.detach(), g))
        (a, ga), (b, gb) = grads
        assert torch.allclose(a, b, atol=1e-5)
        for x, y in zip(ga, gb):
            assert torch.allclose(x, y, atol=1e-5)
