"""Hidden-test fixtures of ``pruning``: seeded inputs and the reference answers to them (``build``, ``SECRETS``), and the
seeded models they start from (``seeded_vgg``, ``randomize_batchnorm``, also used by ``tests/test_pruning.py``)."""

import torch
from torch import nn

from ..checkpoints import load_pretrained, normalization_of
from ..data import load_dataset
from ..hidden.pruning import GRADED_LOGIT_IMAGES, bounded_fine_tune_logits
from ..models import VGG
from ..pruning_helpers import CHANNEL_PRUNE_RATIO, prunable_weights
from . import SEED

PRUNER_WIDTH = 1 / 32  # VGG with 2..16 channels: small fixture, every layer kind present
CHANNEL_WIDTH = 1 / 16  # VGG with 4..32 channels: enough channels for varied prune ratios
PER_LAYER_RATIOS = [0.2, 0.4, 0.1, 0.3, 0.6, 0.15, 0.35]  # one per conv but the last


def seeded_vgg(width: float, seed: int) -> VGG:
    """A VGG of ``width`` with weights from ``torch.manual_seed(seed)`` and random BN statistics, in eval mode."""
    torch.manual_seed(seed)
    return randomize_batchnorm(VGG(width=width), seed).eval()


def randomize_batchnorm(model: nn.Module, seed: int) -> nn.Module:
    """Give every BatchNorm2d of ``model`` random affine parameters and running statistics (in place), so that
    a check notices a channel whose BN entries were not moved with it. Returns ``model``."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
    return model


def state_dict_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    """A plain dict of cloned CPU tensors of ``model.state_dict()`` (safe to store in a fixture)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


# Reference answers: zeroed in what the student's process receives (``fixtures.without``); the inputs stay.
SECRETS = ("fine_grained_prune/*/mask", "fine_grained_prune/*/output",
           "fine_grained_prune_float64/*/mask", "fine_grained_prune_float64/*/output", "pruner/masks", "pruner/applied", "pruner/pruned",
           "num_channels/*/2", "channel_prune/per_layer", "channel_prune/ratio_*", "importance/*/importance", "sorting/sorted",
           "sorted_pruned_run/logits")


def build(ns: dict) -> dict:
    """Cases for every graded function of ``pruning``; the seeds differ from any public test input.

    The fine-grained cases hold no sparsity that rounds to zero zeros: that edge case has its own
    1-point hidden test (with ties and in-place pruning), so a slip there loses that point, not the
    2 points of the general cases too.
    """
    g = torch.Generator().manual_seed(SEED)
    cases = {
        "conv": (torch.randn(16, 8, 3, 3, generator=g) * 0.1, 0.6),
        "linear": (torch.randn(10, 32, generator=g), 0.85),
        "vector": (torch.randn(50, generator=g), 0.33),
        "three_dims": (torch.randn(4, 5, 6, generator=g), 0.999),  # round(119.88) = 120: everything pruned
        "seven_by_seven": (torch.randn(7, 7, generator=g), 0.3),  # round(14.7) = 15 zeros
        "all_positive": (torch.rand(6, 6, generator=g) + 0.5, 0.5),
        "negative_heavy": (-torch.rand(3, 4, 5, generator=g) ** 2, 0.7),
    }
    fine_grained = _pruned(ns["fine_grained_prune"], cases)
    g64 = torch.Generator().manual_seed(SEED + 64)  # its own generator: the cases drawn from g after these keep their values
    fine_grained_float64 = _pruned(ns["fine_grained_prune"], {
        "conv": (torch.randn(8, 4, 3, 3, generator=g64, dtype=torch.float64), 0.45),
        "matrix": (torch.randn(12, 20, generator=g64, dtype=torch.float64), 0.8),
    })

    model = seeded_vgg(PRUNER_WIDTH, SEED)
    state = state_dict_copy(model)
    names = list(prunable_weights(model))
    sparsity_dict = dict(zip(names, [0.3, 0.5, 0.7, 0.2, 0.8, 0.6, 0.9, 0.75, 0.4]))
    pruner = ns["FineGrainedPruner"](model, dict(sparsity_dict))
    masks = {name: mask.clone() for name, mask in pruner.masks.items()}
    pruned = state_dict_copy(model)
    with torch.no_grad():  # a simulated optimizer step
        for param in model.parameters():
            param.add_(torch.randn(param.shape, generator=g) * 0.05)
    moved = state_dict_copy(model)
    pruner.apply(model)
    applied = state_dict_copy(model)
    pruner_case = {"width": PRUNER_WIDTH, "state_dict": state, "sparsity_dict": sparsity_dict, "masks": masks,
                   "pruned": pruned, "moved": moved, "applied": applied}

    channel_counts = [(16, 0.3), (128, 0.3), (64, 0.45), (7, 0.2), (100, 0.0), (33, 0.9), (256, 0.77), (48, 0.6)]
    for channels, ratio in channel_counts:  # no case may sit on a rounding tie
        assert abs(channels * (1 - ratio) % 1 - 0.5) > 0.05, (channels, ratio)
    num_channels = [[channels, ratio, ns["get_num_channels_to_keep"](channels, ratio)] for channels, ratio in channel_counts]

    model = seeded_vgg(CHANNEL_WIDTH, SEED + 1)
    for (conv, ratio) in zip([m for m in model.backbone if isinstance(m, torch.nn.Conv2d)], PER_LAYER_RATIOS):
        assert abs(conv.out_channels * (1 - ratio) % 1 - 0.5) > 0.05, (conv.out_channels, ratio)
    channel_case = {"width": CHANNEL_WIDTH, "state_dict": state_dict_copy(model), "ratios": PER_LAYER_RATIOS,
                    "ratio_0.3": state_dict_copy(ns["channel_prune"](model, 0.3)),
                    "per_layer": state_dict_copy(ns["channel_prune"](model, list(PER_LAYER_RATIOS)))}

    weights = [torch.randn(8, 5, 3, 3, generator=g), torch.randn(6, 4, 1, 1, generator=g) * 3, torch.rand(3, 2, 5, 5, generator=g) - 0.7]
    importance = [{"weight": w, "importance": ns["get_input_channel_importance"](w.clone()).clone()} for w in weights]

    model = seeded_vgg(CHANNEL_WIDTH, SEED + 2)
    sorting = {"width": CHANNEL_WIDTH, "state_dict": state_dict_copy(model),
               "sorted": state_dict_copy(ns["apply_channel_sorting"](model))}
    return {"fine_grained_prune": fine_grained, "fine_grained_prune_float64": fine_grained_float64, "pruner": pruner_case,
            "num_channels": num_channels, "channel_prune": channel_case, "importance": importance, "sorting": sorting,
            "sorted_pruned_run": _sorted_pruned_run(ns)}


def _pruned(fine_grained_prune, cases: dict) -> dict:
    """``{key: {input, sparsity, mask, output}}``: each ``(weight, sparsity)`` of ``cases`` pruned by the reference."""
    pruned = {}
    for key, (weight, sparsity) in cases.items():
        tensor = weight.clone()
        mask = fine_grained_prune(tensor, sparsity)
        pruned[key] = {"input": weight, "sparsity": sparsity, "mask": mask.clone(), "output": tensor.clone()}
    return pruned


def _sorted_pruned_run(ns: dict) -> dict:
    """The reference's logits after ``bounded_fine_tune_logits`` of the sorted checkpoint pruned at CHANNEL_PRUNE_RATIO."""
    digits = load_dataset("digits", normalization=normalization_of("vgg"))
    model = ns["channel_prune"](ns["apply_channel_sorting"](load_pretrained("vgg", torch.device("cpu"))), CHANNEL_PRUNE_RATIO)
    return {"logits": bounded_fine_tune_logits(model, digits.train, digits.test.dataset.tensors[0][:GRADED_LOGIT_IMAGES])}
