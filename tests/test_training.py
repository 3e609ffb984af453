"""Tests of compresslab.training: seeded training and evaluation loops."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from compresslab.training import TrainConfig, evaluate, set_seed, train, train_steps

CPU = torch.device("cpu")


def separable_data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = (x[:, 0] > 0).long()
    return TensorDataset(x, y)


def one_hot_loader(labels, predicted, batch_size=4):
    """Inputs are the one-hot codes of ``predicted``, so ``nn.Identity`` predicts ``predicted``."""
    return DataLoader(TensorDataset(F.one_hot(predicted, 10).float(), labels), batch_size=batch_size)


TINY = TrainConfig(epochs=4, lr=0.1, seed=0)


def test_set_seed_makes_training_reproducible():
    def run():
        set_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        train(model, DataLoader(separable_data(), batch_size=16, shuffle=True), TINY, device=CPU, progress=False)
        return model.state_dict()

    first, second = run(), run()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_train_returns_one_decreasing_loss_per_epoch():
    model = nn.Linear(4, 2)
    losses = train(model, DataLoader(separable_data(), batch_size=16, shuffle=True), TINY, device=CPU, progress=False)
    assert len(losses) == TINY.epochs
    assert losses[-1] < losses[0]


def test_train_calls_callbacks_once_per_step():
    loader = DataLoader(separable_data(n=40), batch_size=16)  # 3 batches
    calls = []
    train(nn.Linear(4, 2), loader, TINY, device=CPU, callbacks=[lambda: calls.append(1)], progress=False)
    assert len(calls) == TINY.epochs * 3


def test_train_bounded_by_max_steps_stops_and_anneals_over_them(monkeypatch):
    loader = DataLoader(separable_data(n=40), batch_size=16)  # 3 batches per epoch
    calls, rates = [], []
    original_step = torch.optim.SGD.step

    def recording_step(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", recording_step)
    losses = train(nn.Linear(4, 2), loader, TINY, device=CPU, callbacks=[lambda: calls.append(1)], progress=False, max_steps=5)
    assert len(calls) == 5, "max_steps=5 must make exactly 5 optimizer steps"
    assert len(losses) == 2, "5 steps of 3 batches per epoch touch 2 epochs: one mean loss each"
    expected = [TINY.lr * (1 + math.cos(math.pi * step / 5)) / 2 for step in range(5)]  # cosine annealed over the 5 steps
    torch.testing.assert_close(rates, expected, rtol=1e-6, atol=1e-9)


def test_train_callbacks_run_after_the_optimizer_step():
    model = nn.Linear(4, 2)

    def prune_first_input():
        with torch.no_grad():
            model.weight[:, 0] = 0.0

    train(model, DataLoader(separable_data(), batch_size=16), TINY, device=CPU, callbacks=[prune_first_input], progress=False)
    torch.testing.assert_close(model.weight[:, 0], torch.zeros(2), rtol=0, atol=0)


def test_evaluate_is_100_for_perfect_predictions():
    labels = torch.arange(20) % 10
    assert evaluate(nn.Identity(), one_hot_loader(labels, labels), device=CPU, progress=False) == 100.0


def test_evaluate_is_the_percentage_of_correct_predictions():
    labels = torch.arange(20) % 10
    predicted = labels.clone()
    predicted[:7] = (labels[:7] + 1) % 10  # 7 wrong
    assert evaluate(nn.Identity(), one_hot_loader(labels, predicted), device=CPU, progress=False) == pytest.approx(100.0 * 13 / 20, abs=1e-9)


def test_evaluate_max_samples_stops_early():
    labels = torch.arange(20) % 10
    predicted = labels.clone()
    predicted[8:] = (labels[8:] + 1) % 10  # only the first 2 batches of 4 are right
    model = nn.Identity()
    batches = []
    model.register_forward_hook(lambda *_: batches.append(1))
    accuracy = evaluate(model, one_hot_loader(labels, predicted), max_samples=6, device=CPU, progress=False)
    assert len(batches) == 2
    assert accuracy == 100.0


def test_evaluate_applies_extra_preprocess_in_order():
    labels = torch.arange(8) % 10
    log = []

    def shift(x):
        log.append("shift")
        return x.roll(1, dims=1)

    def unshift(x):
        log.append("unshift")
        return x.roll(-1, dims=1)

    accuracy = evaluate(nn.Identity(), one_hot_loader(labels, labels), extra_preprocess=[shift, unshift], device=CPU, progress=False)
    assert log == ["shift", "unshift"] * 2  # 2 batches of 4
    assert accuracy == 100.0


def test_evaluate_feeds_the_preprocessed_inputs_to_the_model():
    labels = torch.arange(8) % 10
    shift = lambda x: x.roll(1, dims=1)  # one-hot of label + 1: always wrong
    assert evaluate(nn.Identity(), one_hot_loader(labels, labels), extra_preprocess=[shift], device=CPU, progress=False) == 0.0


def test_train_steps_runs_that_many_constant_lr_momentum_steps_over_reshuffled_epochs():
    """5 steps on 40 examples in batches of 16 (incomplete batch dropped): 2 steps per pass, so the loader restarts
    twice; the same losses and weights as SGD (momentum 0.9, no decay) written out by hand on the same batches."""
    data = separable_data(n=40)
    model = nn.Linear(4, 2)
    expected = nn.Linear(4, 2)
    expected.load_state_dict(model.state_dict())
    losses = train_steps(model, data, 5, lr=0.1, batch_size=16, seed=3, device=CPU)

    set_seed(3)
    loader = DataLoader(data, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(3), drop_last=True)
    optimizer = torch.optim.SGD(expected.parameters(), lr=0.1, momentum=0.9)
    by_hand = []
    for inputs, targets in [batch for _ in range(3) for batch in loader][:5]:
        optimizer.zero_grad()
        loss = F.cross_entropy(expected(inputs), targets)
        loss.backward()
        optimizer.step()
        by_hand.append(loss.item())
    assert losses == by_hand and all(math.isfinite(v) for v in losses)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), expected.state_dict().values()))
    assert not model.training


def test_train_steps_is_reproducible_and_refuses_a_dataset_smaller_than_a_batch():
    def run():
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        torch.manual_seed(0)
        model.apply(lambda m: m.reset_parameters() if isinstance(m, nn.Linear) else None)
        return train_steps(model, separable_data(), 3, batch_size=16, device=CPU), model.state_dict()

    (first_losses, first), (second_losses, second) = run(), run()
    assert first_losses == second_losses and all(torch.equal(first[k], second[k]) for k in first)
    with pytest.raises(ValueError, match="fewer than one batch"):
        train_steps(nn.Linear(4, 2), separable_data(n=10), 1, batch_size=16, device=CPU)
