"""Wrong implementations of the pruning graded functions: each must lose points.

Five to eight mutants per function, no more: grading one mutant costs about 25 s of CPU, mostly the two
one-epoch fine-tunes of the hidden accuracy tests (q5 and q7), which run whatever function is mutated.
``sparsity_dict`` (Question 5) is graded too, so it has mutants: choices that break the size or the
accuracy target.

Left out, with the reason:

* ``floor(x + 0.5)`` or ``channels - round(channels * prune_ratio)`` in ``get_num_channels_to_keep``:
  they differ from Python's ``round`` only on an exact .5 (round half to even), and the tests keep off
  rounding ties on purpose (the fixture asserts it), so that half-up rounding is accepted.
  ``int(channels * (1 - r) + 0.5)`` is the same alternative.
* ``param.data = param.data * mask`` or ``param.data.mul_(mask)`` in ``FineGrainedPruner.apply``, the
  ``.data`` forms of ``channel_prune``'s slicing, and iterating ``model.named_modules()`` instead of
  ``named_parameters()``: the same tensors end up with the same values (equivalent).
* ``torch.argsort`` without ``stable=True`` in ``apply_channel_sorting``: it differs only on channels
  of exactly equal importance, whose order the question does not pin (no test input has such ties).
* A norm computed channel by channel in a loop (``weight[:, c].norm()``), or
  ``torch.linalg.vector_norm(weight, dim=(0, 2, 3))``, in ``get_input_channel_importance``: equivalent.
* Pruning with ``torch.sort(importance.flatten()).values[num_zeros - 1]`` as the threshold in
  ``fine_grained_prune``: the same value as ``kthvalue(num_zeros)`` (equivalent).
"""

from compresslab.mutation import Mutant

FGP = "def fine_grained_prune(tensor: torch.Tensor, sparsity: float) -> torch.Tensor:"
PRUNER = "class FineGrainedPruner:"
SD = 'sparsity_dict = {}  # parameter name -> sparsity in [0, 1], e.g. {"backbone.conv0.weight": 0.4, ...}'
NKEEP = "def get_num_channels_to_keep(channels: int, prune_ratio: float) -> int:"
CP = "# Question 6 (a decorated function: the comment keeps this cell's first line unique)"
IMP = "def get_input_channel_importance(weight: torch.Tensor) -> torch.Tensor:"
SORT = "# Question 7 (a decorated function: the comment keeps this cell's first line unique)"

# channel_prune's six slicing lines, to rewrite them all at once
CP_FIRST = (
    ("prev_conv.weight.detach()[:n_keep]", "prev_conv.weight.detach()[-n_keep:]"),
    ("prev_bn.weight.detach()[:n_keep]", "prev_bn.weight.detach()[-n_keep:]"),
    ("prev_bn.bias.detach()[:n_keep]", "prev_bn.bias.detach()[-n_keep:]"),
    ("prev_bn.running_mean[:n_keep]", "prev_bn.running_mean[-n_keep:]"),
    ("prev_bn.running_var[:n_keep]", "prev_bn.running_var[-n_keep:]"),
    ("next_conv.weight.detach()[:, :n_keep]", "next_conv.weight.detach()[:, -n_keep:]"),
)

HINTS = {  # what a student should look at, per function (without the code)
    "fine_grained_prune": "how many weights to zero for the sparsity, the threshold on magnitudes, which side of it is kept, and sparsity 0",
    "FineGrainedPruner.prune": "a boolean mask for each weight named in the sparsity dict (and only those), made in place from that weight at its sparsity",
    "FineGrainedPruner.apply": "multiplying each weight in place by its own stored mask, matched by name",
    "sparsity_dict": "the full parameter names, fractions of weights removed (not kept), and which layers the sensitivity scan shows can take the most",
    "get_num_channels_to_keep": "the channels kept (not removed), how their count is rounded, and its type",
    "channel_prune": "which channels are kept (the first ones, after sorting), and every tensor that depends on them: the next conv's input channels and the batch norm's statistics",
    "get_input_channel_importance": "the norm of each input channel's weights, over every other dimension",
    "apply_channel_sorting": "sorting by the next layer's input-channel importance, largest first, and permuting everything that holds those channels the same way",
}

MUTANTS = [
    # fine_grained_prune
    Mutant("fine_grained_prune", "you compared with >= instead of >, keeping the weight at the threshold and its ties", FGP,
           (("mask = importance > threshold", "mask = importance >= threshold"),)),
    Mutant("fine_grained_prune", "you truncated the number of zeros with int() instead of rounding", FGP,
           (("num_zeros = round(num_elements * sparsity)", "num_zeros = int(num_elements * sparsity)"),)),
    Mutant("fine_grained_prune", "your k-th smallest is off by one: kthvalue(num_zeros + 1), which fails at sparsity 1", FGP,
           (("kthvalue(num_zeros).values", "kthvalue(num_zeros + 1).values"),)),
    Mutant("fine_grained_prune", "you ranked by the signed weights instead of |w|", FGP,
           (("importance = tensor.abs()", "importance = tensor.clone()"),)),
    Mutant("fine_grained_prune", "you did not handle num_zeros == 0: kthvalue(0) fails at sparsity 0", FGP,
           (("    if num_zeros == 0:\n        mask = torch.ones_like(tensor, dtype=torch.bool)\n    else:\n        threshold", "    if False:\n        pass\n    else:\n        threshold"),)),
    Mutant("fine_grained_prune", "as the lab does: you return a float all-ones mask when num_zeros is 0", FGP,
           (("mask = torch.ones_like(tensor, dtype=torch.bool)", "mask = torch.ones_like(tensor)"),)),
    Mutant("fine_grained_prune", "you took topk of the largest, keeping ties at the threshold instead of pruning them", FGP,
           (("threshold = importance.flatten().kthvalue(num_zeros).values\n        mask = importance > threshold",
             "mask = torch.zeros(num_elements, dtype=torch.bool)\n        mask[importance.flatten().topk(num_elements - num_zeros).indices] = True\n        mask = mask.reshape(tensor.shape)"),)),
    Mutant("fine_grained_prune", "you took the threshold from torch.quantile(|w|, sparsity), which interpolates", FGP,
           (("threshold = importance.flatten().kthvalue(num_zeros).values", "threshold = importance.flatten().quantile(sparsity)"),)),
    # FineGrainedPruner.prune
    Mutant("FineGrainedPruner.prune", "you also pruned 1-D parameters (BN weights)", PRUNER,
           (("if param.dim() > 1 and name in sparsity_dict:", "if name in sparsity_dict:"),)),
    Mutant("FineGrainedPruner.prune", "you pruned only conv weights (dim > 2), leaving the classifier dense", PRUNER,
           (("if param.dim() > 1 and name in sparsity_dict:", "if param.dim() > 2 and name in sparsity_dict:"),)),
    Mutant("FineGrainedPruner.prune", "you pruned a copy of each weight, so the model keeps its weights", PRUNER,
           (("masks[name] = fine_grained_prune(param, sparsity_dict[name])", "masks[name] = fine_grained_prune(param.detach().clone(), sparsity_dict[name])"),)),
    Mutant("FineGrainedPruner.prune", "you used density instead of sparsity, pruning 1 - s", PRUNER,
           (("masks[name] = fine_grained_prune(param, sparsity_dict[name])", "masks[name] = fine_grained_prune(param, 1 - sparsity_dict[name])"),)),
    Mutant("FineGrainedPruner.prune", "you made a mask for every weight, with sparsity 0 for those not in the dict", PRUNER,
           (("            if param.dim() > 1 and name in sparsity_dict:\n                masks[name] = fine_grained_prune(param, sparsity_dict[name])",
             "            if param.dim() > 1:\n                masks[name] = fine_grained_prune(param, sparsity_dict.get(name, 0.0))"),)),
    Mutant("FineGrainedPruner.prune", "you stored the masks as float", PRUNER,
           (("masks[name] = fine_grained_prune(param, sparsity_dict[name])", "masks[name] = fine_grained_prune(param, sparsity_dict[name]).float()"),)),
    # FineGrainedPruner.apply
    Mutant("FineGrainedPruner.apply", "you rebound the loop variable instead of multiplying in place", PRUNER,
           (("param.mul_(self.masks[name])", "param = param * self.masks[name]"),)),
    Mutant("FineGrainedPruner.apply", "you masked the gradients instead of the weights", PRUNER,
           (("param.mul_(self.masks[name])", "param.grad.mul_(self.masks[name])"),)),
    Mutant("FineGrainedPruner.apply", "you re-prune by magnitude to the same sparsity instead of re-applying the stored mask", PRUNER,
           (("param.mul_(self.masks[name])", "fine_grained_prune(param, 1.0 - self.masks[name].float().mean().item())"),)),
    Mutant("FineGrainedPruner.apply", "you paired parameters and masks by position (zip) instead of by name", PRUNER,
           (("        for name, param in model.named_parameters():\n            if name in self.masks:\n                param.mul_(self.masks[name])",
             "        for param, mask in zip(model.parameters(), self.masks.values()):\n            param.mul_(mask)"),)),
    Mutant("FineGrainedPruner.apply", "you multiplied by the inverted mask, zeroing the kept weights", PRUNER,
           (("param.mul_(self.masks[name])", "param.mul_(~self.masks[name])"),)),
    # sparsity_dict (Question 5)
    Mutant("sparsity_dict", "you left the backbone. prefix off the layer names", SD,
           (('"backbone.conv', '"conv'),)),
    Mutant("sparsity_dict", "you gave percentages instead of fractions (85 for conv7)", SD,
           (('"backbone.conv7.weight": 0.85', '"backbone.conv7.weight": 85'),)),
    Mutant("sparsity_dict", "you gave densities instead of sparsities (0.15 for conv7)", SD,
           (('"backbone.conv7.weight": 0.85', '"backbone.conv7.weight": 0.15'),)),
    Mutant("sparsity_dict", "you chose one uniform sparsity 0.6, which leaves too large a model", SD,
           tuple((f'"backbone.{layer}.weight": {value}', f'"backbone.{layer}.weight": 0.6')
                 for layer, value in (("conv0", 0.4), ("conv2", 0.5), ("conv4", 0.5), ("conv5", 0.65), ("conv6", 0.7), ("conv7", 0.85)))),
    Mutant("sparsity_dict", "you pruned the sensitive layers hardest (conv0, conv2, conv4 at 0.9)", SD,
           (('"backbone.conv0.weight": 0.4', '"backbone.conv0.weight": 0.9'), ('"backbone.conv2.weight": 0.5', '"backbone.conv2.weight": 0.9'),
            ('"backbone.conv4.weight": 0.5', '"backbone.conv4.weight": 0.9'))),
    # get_num_channels_to_keep
    Mutant("get_num_channels_to_keep", "you truncated with int() instead of rounding", NKEEP,
           (("int(round(channels * (1.0 - prune_ratio)))", "int(channels * (1.0 - prune_ratio))"),)),
    Mutant("get_num_channels_to_keep", "you rounded up with np.ceil instead of round", NKEEP,
           (("int(round(channels * (1.0 - prune_ratio)))", "int(np.ceil(channels * (1.0 - prune_ratio)))"),)),
    Mutant("get_num_channels_to_keep", "you counted the channels to remove instead of those to keep", NKEEP,
           (("int(round(channels * (1.0 - prune_ratio)))", "int(round(channels * prune_ratio))"),)),
    Mutant("get_num_channels_to_keep", "you used np.round, which returns a numpy float, not an int", NKEEP,
           (("int(round(channels * (1.0 - prune_ratio)))", "np.round(channels * (1.0 - prune_ratio))"),)),
    Mutant("get_num_channels_to_keep", "you slipped on precedence: round(channels * 1 - prune_ratio)", NKEEP,
           (("int(round(channels * (1.0 - prune_ratio)))", "int(round(channels * 1.0 - prune_ratio))"),)),
    # channel_prune
    Mutant("channel_prune", "you kept the last n_keep channels instead of the first", CP, CP_FIRST),
    Mutant("channel_prune", "you did not prune the BN running statistics", CP,
           (("        prev_bn.running_mean = prev_bn.running_mean[:n_keep].clone()\n        prev_bn.running_var = prev_bn.running_var[:n_keep].clone()\n", ""),)),
    Mutant("channel_prune", "you did not prune the next conv's input channels", CP,
           (("        next_conv.weight = nn.Parameter(next_conv.weight.detach()[:, :n_keep].clone())\n", ""),)),
    Mutant("channel_prune", "you slipped in a copy-paste: running_var takes running_mean's entries", CP,
           (("prev_bn.running_var = prev_bn.running_var[:n_keep].clone()", "prev_bn.running_var = prev_bn.running_mean[:n_keep].clone()"),)),
    Mutant("channel_prune", "you pruned the model passed in instead of a deep copy", CP,
           (("    model = copy.deepcopy(model)  # prune a copy: the model passed in stays dense\n", ""),)),
    Mutant("channel_prune", "you did not update out_channels / num_features / in_channels", CP,
           (("        prev_conv.out_channels = prev_bn.num_features = next_conv.in_channels = n_keep\n", ""),)),
    Mutant("channel_prune", "you used the first ratio for every layer", CP,
           (("n_keep = get_num_channels_to_keep(original_channels, p_ratio)", "n_keep = get_num_channels_to_keep(original_channels, prune_ratio[0])"),)),
    # get_input_channel_importance
    Mutant("get_input_channel_importance", "you took the L1 norm instead of the L2 norm", IMP,
           (("flatten(1).norm(dim=1)", "flatten(1).norm(p=1, dim=1)"),)),
    Mutant("get_input_channel_importance", "you took the squared L2 norm (no square root)", IMP,
           (("flatten(1).norm(dim=1)", "flatten(1).pow(2).sum(dim=1)"),)),
    Mutant("get_input_channel_importance", "you took the output channels' norms (no transpose)", IMP,
           (("weight.detach().transpose(0, 1).flatten(1).norm(dim=1)", "weight.detach().flatten(1).norm(dim=1)"),)),
    Mutant("get_input_channel_importance", "you took the mean |w| per input channel", IMP,
           (("weight.detach().transpose(0, 1).flatten(1).norm(dim=1)", "weight.detach().abs().mean(dim=(0, 2, 3))"),)),
    Mutant("get_input_channel_importance", "you took the norm over the output channels only: one value per (c_in, k, k)", IMP,
           (("weight.detach().transpose(0, 1).flatten(1).norm(dim=1)", "weight.detach().norm(dim=0).flatten()"),)),
    # apply_channel_sorting
    Mutant("apply_channel_sorting", "you sorted in ascending order: the least important channels first", SORT,
           (("torch.argsort(importance, descending=True, stable=True)", "torch.argsort(importance, stable=True)"),)),
    Mutant("apply_channel_sorting", "you did not sort the BN running statistics", SORT,
           (('["weight", "bias", "running_mean", "running_var"]', '["weight", "bias"]'),)),
    Mutant("apply_channel_sorting", "you did not sort the next conv's input channels", SORT,
           (("        next_conv.weight.copy_(torch.index_select(next_conv.weight.detach(), 1, sort_idx))\n", ""),)),
    Mutant("apply_channel_sorting", "you sorted the next conv's output channels (dim 0) instead of its inputs", SORT,
           (("torch.index_select(next_conv.weight.detach(), 1, sort_idx)", "torch.index_select(next_conv.weight.detach(), 0, sort_idx)"),)),
    Mutant("apply_channel_sorting", "you ranked by the norms of conv i's own output filters", SORT,
           (("sort_idx = torch.argsort(importance, descending=True, stable=True)", "sort_idx = torch.argsort(prev_conv.weight.detach().flatten(1).norm(dim=1), descending=True, stable=True)"),)),
    Mutant("apply_channel_sorting", "you sorted the model passed in instead of a deep copy", SORT,
           (("    model = copy.deepcopy(model)  # sort a copy: the model passed in is unchanged\n", ""),)),
]
