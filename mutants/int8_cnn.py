"""Wrong implementations of the int8_cnn graded functions: each must lose points.

Equivalent mutants are left out, with the reason: dropping the clamp in ``quantized_weights``
(with the max-abs scale no value exceeds 127, so the clamp never acts), and applying the
output scale before ReLU and pooling in ``forward`` (round, clamp, ReLU and max-pooling are
all monotone, so the order does not change a single value).
"""

from compresslab.mutation import Mutant

QW = "def quantized_weights(weights: torch.Tensor) -> Tuple[torch.Tensor, float]:"
HOOKS = "def register_activation_profiling_hooks(model: Net):"
NQ = "class NetQuantized(nn.Module):"
NQB = "class NetQuantizedWithBias(NetQuantized):"
FR = "def full_range(values: np.ndarray) -> Tuple[float, float]:"
TSR = "def three_sigma_range(values: np.ndarray) -> Tuple[float, float]:"

HINTS = {  # what a student should look at, per function (without the code)
    "quantized_weights": "which magnitude maps to 127, how you round, and the scale of an all-zero tensor",
    "register_activation_profiling_hooks": "which tensor each hook records (a layer's input or its output, before or after ReLU), and that it appends every batch only while profiling is on",
    "quantize_initial_input": "which magnitude of the pixels maps to 127, and the scale when every pixel is 0",
    "quantize_activations": "the scale a layer's integer input already carries: which scales, of the input and of every preceding layer, it accumulates",
    "NetQuantized.forward": "what happens to each layer's output: ReLU where the float model has one, scale, round, clamp to [-128, 127]",
    "quantized_bias": "the scale the bias must share with the accumulator (which scales make it up), rounding, and the 32-bit range",
    "full_range": "which two values of the whole array make its range, in which order, with their signs",
    "three_sigma_range": "where the range is centred, how many standard deviations it reaches on each side, and which standard deviation (divide by N)",
}

MUTANTS = [
    # full_range
    Mutant("full_range", "you returned (max, min): the smallest value must come first", FR, (('    return float(flat.min()), float(flat.max())', "    return float(flat.max()), float(flat.min())"),)),
    Mutant("full_range", "you returned the symmetric max-abs range (-max|v|, max|v|) instead of (min, max)", FR,
           (('    return float(flat.min()), float(flat.max())', "    return -float(np.abs(flat).max()), float(np.abs(flat).max())"),)),
    Mutant("full_range", "you assumed the values are non-negative and returned (0, max)", FR, (('    return float(flat.min()), float(flat.max())', "    return 0.0, float(flat.max())"),)),
    Mutant("full_range", "you returned (min, max - min): the width of the range instead of its upper end", FR,
           (('    return float(flat.min()), float(flat.max())', "    return float(flat.min()), float(flat.max() - flat.min())"),)),
    Mutant("full_range", "you took the range of the magnitudes |values| instead of the values", FR, (("    flat = np.asarray(values, dtype=np.float64).ravel()", "    flat = np.abs(np.asarray(values, dtype=np.float64).ravel())"),)),
    Mutant("full_range", "you took the 1st and 99th percentiles instead of the smallest and largest values", FR,
           (('    return float(flat.min()), float(flat.max())', "    return float(np.percentile(flat, 1)), float(np.percentile(flat, 99))"),)),
    Mutant("full_range", "you took the range of the first row only, not of every element", FR,
           (("    flat = np.asarray(values, dtype=np.float64).ravel()", "    flat = np.asarray(values, dtype=np.float64)\n    flat = flat[0] if flat.ndim > 1 else flat"),)),
    # three_sigma_range
    Mutant("three_sigma_range", "you used the sample standard deviation (divide by N - 1, torch's Tensor.std default) instead of the population one (divide by N)", TSR,
           (('    mean, std = flat.mean(), flat.std()', "    mean, std = flat.mean(), flat.std(ddof=1)"),)),
    Mutant("three_sigma_range", "you centred the range on 0, (-3 std, 3 std), instead of on the mean", TSR, (('    return float(mean - 3 * std), float(mean + 3 * std)', "    return float(-3 * std), float(3 * std)"),)),
    Mutant("three_sigma_range", "you used 3 times the variance instead of 3 standard deviations", TSR, (('    return float(mean - 3 * std), float(mean + 3 * std)', "    return float(mean - 3 * std**2), float(mean + 3 * std**2)"),)),
    Mutant("three_sigma_range", "you spread 3 std over the whole range, mean +- 1.5 std, instead of 3 std on each side", TSR,
           (('    return float(mean - 3 * std), float(mean + 3 * std)', "    return float(mean - 1.5 * std), float(mean + 1.5 * std)"),)),
    Mutant("three_sigma_range", "you clipped the 3-sigma range to the full range", TSR,
           (('    return float(mean - 3 * std), float(mean + 3 * std)', "    return float(max(mean - 3 * std, flat.min())), float(min(mean + 3 * std, flat.max()))"),)),
    Mutant("three_sigma_range", "you took the mean and std of the magnitudes |values|", TSR, (('    mean, std = flat.mean(), flat.std()', "    mean, std = np.abs(flat).mean(), np.abs(flat).std()"),)),
    # quantized_weights
    Mutant("quantized_weights", "you rounded with floor instead of round", QW, (("(weights * scale).round()", "(weights * scale).floor()"),)),
    Mutant("quantized_weights", "you truncated towards zero instead of rounding", QW, (("(weights * scale).round()", "(weights * scale).trunc()"),)),
    Mutant("quantized_weights", "your range is off by one: you divided 128 (2**(b-1)) by max|w| instead of 127 (2**(b-1) - 1)", QW, (("scale = 127.0 / max_abs", "scale = 128.0 / max_abs"),)),
    Mutant("quantized_weights", "you took max(w) instead of max(|w|), so negative extremes overflow", QW, (("max_abs = weights.abs().max().item()", "max_abs = weights.max().item()"),)),
    Mutant("quantized_weights", "as seed 001 did: you took a 3-sigma range instead of max(|w|)", QW, (("max_abs = weights.abs().max().item()", "max_abs = 3 * weights.std().item()"),)),
    Mutant("quantized_weights", "for all-zero weights you divided by an epsilon instead of using scale 1", QW, (("scale = 127.0 / max_abs if max_abs > 0 else 1.0", "scale = 127.0 / max(max_abs, 1e-8)"),)),
    Mutant("quantized_weights", "as seed 001 did: you spread a 3-sigma range over 255 levels, 255 / (6 std), instead of 127 / max(|w|)", QW,
           (("    max_abs = weights.abs().max().item()\n    scale = 127.0 / max_abs if max_abs > 0 else 1.0\n",
             "    weights_flat = weights.flatten()\n    mean = weights_flat.mean()\n    std = weights_flat.std()\n    three_sigma_range = 3.0 * std\n"
             "    min_val = mean - three_sigma_range\n    max_val = mean + three_sigma_range\n    scale = 255.0 / (max_val - min_val)\n"),)),
    # register_activation_profiling_hooks
    Mutant("register_activation_profiling_hooks", "your conv1.activations records conv2's output instead of conv1's input", HOOKS,
           (("model.conv1.activations = np.append(model.conv1.activations, x[0].cpu().view(-1))", "model.conv1.activations = np.append(model.conv1.activations, y.cpu().view(-1))"),)),
    Mutant("register_activation_profiling_hooks", "your fc3.activations records fc3's input instead of its output", HOOKS,
           (("model.fc3.activations = np.append(model.fc3.activations, y.cpu().view(-1))", "model.fc3.activations = np.append(model.fc3.activations, x[0].cpu().view(-1))"),)),
    Mutant("register_activation_profiling_hooks", "you overwrite the activations instead of appending, so only the last batch is kept", HOOKS,
           (("model.fc1.activations = np.append(model.fc1.activations, x[0].cpu().view(-1))", "model.fc1.activations = x[0].cpu().view(-1).numpy()"),)),
    Mutant("register_activation_profiling_hooks", "your fc1.activations records fc1's output before the ReLU instead of its input", HOOKS,
           (("model.fc1.activations = np.append(model.fc1.activations, x[0].cpu().view(-1))", "pass"),
            ("    model.fc1.register_forward_hook(fc1_activations_hook)", "    model.fc1.register_forward_hook(fc1_activations_hook)\n    model.fc1.register_forward_hook(lambda layer, x, y: setattr(layer, 'activations', np.append(layer.activations, y.cpu().view(-1))) if model.profile_activations else None)"))),
    Mutant("register_activation_profiling_hooks", "you record activations even when profiling is switched off", HOOKS,
           (("        if model.profile_activations:\n            model.conv2.activations", "        if True:\n            model.conv2.activations"),)),
    Mutant("register_activation_profiling_hooks", "your fc2.activations records fc2's output instead of its input", HOOKS,
           (("model.fc2.activations = np.append(model.fc2.activations, x[0].cpu().view(-1))", "model.fc2.activations = np.append(model.fc2.activations, y.cpu().view(-1))"),)),
    # quantize_initial_input
    Mutant("quantize_initial_input", "as seed 001 did: you took 255 / (max - min) of the pixels instead of 127 / max(|x|)", NQ, (("return 127.0 / max_abs if max_abs > 0 else 1.0", "return 255.0 / (np.max(pixels) - np.min(pixels))"),)),
    Mutant("quantize_initial_input", "you took the maximum instead of the maximum absolute value", NQ, (("max_abs = float(np.max(np.abs(pixels)))", "max_abs = float(np.max(pixels))"),)),
    Mutant("quantize_initial_input", "your range is off by one: you divided 128 by max(|x|) instead of 127", NQ, (("return 127.0 / max_abs if max_abs > 0 else 1.0", "return 128.0 / max_abs if max_abs > 0 else 1.0"),)),
    Mutant("quantize_initial_input", "for an all-zero input you divided by zero instead of returning scale 1", NQ, (("return 127.0 / max_abs if max_abs > 0 else 1.0", "return 127.0 / max_abs if max_abs > 0 else float('inf')"),)),
    Mutant("quantize_initial_input", "you took the mean magnitude instead of the maximum magnitude", NQ, (("max_abs = float(np.max(np.abs(pixels)))", "max_abs = float(np.mean(np.abs(pixels)))"),)),
    # quantize_activations
    Mutant("quantize_activations", "you ignored the preceding layers' scales", NQ, (("            input_scale *= weight_scale * output_scale\n        return 127.0 / (max_abs * input_scale)", "            pass\n        return 127.0 / (max_abs * input_scale)"),)),
    Mutant("quantize_activations", "you multiplied in only the preceding weight scales, not their output scales", NQ, (("            input_scale *= weight_scale * output_scale\n        return 127.0 / (max_abs * input_scale)", "            input_scale *= weight_scale\n        return 127.0 / (max_abs * input_scale)"),)),
    Mutant("quantize_activations", "you forgot this layer's weight scale", NQ, (("input_scale = n_initial_input * n_w\n", "input_scale = n_initial_input\n"),)),
    Mutant("quantize_activations", "you multiplied by the cumulative scale instead of dividing by it", NQ, (("return 127.0 / (max_abs * input_scale)", "return 127.0 * input_scale / max_abs"),)),
    Mutant("quantize_activations", "you took the maximum of the activations instead of their maximum magnitude", NQ, (("max_abs = float(np.max(np.abs(activations)))", "max_abs = float(np.max(activations))"),)),
    Mutant("quantize_activations", "as seed 001 did: you took 255 / (max - min) of the activations multiplied by the scales", NQ,
           (("        max_abs = float(np.max(np.abs(activations)))\n        if max_abs == 0:\n            return 1.0\n        input_scale = n_initial_input * n_w\n"
             "        for weight_scale, output_scale in ns:\n            input_scale *= weight_scale * output_scale\n        return 127.0 / (max_abs * input_scale)",
             "        activations = activations * float(n_w)\n        activations = activations * float(n_initial_input)\n        for pair in ns:\n"
             "            activations = activations * float(pair[0]) * float(pair[1])\n        scale = 255/(np.max(activations) - np.min(activations))\n        return scale"),)),
    # NetQuantized.forward
    Mutant("NetQuantized.forward", "you requantized with floor instead of round", NQ, (("return torch.clamp((t * scale).round(), min=-128, max=127)", "return torch.clamp((t * scale).floor(), min=-128, max=127)"),)),
    Mutant("NetQuantized.forward", "as seed 004 did: you applied a ReLU after fc3", NQ, (("return requantize(self.fc3(x), self.fc3.output_scale)", "return F.relu(requantize(self.fc3(x), self.fc3.output_scale))"),)),
    Mutant("NetQuantized.forward", "you did not clamp the output of fc3", NQ, (("return requantize(self.fc3(x), self.fc3.output_scale)", "return (self.fc3(x) * self.fc3.output_scale).round()"),)),
    Mutant("NetQuantized.forward", "you clamped to the unsigned range [0, 255] instead of [-128, 127]", NQ, (("return torch.clamp((t * scale).round(), min=-128, max=127)", "return torch.clamp((t * scale).round(), min=0, max=255)"),)),
    Mutant("NetQuantized.forward", "you scaled fc2's output with fc1's output scale", NQ, (("x = requantize(F.relu(self.fc2(x)), self.fc2.output_scale)", "x = requantize(F.relu(self.fc2(x)), self.fc1.output_scale)"),)),
    # NetQuantizedWithBias.quantized_bias
    Mutant("quantized_bias", "as seed 001 did: you clamped the int32 bias to the int8 range", NQB, (("min=-2147483648, max=2147483647", "min=-128, max=127"),)),
    Mutant("quantized_bias", "your bias scale forgets this layer's weight scale", NQB, (("scale = n_initial_input * n_w\n", "scale = n_initial_input\n"),)),
    Mutant("quantized_bias", "your bias scale ignores the preceding layers' scales (ns) entirely", NQB, (("            scale *= weight_scale * output_scale\n", "            pass\n"),)),
    Mutant("quantized_bias", "you did not round the bias", NQB, (("torch.clamp((bias * scale).round(),", "torch.clamp((bias * scale),"),)),
    Mutant("quantized_bias", "your bias scale ignores the preceding output scales", NQB, (("            scale *= weight_scale * output_scale\n", "            scale *= weight_scale\n"),)),
    Mutant("quantized_bias", "as seed 001 did: you rescaled the bias by 255 / (max - min)", NQB, (("return torch.clamp((bias * scale).round(), min=-2147483648, max=2147483647)", "bias = bias * scale\n        return torch.clamp((bias * 255 / (bias.max() - bias.min())).round(), min=-2147483648, max=2147483647)"),)),
    Mutant("quantized_bias", "as seed 001 did: you took 255 / (max - min) of the scaled bias and clamped it to [-127, 128]", NQB,
           (("        scale = n_initial_input * n_w\n        for weight_scale, output_scale in ns:\n            scale *= weight_scale * output_scale\n"
             "        return torch.clamp((bias * scale).round(), min=-2147483648, max=2147483647)",
             "        bias *= float(n_initial_input)\n        bias *= float(n_w)\n        for (first, second) in ns:\n            bias *= float(first)\n"
             "            bias *= float(second)\n        scale = 255/(torch.max(bias) - torch.min(bias))\n"
             "        return torch.clamp((bias * scale).round(), min=-127, max=128)"),)),
]
