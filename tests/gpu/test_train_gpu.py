"""Training at its real size on a GPU (run only where CUDA is present; skipped, saying why, elsewhere): a
U-Net/ResNet-34 on a batch of 13-band 512 px chips takes optimizer steps under bf16 autocast through the
training loop's own functions, and its loss falls."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gpu


def test_a_resnet34_unet_trains_on_13_band_512_chips_in_bf16() -> None:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from workers.ml.training.loop import evaluate, train_epoch
    from workers.ml.training.network import Architecture, build

    torch.manual_seed(0)
    device = torch.device("cuda")
    assert torch.cuda.is_bf16_supported()
    model = build(Architecture(encoder="resnet34", encoder_depth=5, in_channels=13, classes=3)).to(device)
    images = torch.randn(16, 13, 512, 512)
    masks = torch.zeros(16, 3, 512, 512)
    masks[:, :, 128:384, 128:384] = 1.0
    images[:, 1, 128:384, 128:384] += 3.0  # learnable: the square is brighter in band 2
    ignore = torch.zeros(16, 512, 512, dtype=torch.bool)
    loader = DataLoader(TensorDataset(images, masks, ignore), batch_size=8)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cuda", enabled=False)  # bf16 needs no scaling
    losses = [train_epoch(model, loader, optimizer, scaler, device) for _ in range(5)]
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
    loss, counts = evaluate(model, loader, device, 3)
    assert loss is not None and sum(counts.true_positives) > 0
