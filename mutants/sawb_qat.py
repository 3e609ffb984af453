"""Wrong implementations of the sawb_qat graded functions: each must lose points.

Convention (seed 003): x_int = clip(round(x / s) - z; L, U), x_hat = s * (x_int + z).

Equivalent mutants are left out, with the reason:
- ``get_scale``: the MSE search with the summed squared error instead of the mean (same argmin). With
  ``<=`` instead of ``<`` (the largest k on ties) it differs only when two candidate scales give exactly
  the same float error, which no graded input (nor any realistic data: the error is not flat in s for a
  tensor with a nonzero value) produces, so it is left out as equivalent in practice.
- ``quantized_conv2d_function``: ``bias.view(-1, 1, 1)`` or ``bias[:, None, None]`` instead of
  ``bias.view(1, -1, 1, 1)`` (the same broadcast), and likewise for a per-channel weight scale.
- ``greedy_bitwidth_path``: the score's numerator and denominator both negated, or sizes in bytes
  instead of weights (a common positive factor does not change the order of the scores).
"""

from compresslab.mutation import Mutant

LQ = "def linear_quantize(input: torch.Tensor, scale, zero_point, N_bits: int, signed: bool = True) -> torch.Tensor:"
LDQ = "def linear_dequantize(input: torch.Tensor, scale, zero_point) -> torch.Tensor:"
GS = 'MSE_CANDIDATES = 100  # the "mse" search tries s_sym * k / MSE_CANDIDATES for k = 1 ... MSE_CANDIDATES'
RS = 'def reset_scale_and_zero_point(input: torch.Tensor, N_bits: int = 4, method: str = "symmetric", signed: bool = True):'
STE = "class _quantize_func_STE(torch.autograd.Function):"
QL = "def quantized_linear_function(input: torch.Tensor, weight: torch.Tensor, bias, input_scale, weight_scale) -> torch.Tensor:"
GP = "def greedy_bitwidth_path(layer_sizes: dict, errors: dict, bit_choices=(8, 6, 5, 4, 3, 2)) -> list:"
BN = "def bn_statistics_loss(features: torch.Tensor, running_mean: torch.Tensor, running_var: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:"

LQ_ROUND = "torch.round(input / scale) - zero_point"
LQ_RANGE = "low, high = (-(2 ** (N_bits - 1)), 2 ** (N_bits - 1) - 1) if signed else (0, 2**N_bits - 1)"
SAWB_ALPHA = "alpha = c1 * (x**2).mean().sqrt() - c2 * x.abs().mean()"
MSE_IF = "if best_error is None or error < best_error:"
STE_MASK = "ctx.save_for_backward((unclipped >= low) & (unclipped <= high))"
QL_BIAS = "        accumulator = accumulator + bias\n    output = accumulator * (input_scale * weight_scale)"
QC_BIAS = "        accumulator = accumulator + bias.view(1, -1, 1, 1)\n"
QC_SCALE = "    weight_scale = torch.as_tensor(weight_scale, device=accumulator.device).view(1, -1, 1, 1)  # (1, C_out or 1, 1, 1)\n"
QC_CALL = "integer_conv2d(input, weight, stride, padding, dilation, groups)"
BN_MEAN = "mean = features.mean(dim=(0, 2, 3))  # (C,)"
BN_STD = "std = torch.sqrt(features.var(dim=(0, 2, 3), unbiased=False) + eps)  # (C,)"
BN_LOSS = "loss = ((mean - running_mean) ** 2).mean() + ((std - target_std) ** 2).mean()"
GP_SCORE = "score = (errors[name][lower] - errors[name][bits[name]]) / (size * (bits[name] - lower))"

HINTS = {  # what a student should look at, per function (without the code)
    "linear_quantize": "the order of the steps (scaling, rounding half to even, the zero point, clipping) and the zero point's sign in this notebook's convention, and the signed or unsigned range",
    "linear_dequantize": "undoing linear_quantize: which way the zero point goes back, and when the scale applies",
    "get_scale": "each method's formula: the symmetric max-abs, the MSE search over every candidate, SAWB's coefficients and the population statistics",
    "reset_scale_and_zero_point": "the asymmetric range (how many steps between min and max), the zero point's sign and rounding, a constant input, and passing signed on",
    "_quantize_func_STE": "the backward pass: pass the gradient straight through where the input was inside the range, zero outside",
    "quantized_linear_function": "the integer matmul, which scale the bias must be in when it is added to the accumulator, and the one rescale that follows",
    "quantized_conv2d_function": "integer convolution with the layer's stride and padding, the bias per output channel, the per-channel weight scale",
    "bn_statistics_loss": "which axes the statistics are taken over (the batch and the positions, per channel), the biased variance, eps inside both square roots, standard deviations rather than variances, the mean over channels, and keeping the gradient",
    "greedy_bitwidth_path": "the score of lowering a layer one step (what the error increase is divided by), which step you take (and which on a tie), and a new dict per step",
}

MUTANTS = [
    # linear_quantize
    Mutant("linear_quantize", "you rounded with floor instead of round", LQ, ((LQ_ROUND, "torch.floor(input / scale) - zero_point"),)),
    Mutant("linear_quantize", "you rounded halves away from zero instead of half to even", LQ,
           ((LQ_ROUND, "torch.sign(input / scale) * torch.floor((input / scale).abs() + 0.5) - zero_point"),)),
    Mutant("linear_quantize", "you added z instead of subtracting it", LQ, ((LQ_ROUND, "torch.round(input / scale) + zero_point"),)),
    Mutant("linear_quantize", "you subtracted z before rounding: round(x / s - z), which differs at halves when z is odd", LQ,
           ((LQ_ROUND, "torch.round(input / scale - zero_point)"),)),
    Mutant("linear_quantize", "you did not clip to the range", LQ, (("torch.clamp(torch.round(input / scale) - zero_point, low, high)", "torch.round(input / scale) - zero_point"),)),
    Mutant("linear_quantize", "your signed range is off by one: U = 2**(b-1) instead of 2**(b-1) - 1", LQ,
           ((LQ_RANGE, "low, high = (-(2 ** (N_bits - 1)), 2 ** (N_bits - 1)) if signed else (0, 2**N_bits - 1)"),)),
    Mutant("linear_quantize", "you clipped unsigned values to the signed range (ignoring signed)", LQ,
           ((LQ_RANGE, "low, high = (-(2 ** (N_bits - 1)), 2 ** (N_bits - 1) - 1)"),)),
    Mutant("linear_quantize", "you clipped before subtracting z: clip(round(x / s)) - z leaves the range", LQ,
           (("torch.clamp(torch.round(input / scale) - zero_point, low, high)", "torch.clamp(torch.round(input / scale), low, high) - zero_point"),)),
    Mutant("linear_quantize", "your unsigned range stops at 2**(b-1) - 1 instead of 2**b - 1", LQ, (("else (0, 2**N_bits - 1)", "else (0, 2 ** (N_bits - 1) - 1)"),)),
    # linear_dequantize
    Mutant("linear_dequantize", "you subtracted z instead of adding it", LDQ, (("scale * (input + zero_point)", "scale * (input - zero_point)"),)),
    Mutant("linear_dequantize", "you forgot the zero point", LDQ, (("scale * (input + zero_point)", "scale * input"),)),
    Mutant("linear_dequantize", "you added the zero point after scaling: s * x_int + z", LDQ, (("scale * (input + zero_point)", "scale * input + zero_point"),)),
    Mutant("linear_dequantize", "you divided by the scale instead of multiplying", LDQ, (("scale * (input + zero_point)", "(input + zero_point) / scale"),)),
    Mutant("linear_dequantize", "you subtracted the zero point after scaling (kmeans_linear's sign): s * x_int - z", LDQ,
           (("scale * (input + zero_point)", "scale * input - zero_point"),)),
    # get_scale
    Mutant("get_scale", "you swapped c1 and c2 in SAWB", GS, (("c1, c2 = SAWB_COEFFICIENTS[bits]", "c2, c1 = SAWB_COEFFICIENTS[bits]"),)),
    Mutant("get_scale", "you swapped E|x| and sqrt(E[x^2]) in SAWB", GS, ((SAWB_ALPHA, "alpha = c1 * x.abs().mean() - c2 * (x**2).mean().sqrt()"),)),
    Mutant("get_scale", "you left out SAWB's square root: c1 E[x^2] - c2 E|x|", GS, ((SAWB_ALPHA, "alpha = c1 * (x**2).mean() - c2 * x.abs().mean()"),)),
    Mutant("get_scale", "you took SAWB's unsigned scale from the b-bit row instead of the (b+1)-bit row", GS,
           (("bits = N_bits if signed else N_bits + 1", "bits = N_bits"),)),
    Mutant("get_scale", "you left out SAWB's fall-back to max|x|", GS, (("        if not 0 < alpha <= max_abs:\n            alpha = max_abs\n", ""),)),
    Mutant("get_scale", "you used Q = 2**(b-1) - 1 instead of 2**(b-1) (signed)", GS,
           (("levels = 2 ** (N_bits - 1) if signed else 2**N_bits", "levels = 2 ** (N_bits - 1) - 1 if signed else 2**N_bits"),)),
    Mutant("get_scale", "your 3-sigma range uses 2 standard deviations instead of 3", GS, (("alpha = 3 * (x.std(unbiased=False)", "alpha = 2 * (x.std(unbiased=False)"),)),
    Mutant("get_scale", "your 3-sigma range uses the unbiased (n - 1) standard deviation", GS, (("alpha = 3 * (x.std(unbiased=False)", "alpha = 3 * (x.std()"),)),
    Mutant("get_scale", "your MSE search returns the last candidate instead of the best", GS, ((MSE_IF, "if True:"),)),
    Mutant("get_scale", "your MSE search never tries k = 100 (range(1, MSE_CANDIDATES))", GS,
           (("for k in range(1, MSE_CANDIDATES + 1):", "for k in range(1, MSE_CANDIDATES):"),)),
    Mutant("get_scale", "your MSE search tries only the upper half of the candidates (k >= 50)", GS,
           (("for k in range(1, MSE_CANDIDATES + 1):", "for k in range(MSE_CANDIDATES // 2, MSE_CANDIDATES + 1):"),)),
    Mutant("get_scale", "for an all-zero input you returned scale 0 instead of 1.0", GS, (("    if max_abs == 0:\n        return 1.0\n", ""),)),
    # reset_scale_and_zero_point
    Mutant("reset_scale_and_zero_point", "your asymmetric zero point adds L instead of subtracting it", RS,
           (("zero_point = torch.round(minimum / scale) - low", "zero_point = torch.round(minimum / scale) + low"),)),
    Mutant("reset_scale_and_zero_point", "you did not round the asymmetric zero point", RS,
           (("zero_point = torch.round(minimum / scale) - low", "zero_point = minimum / scale - low"),)),
    Mutant("reset_scale_and_zero_point", "your asymmetric zero point has the opposite sign (kmeans_linear's Z = L - round(min / s))", RS,
           (("zero_point = torch.round(minimum / scale) - low", "zero_point = low - torch.round(minimum / scale)"),)),
    Mutant("reset_scale_and_zero_point", "your asymmetric range is off by one: (max - min) / 2**b", RS,
           (("(maximum - minimum) / (2**N_bits - 1)", "(maximum - minimum) / 2**N_bits"),)),
    Mutant("reset_scale_and_zero_point", "for a constant input (max == min) you returned scale 0 instead of 1.0", RS,
           (("(maximum - minimum) / (2**N_bits - 1) if maximum > minimum else torch.tensor(1.0)", "(maximum - minimum) / (2**N_bits - 1)"),)),
    Mutant("reset_scale_and_zero_point", "you forgot to pass signed to get_scale, so unsigned inputs get the signed scale", RS,
           (("get_scale(input, N_bits, method, signed)", "get_scale(input, N_bits, method)"),)),
    # _quantize_func_STE
    Mutant("_quantize_func_STE", "your backward blocks the gradient (returns zeros)", STE,
           (("grad_input = grad_output * inside", "grad_input = torch.zeros_like(grad_output)"),)),
    Mutant("_quantize_func_STE", "your backward leaks: it passes the gradient where the input was clipped", STE,
           (("grad_input = grad_output * inside", "grad_input = grad_output"),)),
    Mutant("_quantize_func_STE", "your backward returns the quantized value instead of a gradient", STE,
           ((STE_MASK + "\n        reconstructed_tensor = linear_dequantize(torch.clamp(unclipped, low, high), scale, zero_point)",
             "reconstructed_tensor = linear_dequantize(torch.clamp(unclipped, low, high), scale, zero_point)\n        ctx.save_for_backward(reconstructed_tensor)"),
            ("grad_input = grad_output * inside", "grad_input = inside"))),
    Mutant("_quantize_func_STE", "your mask excludes the top level U (< instead of <=)", STE, ((STE_MASK, "ctx.save_for_backward((unclipped >= low) & (unclipped < high))"),)),
    Mutant("_quantize_func_STE", "you built the mask from the unrounded x / s - z", STE,
           ((STE_MASK, "ctx.save_for_backward((input / scale - zero_point >= low) & (input / scale - zero_point <= high))"),)),
    Mutant("_quantize_func_STE", "your forward returns x_int instead of x_hat (no de-quantization)", STE,
           (("reconstructed_tensor = linear_dequantize(torch.clamp(unclipped, low, high), scale, zero_point)", "reconstructed_tensor = torch.clamp(unclipped, low, high)"),)),
    # quantized_linear_function
    Mutant("quantized_linear_function", "you forgot the linear layer's bias", QL, ((QL_BIAS, "        pass\n    output = accumulator * (input_scale * weight_scale)"),)),
    Mutant("quantized_linear_function", "you put the linear bias at scale s_w only", QL, ((QL_BIAS, "        pass\n    output = (accumulator * input_scale + bias) * weight_scale"),)),
    Mutant("quantized_linear_function", "you added the integer bias after scaling, as a real number", QL,
           ((QL_BIAS, "        pass\n    output = accumulator * (input_scale * weight_scale) + bias"),)),
    Mutant("quantized_linear_function", "you rescaled the output by s_x only", QL, ((QL_BIAS, "        accumulator = accumulator + bias\n    output = accumulator * input_scale"),)),
    Mutant("quantized_linear_function", "you applied F.linear to the integers instead of integer_linear", QL,
           (("accumulator = integer_linear(input, weight)", "accumulator = F.linear(input.float(), weight.float())"),)),
    # quantized_conv2d_function
    Mutant("quantized_conv2d_function", "you forgot the convolution's bias", QL, ((QC_BIAS, "        pass\n"),)),
    Mutant("quantized_conv2d_function", "you put the convolution's bias at scale s_w only", QL,
           ((QC_BIAS, "        pass\n"), (QC_SCALE + "    output = accumulator * (input_scale * weight_scale)",
                                          QC_SCALE + "    output = (accumulator * input_scale + (0 if bias is None else bias.view(1, -1, 1, 1))) * weight_scale"))),
    Mutant("quantized_conv2d_function", "you added the bias along the last (width) axis instead of per output channel", QL,
           ((QC_BIAS, "        accumulator = accumulator + bias\n"),)),
    Mutant("quantized_conv2d_function", "you broadcast the per-channel weight scale along the last (width) axis", QL, ((QC_SCALE, ""),)),
    Mutant("quantized_conv2d_function", "you forgot stride, padding, dilation and groups", QL, ((QC_CALL, "integer_conv2d(input, weight)"),)),
    Mutant("quantized_conv2d_function", "you forgot groups", QL, ((QC_CALL, "integer_conv2d(input, weight, stride, padding, dilation)"),)),
    Mutant("quantized_conv2d_function", "you forgot dilation", QL, ((QC_CALL, "integer_conv2d(input, weight, stride, padding, 1, groups)"),)),
    Mutant("quantized_conv2d_function", "you applied F.conv2d to the integers instead of integer_conv2d", QL,
           ((QC_CALL, "F.conv2d(input.float(), weight.float(), None, stride, padding, dilation, groups)"),)),
    # greedy_bitwidth_path
    Mutant("greedy_bitwidth_path", "you picked the last layer on ties (<= instead of <)", GP, (("if best is None or score < best[0]:", "if best is None or score <= best[0]:"),)),
    Mutant("greedy_bitwidth_path", "you took the step with the largest score", GP, (("if best is None or score < best[0]:", "if best is None or score > best[0]:"),)),
    Mutant("greedy_bitwidth_path", "you did not divide the score by the bits saved", GP, ((GP_SCORE, "score = (errors[name][lower] - errors[name][bits[name]]) / size"),)),
    Mutant("greedy_bitwidth_path", "you did not divide the score by the layer size", GP, ((GP_SCORE, "score = (errors[name][lower] - errors[name][bits[name]]) / (bits[name] - lower)"),)),
    Mutant("greedy_bitwidth_path", "you appended the same dict every step (no copy)", GP, (("path.append(dict(bits))", "path.append(bits)"),)),
    Mutant("greedy_bitwidth_path", "you lowered a layer straight to the smallest bit width", GP, (("lower = choices[position + 1]", "lower = choices[-1]"),)),
    Mutant("greedy_bitwidth_path", "you lowered the largest layer first, ignoring the errors", GP, ((GP_SCORE, "score = -size"),)),
    # bn_statistics_loss
    Mutant("bn_statistics_loss", "you used the unbiased (n - 1) variance instead of batch norm's biased one", BN,
           ((BN_STD, "std = torch.sqrt(features.var(dim=(0, 2, 3), unbiased=True) + eps)  # (C,)"),)),
    Mutant("bn_statistics_loss", "you left eps out of the batch's standard deviation", BN,
           ((BN_STD, "std = torch.sqrt(features.var(dim=(0, 2, 3), unbiased=False))  # (C,)"),)),
    Mutant("bn_statistics_loss", "you compared variances instead of standard deviations", BN,
           ((BN_STD, "std = features.var(dim=(0, 2, 3), unbiased=False) + eps  # (C,)"),
            ("target_std = torch.sqrt(running_var + eps)", "target_std = running_var + eps"))),
    Mutant("bn_statistics_loss", "you took each image's statistics (over H, W) instead of the batch's (over N, H, W), as ZeroQ's code does", BN,
           ((BN_MEAN, "mean = features.mean(dim=(2, 3))  # (N, C)"),
            (BN_STD, "std = torch.sqrt(features.var(dim=(2, 3), unbiased=False) + eps)  # (N, C)"))),
    Mutant("bn_statistics_loss", "you summed over the channels instead of averaging", BN,
           ((BN_LOSS, "loss = ((mean - running_mean) ** 2).sum() + ((std - target_std) ** 2).sum()"),)),
    Mutant("bn_statistics_loss", "your loss matches the means only, not the standard deviations", BN,
           ((BN_LOSS, "loss = ((mean - running_mean) ** 2).mean()"),)),
    Mutant("bn_statistics_loss", "you took absolute differences instead of squared ones", BN,
           ((BN_LOSS, "loss = (mean - running_mean).abs().mean() + (std - target_std).abs().mean()"),)),
    Mutant("bn_statistics_loss", "you detached the features, so no gradient reaches the images", BN,
           ((BN_MEAN, "features = features.detach()\n    mean = features.mean(dim=(0, 2, 3))  # (C,)"),)),
]
