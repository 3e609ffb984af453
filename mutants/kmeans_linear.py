"""Wrong implementations of the kmeans_linear graded functions: each must lose points.

Most edits stay inside the student's part of a cell (the ``# YOUR CODE HERE`` lines of the
release); a few change the given scaffold where students are known to rewrite it (the seed's
template cast to ``int8`` before adding the zero point, a missing clamp, padding with 0, a 32-bit
bias quantized as ``int8``): their descriptions start "in the given code".

Equivalent or test-invisible mutants left out, with the reason:
* ``k_means_quantize``: decoding without ``.view_as`` (the given ``set_(...view_as(...))`` reshapes
  anyway); ``n_clusters = 1 << bitwidth`` or ``2 ** bitwidth`` written as ``int(math.pow(2, b))``
  (same number); decoding through sorted centroids (``kmeans_1d`` returns them sorted already).
* ``update_codebook``: ``fp32_tensor[labels == k].sum() / (labels == k).sum()`` with the empty-
  cluster guard (the same mean up to float rounding, far inside the tests' tolerance); updating through ``codebook.centroids.data[k]`` (same storage).
* ``linear_quantize``: adding the zero point before rounding, ``round(r / S + Z)``, and ``r * (1 / S)``
  instead of ``r / S``: they differ from the reference only on exact .5 ties, which the random
  fixtures exclude on purpose (``TIE_MARGIN``), because a correct answer may order its float
  operations either way; the one tie case (``linear_quantize_ties``: a power-of-two scale and an
  even zero point) gives them the reference's answer too. Rounding halves away from zero is caught there.
* ``get_quantization_scale_and_zero_point``: the zero point from the maximum,
  ``q_max - r_max / S`` (algebraically equal to ``q_min - r_min / S``; differs only on ties).
* ``get_quantization_scale_for_weight``: ``max|w| + 5e-7`` instead of ``max(max|w|, 5e-7)``
  (a relative change below 1e-5 of the scale: it cannot change a quantized weight except on a
  tie, so it is not a mistake worth points).
* ``quantized_linear`` / ``quantized_conv2d``: rounding before adding the output zero point (the
  zero point is an integer: the same except on ties), and ``S_in * (S_w / S_out)`` vs
  ``(S_in * S_w) / S_out`` (float reordering, ties only); accumulating in float32 instead of
  int32 (exact while the sums stay below 2**24, as they do for int8 layers of this size).
* ``get_quantized_range``: ``2 ** (b - 1) - 1`` and ``-2 ** (b - 1)`` instead of the shifts (the same ints).
* ``extra_preprocess``: ``x / (1 / 128)`` instead of ``x * 128`` (exact in float: 1/128 is a power of two).
* ``fuse_conv_bn``: ``rsqrt(var + eps)`` and ``(var + eps) ** -0.5`` (same factor up to rounding).
"""

from compresslab.mutation import Mutant

KMQ = "def k_means_quantize(fp32_tensor: torch.Tensor, bitwidth=4, codebook=None):"
UCB = "def update_codebook(fp32_tensor: torch.Tensor, codebook: Codebook):"
QR = "def get_quantized_range(bitwidth):"
LQ = "def linear_quantize(fp_tensor, bitwidth, scale, zero_point, dtype=torch.int8) -> torch.Tensor:"
CHOICES = '# Questions 5.1 and 5.2: your choices, one capital letter each ("A", "B", "C" or "D"):'
SZP = "def get_quantization_scale_and_zero_point(fp_tensor, bitwidth):"
WS = "def get_quantization_scale_for_weight(weight, bitwidth):"
QB = "def linear_quantize_bias_per_output_channel(bias, weight_scale, input_scale):"
SLB = "def shift_quantized_linear_bias(quantized_bias, quantized_weight, input_zero_point):"
QL = "def quantized_linear(input, weight, bias, feature_bitwidth, weight_bitwidth,"
SCB = "def shift_quantized_conv2d_bias(quantized_bias, quantized_weight, input_zero_point):"
QC = "def quantized_conv2d(input, weight, bias, feature_bitwidth, weight_bitwidth,"
FUSE = "def fuse_conv_bn(conv, bn):"
PRE = "def extra_preprocess(x):"

# the answer lines of the reference, edited below
N_CLUSTERS = "n_clusters = 2 ** bitwidth"
DECODE = "quantized_tensor = codebook.centroids[codebook.labels].view_as(fp32_tensor)"
UPDATE = "        members = fp32_tensor[codebook.labels == k]\n        if members.numel() > 0:\n            codebook.centroids[k] = members.mean()"
QMAX = "quantized_max = (1 << (bitwidth - 1)) - 1"
QMIN = "quantized_min = -(1 << (bitwidth - 1))"
SCALED = "scaled_tensor = fp_tensor / scale"
ROUNDED = "rounded_tensor = torch.round(scaled_tensor)"
SHIFTED = "shifted_tensor = rounded_tensor + zero_point"
SCALE = "scale = (fp_max - fp_min) / (quantized_max - quantized_min)"
ZERO_POINT = "zero_point = quantized_min - fp_min / scale"
FP_MAX_W = "fp_max = max(weight.abs().max().item(), 5e-7)"
W_SCALE = "scale = fp_max / quantized_max"
BIAS_SCALE = "bias_scale = weight_scale * input_scale"
SHIFT_L = "shifted_quantized_bias = quantized_bias - quantized_weight.sum(1).to(torch.int32) * input_zero_point"
SHIFT_C = "shifted_quantized_bias = quantized_bias - quantized_weight.sum((1, 2, 3)).to(torch.int32) * input_zero_point"
RESCALE_L = "output = output.float() * (input_scale * weight_scale / output_scale).view(1, -1)"
RESCALE_C = "output = output.float() * (input_scale * weight_scale / output_scale).view(1, -1, 1, 1)"
ADD_ZP = "output = output + output_zero_point"
CLAMP = "output = output.round().clamp(*get_quantized_range(feature_bitwidth)).to(torch.int8)"
FACTOR = "factor = bn.weight.data / torch.sqrt(bn.running_var.data + bn.eps)"
FUSED_BIAS = "conv.bias = nn.Parameter(- bn.running_mean.data * factor + bn.bias.data)"
PREPROCESS = "quantized_x = (x * 128).round().clamp(-128, 127).to(torch.int8)"

HINTS = {  # what a student should look at, per function (without the code)
    "k_means_quantize": "the number of clusters for the bitwidth, the codebook= path, and decoding every element through its label",
    "update_codebook": "each centroid must become the mean of the elements labelled with it; a cluster with no element keeps its centroid",
    "get_quantized_range": "the signed range of a b-bit integer: its lowest and its highest value, and their type",
    "linear_quantize": "the order of the steps (scaling, rounding half to even, the zero point, clamping, the cast) and which way each one goes",
    "scale_choice, zero_point_choice": "which formula maps [r_min, r_max] onto [q_min, q_max] exactly",
    "get_quantization_scale_and_zero_point": "the range each end of [r_min, r_max] maps to, the zero point's rounding and clamping",
    "get_quantization_scale_for_weight": "the symmetric scale: which magnitude maps to the largest positive integer, and an all-zero weight",
    "linear_quantize_bias_per_output_channel": "the bias scale (weight scale times input scale, per output channel), zero point 0, 32 bits",
    "shift_quantized_linear_bias": "what the input zero point adds to each output: the sum of that output's integer weights times it",
    "quantized_linear": "the steps after the integer accumulation: the bias, the per-output-channel rescale (which scales, multiplied or divided), the output zero point, round and clamp",
    "shift_quantized_conv2d_bias": "what the input zero point adds to each output channel: the sum of that channel's integer weights times it",
    "quantized_conv2d": "padding with the input zero point, integer accumulation, the per-channel rescale, the output zero point, round and clamp",
    "fuse_conv_bn": "the per-output-channel factor BatchNorm applies (which parameters and statistics, and where eps goes), and how it changes the weights and the bias",
    "extra_preprocess": "how the input's range [-1, 1) maps onto int8 (which scale, which direction), rounding, and the values that fall outside [-128, 127]",
}

MUTANTS = [
    # k_means_quantize (Question 1)
    Mutant("k_means_quantize", "you made 2**b - 1 clusters instead of 2**b", KMQ, ((N_CLUSTERS, "n_clusters = 2 ** bitwidth - 1"),)),
    Mutant("k_means_quantize", "you made b clusters instead of 2**b", KMQ, ((N_CLUSTERS, "n_clusters = bitwidth"),)),
    Mutant("k_means_quantize", "you made 2 * b clusters instead of 2**b (right only at 2 bits)", KMQ, ((N_CLUSTERS, "n_clusters = 2 * bitwidth"),)),
    Mutant("k_means_quantize", "you made 2**(b-1) clusters (the signed range) instead of 2**b", KMQ, ((N_CLUSTERS, "n_clusters = 2 ** (bitwidth - 1)"),)),
    Mutant("k_means_quantize", "you decode only when clustering, so a given codebook leaves the tensor unchanged", KMQ,
           (("        codebook = Codebook(centroids, labels)\n    # decode the codebook into k-means quantized tensor for inference\n    # hint: one line of code\n"
             "    quantized_tensor = codebook.centroids[codebook.labels].view_as(fp32_tensor)\n    fp32_tensor.set_(quantized_tensor.view_as(fp32_tensor))",
             "        codebook = Codebook(centroids, labels)\n        # decode the codebook into k-means quantized tensor for inference\n"
             "        quantized_tensor = codebook.centroids[codebook.labels].view_as(fp32_tensor)\n        fp32_tensor.set_(quantized_tensor.view_as(fp32_tensor))"),)),
    Mutant("k_means_quantize", "you always re-cluster, ignoring a given codebook", KMQ, (("if codebook is None:", "if True:"),)),
    Mutant("k_means_quantize", "you decoded the labels instead of the centroids they point to", KMQ, ((DECODE, "quantized_tensor = codebook.labels.float().view_as(fp32_tensor)"),)),
    # update_codebook (Question 3)
    Mutant("update_codebook", "as the seed's one-liner did: you divided the sum by the count, which gives NaN for an empty cluster", UCB,
           ((UPDATE, "        codebook.centroids[k] = torch.sum((codebook.labels == k) * fp32_tensor) / torch.sum(codebook.labels == k)"),)),
    Mutant("update_codebook", "you took the median instead of the mean", UCB, (("codebook.centroids[k] = members.mean()", "codebook.centroids[k] = members.median()"),)),
    Mutant("update_codebook", "you took the sum instead of the mean", UCB, (("codebook.centroids[k] = members.mean()", "codebook.centroids[k] = members.sum()"),)),
    Mutant("update_codebook", "you reset an empty cluster to 0 (as fast_pytorch_kmeans does) instead of keeping its centroid", UCB,
           ((UPDATE, UPDATE + "\n        else:\n            codebook.centroids[k] = 0.0"),)),
    Mutant("update_codebook", "you never update the last cluster: range(n_clusters - 1)", UCB, (("for k in range(n_clusters):", "for k in range(n_clusters - 1):"),)),
    Mutant("update_codebook", "you updated a copy of the centroids, not the codebook's own", UCB,
           (("    fp32_tensor = fp32_tensor.view(-1)\n", "    fp32_tensor = fp32_tensor.view(-1)\n    centroids = codebook.centroids.clone()\n"),
            ("codebook.centroids[k] = members.mean()", "centroids[k] = members.mean()"))),
    Mutant("update_codebook", "you took the mean of the magnitudes instead of the mean of the values", UCB, (("codebook.centroids[k] = members.mean()", "codebook.centroids[k] = members.abs().mean()"),)),
    # get_quantized_range (Question 4)
    Mutant("get_quantized_range", "your range is off by one: q_max = 2**(b-1) instead of 2**(b-1) - 1", QR, ((QMAX, "quantized_max = (1 << (bitwidth - 1))"),)),
    Mutant("get_quantized_range", "you returned the unsigned range [0, 2**b - 1] instead of the signed one", QR, ((QMAX, "quantized_max = (1 << bitwidth) - 1"), (QMIN, "quantized_min = 0"))),
    Mutant("get_quantized_range", "you returned the symmetric range [-(2**(b-1) - 1), 2**(b-1) - 1], one level short at the bottom", QR, ((QMIN, "quantized_min = -(1 << (bitwidth - 1)) + 1"),)),
    Mutant("get_quantized_range", "you gave b bits to the magnitude: [-2**b, 2**b - 1]", QR, ((QMAX, "quantized_max = (1 << bitwidth) - 1"), (QMIN, "quantized_min = -(1 << bitwidth)"))),
    Mutant("get_quantized_range", "you returned (max, min) instead of (min, max)", QR, (("return quantized_min, quantized_max", "return quantized_max, quantized_min"),)),
    Mutant("get_quantized_range", "you returned floats (2**b / 2 - 1) instead of ints", QR, ((QMAX, "quantized_max = 2 ** bitwidth / 2 - 1"), (QMIN, "quantized_min = -2 ** bitwidth / 2"))),
    # linear_quantize (Question 4)
    Mutant("linear_quantize", "you rounded with floor instead of round", LQ, ((ROUNDED, "rounded_tensor = torch.floor(scaled_tensor)"),)),
    Mutant("linear_quantize", "you rounded halves up, floor(x + 0.5), instead of half to even", LQ, ((ROUNDED, "rounded_tensor = torch.floor(scaled_tensor + 0.5)"),)),
    Mutant("linear_quantize", "you rounded halves away from zero, sign(x) * floor(|x| + 0.5), instead of half to even", LQ,
           ((ROUNDED, "rounded_tensor = torch.sign(scaled_tensor) * torch.floor(scaled_tensor.abs() + 0.5)"),)),
    Mutant("linear_quantize", "you did not round, so the int cast truncates", LQ, ((ROUNDED, "rounded_tensor = scaled_tensor"),)),
    Mutant("linear_quantize", "you multiplied by the scale instead of dividing", LQ, ((SCALED, "scaled_tensor = fp_tensor * scale"),)),
    Mutant("linear_quantize", "your zero point has the wrong sign: r/S - Z", LQ, ((SHIFTED, "shifted_tensor = rounded_tensor - zero_point"),)),
    Mutant("linear_quantize", "in the given code, as the seed's template does: you cast to int8 before adding the zero point, so values beyond 127 wrap", LQ,
           (("rounded_tensor = rounded_tensor.to(torch.int64)", "rounded_tensor = rounded_tensor.to(dtype)"),)),
    Mutant("linear_quantize", "in the given code, you removed the clamp before the cast, so out-of-range values wrap", LQ, (("shifted_tensor.clamp_(quantized_min, quantized_max).to(dtype)", "shifted_tensor.to(dtype)"),)),
    Mutant("linear_quantize", "you clamped to the 8-bit range whatever the bit width", LQ,
           (("quantized_min, quantized_max = get_quantized_range(bitwidth)", "quantized_min, quantized_max = get_quantized_range(8)"),)),
    # Question 5.1 / 5.2 multiple choice
    Mutant("scale_choice, zero_point_choice", "in 5.1 you chose A, S = r_max / q_max", CHOICES, (('scale_choice = "C"', 'scale_choice = "A"'),)),
    Mutant("scale_choice, zero_point_choice", "in 5.1 you chose B, S = (r_max + r_min) / (q_max + q_min)", CHOICES, (('scale_choice = "C"', 'scale_choice = "B"'),)),
    Mutant("scale_choice, zero_point_choice", "in 5.1 you chose D", CHOICES, (('scale_choice = "C"', 'scale_choice = "D"'),)),
    Mutant("scale_choice, zero_point_choice", "in 5.2 you chose A, Z = round(r_min - q_min)", CHOICES, (('zero_point_choice = "D"', 'zero_point_choice = "A"'),)),
    Mutant("scale_choice, zero_point_choice", "in 5.2 you chose C, a Z that is not rounded", CHOICES, (('zero_point_choice = "D"', 'zero_point_choice = "C"'),)),
    Mutant("scale_choice, zero_point_choice", "in 5.2 you chose B", CHOICES, (('zero_point_choice = "D"', 'zero_point_choice = "B"'),)),
    # get_quantization_scale_and_zero_point (Question 5.3)
    Mutant("get_quantization_scale_and_zero_point", "your scale is r_max / q_max (choice A)", SZP, ((SCALE, "scale = fp_max / quantized_max"),)),
    Mutant("get_quantization_scale_and_zero_point", "your scale divides by 2**b steps instead of 2**b - 1", SZP, ((SCALE, "scale = (fp_max - fp_min) / (1 << bitwidth)"),)),
    Mutant("get_quantization_scale_and_zero_point", "you took the symmetric scale max|r| / q_max", SZP, ((SCALE, "scale = max(abs(fp_max), abs(fp_min)) / quantized_max"),)),
    Mutant("get_quantization_scale_and_zero_point", "your zero point has the wrong sign: q_min + r_min / S", SZP, ((ZERO_POINT, "zero_point = quantized_min + fp_min / scale"),)),
    Mutant("get_quantization_scale_and_zero_point", "your zero point forgets the scale: q_min - r_min (choice B)", SZP, ((ZERO_POINT, "zero_point = quantized_min - fp_min"),)),
    Mutant("get_quantization_scale_and_zero_point", "you truncated the zero point with int() instead of rounding it", SZP, (("zero_point = round(zero_point)", "zero_point = int(zero_point)"),)),
    Mutant("get_quantization_scale_and_zero_point", "you return early: the zero point is rounded but not clamped", SZP,
           ((ZERO_POINT, ZERO_POINT + "\n    return scale, int(round(zero_point))"),)),
    # get_quantization_scale_for_weight (Question 6)
    Mutant("get_quantization_scale_for_weight", "you took the maximum instead of the maximum absolute value", WS, ((FP_MAX_W, "fp_max = max(weight.max().item(), 5e-7)"),)),
    Mutant("get_quantization_scale_for_weight", "your range is off by one: you divided max|w| by 2**(b-1) instead of 2**(b-1) - 1", WS, ((W_SCALE, "scale = fp_max / (quantized_max + 1)"),)),
    Mutant("get_quantization_scale_for_weight", "you left out the lower bound on max|w|, so an all-zero weight gets scale 0", WS, ((FP_MAX_W, "fp_max = weight.abs().max().item()"),)),
    Mutant("get_quantization_scale_for_weight", "you used the affine formula on [-max|w|, max|w|]: 2 max|w| / (q_max - q_min)", WS,
           ((W_SCALE, "quantized_min, _ = get_quantized_range(bitwidth)\n    scale = 2 * fp_max / (quantized_max - quantized_min)"),)),
    Mutant("get_quantization_scale_for_weight", "you took a 3-sigma range instead of max|w|", WS, ((FP_MAX_W, "fp_max = max(3 * weight.std().item(), 5e-7)"),)),
    Mutant("get_quantization_scale_for_weight", "you divided by the unsigned maximum 2**b - 1", WS, ((W_SCALE, "scale = fp_max / ((1 << bitwidth) - 1)"),)),
    # linear_quantize_bias_per_output_channel (Question 7)
    Mutant("linear_quantize_bias_per_output_channel", "your bias scale forgets the input scale", QB, ((BIAS_SCALE, "bias_scale = weight_scale"),)),
    Mutant("linear_quantize_bias_per_output_channel", "your bias scale forgets the weight scale", QB, ((BIAS_SCALE, "bias_scale = input_scale"),)),
    Mutant("linear_quantize_bias_per_output_channel", "you divided the weight scale by the input scale instead of multiplying", QB, ((BIAS_SCALE, "bias_scale = weight_scale / input_scale"),)),
    Mutant("linear_quantize_bias_per_output_channel", "you went per-tensor: the largest weight scale for every channel", QB, ((BIAS_SCALE, "bias_scale = weight_scale.max() * input_scale"),)),
    Mutant("linear_quantize_bias_per_output_channel", "in the given code, you quantized the bias to 8 bits, as int8", QB,
           (("linear_quantize(bias, 32, bias_scale,\n                                     zero_point=0, dtype=torch.int32)", "linear_quantize(bias, 8, bias_scale,\n                                     zero_point=0, dtype=torch.int8)"),)),
    Mutant("linear_quantize_bias_per_output_channel", "in the given code, you clamped the bias to 8 bits but stored it as int32", QB,
           (("linear_quantize(bias, 32, bias_scale,", "linear_quantize(bias, 8, bias_scale,"),)),
    # shift_quantized_linear_bias (Question 8)
    Mutant("shift_quantized_linear_bias", "you left the input zero point out of the linear bias shift", SLB, ((SHIFT_L, "shifted_quantized_bias = quantized_bias - quantized_weight.sum(1).to(torch.int32)"),)),
    Mutant("shift_quantized_linear_bias", "you added the linear weight-sum term to the bias instead of subtracting it", SLB, ((SHIFT_L, "shifted_quantized_bias = quantized_bias + quantized_weight.sum(1).to(torch.int32) * input_zero_point"),)),
    Mutant("shift_quantized_linear_bias", "you summed the weight's columns (dim 0) instead of its rows", SLB, ((SHIFT_L, "shifted_quantized_bias = quantized_bias - quantized_weight.sum(0).to(torch.int32) * input_zero_point"),)),
    Mutant("shift_quantized_linear_bias", "your shifted linear bias is int64, not int32", SLB, ((SHIFT_L, "shifted_quantized_bias = quantized_bias - quantized_weight.sum(1) * input_zero_point"),)),
    Mutant("shift_quantized_linear_bias", "you multiplied in int8 before summing each row, so the products wrap", SLB,
           ((SHIFT_L, "shifted_quantized_bias = quantized_bias - (quantized_weight * input_zero_point).sum(1).to(torch.int32)"),)),
    Mutant("shift_quantized_linear_bias", "you went per-tensor: the sum of the whole weight for every channel", SLB, ((SHIFT_L, "shifted_quantized_bias = quantized_bias - quantized_weight.sum().to(torch.int32) * input_zero_point"),)),
    # quantized_linear (Question 8)
    Mutant("quantized_linear", "you forgot the linear layer's output zero point", QL, ((ADD_ZP, "output = output"),)),
    Mutant("quantized_linear", "you gave the linear layer's output zero point the wrong sign", QL, ((ADD_ZP, "output = output - output_zero_point"),)),
    Mutant("quantized_linear", "you multiplied the linear output by the output scale instead of dividing by it", QL, ((RESCALE_L, "output = output.float() * (input_scale * weight_scale * output_scale).view(1, -1)"),)),
    Mutant("quantized_linear", "you went per-tensor: the first channel's weight scale for every channel", QL, ((RESCALE_L, "output = output.float() * (input_scale * weight_scale[0] / output_scale)"),)),
    Mutant("quantized_linear", "you forgot the weight scale when rescaling the linear output", QL, ((RESCALE_L, "output = output.float() * (input_scale / output_scale)"),)),
    Mutant("quantized_linear", "you truncated the rescaled output before adding the zero point", QL, ((RESCALE_L, RESCALE_L + ".to(torch.int32)"),)),
    Mutant("quantized_linear", "you added the linear layer's output zero point before rescaling", QL,
           ((RESCALE_L + "\n    " + ADD_ZP, "output = (output + output_zero_point).float() * (input_scale * weight_scale / output_scale).view(1, -1)"),)),
    Mutant("quantized_linear", "you did not reshape the weight scale (oc, 1) to (1, oc)", QL, ((RESCALE_L, "output = output.float() * (input_scale * weight_scale / output_scale)"),)),
    Mutant("quantized_linear", "in the given code, you removed the clamp to the feature range", QL, ((CLAMP, "output = output.round().to(torch.int8)"),)),
    Mutant("quantized_linear", "in the given code, you clamped to the weight bit width's range instead of the feature's", QL, ((CLAMP, CLAMP.replace("feature_bitwidth", "weight_bitwidth")),)),
    # shift_quantized_conv2d_bias (Question 9)
    Mutant("shift_quantized_conv2d_bias", "you left the input zero point out of the conv bias shift", SCB, ((SHIFT_C, "shifted_quantized_bias = quantized_bias - quantized_weight.sum((1, 2, 3)).to(torch.int32)"),)),
    Mutant("shift_quantized_conv2d_bias", "you added the conv weight-sum term to the bias instead of subtracting it", SCB, ((SHIFT_C, "shifted_quantized_bias = quantized_bias + quantized_weight.sum((1, 2, 3)).to(torch.int32) * input_zero_point"),)),
    Mutant("shift_quantized_conv2d_bias", "you summed over the kernel only, then took the first input channel", SCB,
           ((SHIFT_C, "shifted_quantized_bias = quantized_bias - quantized_weight.sum((2, 3))[:, 0].to(torch.int32) * input_zero_point"),)),
    Mutant("shift_quantized_conv2d_bias", "your shifted conv bias is int64, not int32", SCB, ((SHIFT_C, "shifted_quantized_bias = quantized_bias - quantized_weight.sum((1, 2, 3)) * input_zero_point"),)),
    Mutant("shift_quantized_conv2d_bias", "you multiplied in int8 before summing each filter, so the products wrap", SCB,
           ((SHIFT_C, "shifted_quantized_bias = quantized_bias - (quantized_weight * input_zero_point).sum((1, 2, 3)).to(torch.int32)"),)),
    Mutant("shift_quantized_conv2d_bias", "you used only the centre tap of each filter (a 1x1 view of the kernel)", SCB,
           ((SHIFT_C, "k = quantized_weight.shape[-1] // 2\n    shifted_quantized_bias = quantized_bias - quantized_weight[:, :, k, k].sum(1).to(torch.int32) * input_zero_point"),)),
    # quantized_conv2d (Question 9)
    Mutant("quantized_conv2d", "you forgot the convolution's output zero point", QC, ((ADD_ZP, "output = output"),)),
    Mutant("quantized_conv2d", "you gave the convolution's output zero point the wrong sign", QC, ((ADD_ZP, "output = output - output_zero_point"),)),
    Mutant("quantized_conv2d", "you multiplied the convolution's output by the output scale instead of dividing by it", QC, ((RESCALE_C, "output = output.float() * (input_scale * weight_scale * output_scale).view(1, -1, 1, 1)"),)),
    Mutant("quantized_conv2d", "you went per-tensor: the mean weight scale for every channel", QC, ((RESCALE_C, "output = output.float() * (input_scale * weight_scale.mean() / output_scale)"),)),
    Mutant("quantized_conv2d", "you forgot the input scale when rescaling the convolution's output", QC, ((RESCALE_C, "output = output.float() * (weight_scale / output_scale).view(1, -1, 1, 1)"),)),
    Mutant("quantized_conv2d", "you added the convolution's output zero point before rescaling", QC,
           ((RESCALE_C + "\n    " + ADD_ZP, "output = (output + output_zero_point).float() * (input_scale * weight_scale / output_scale).view(1, -1, 1, 1)"),)),
    Mutant("quantized_conv2d", "you did not reshape the weight scale (oc, 1, 1, 1) to (1, oc, 1, 1)", QC, ((RESCALE_C, "output = output.float() * (input_scale * weight_scale / output_scale)"),)),
    Mutant("quantized_conv2d", "in the given code, you removed the clamp of the convolution's output, so the int8 cast wraps", QC, ((CLAMP, "output = output.round().to(torch.int8)"),)),
    Mutant("quantized_conv2d", "in the given code, you padded with 0 instead of the input zero point", QC,
           (("input = torch.nn.functional.pad(input, padding, 'constant', input_zero_point)", "input = torch.nn.functional.pad(input, padding, 'constant', 0)"),)),
    # fuse_conv_bn (Question 10)
    Mutant("fuse_conv_bn", "you forgot eps", FUSE, ((FACTOR, "factor = bn.weight.data / torch.sqrt(bn.running_var.data)"),)),
    Mutant("fuse_conv_bn", "you forgot the BatchNorm bias (beta)", FUSE, ((FUSED_BIAS, "conv.bias = nn.Parameter(- bn.running_mean.data * factor)"),)),
    Mutant("fuse_conv_bn", "you forgot the running mean", FUSE, ((FUSED_BIAS, "conv.bias = nn.Parameter(bn.bias.data.clone())"),)),
    Mutant("fuse_conv_bn", "you divided by the variance instead of the standard deviation", FUSE, ((FACTOR, "factor = bn.weight.data / (bn.running_var.data + bn.eps)"),)),
    Mutant("fuse_conv_bn", "you did not multiply the running mean by the factor", FUSE, ((FUSED_BIAS, "conv.bias = nn.Parameter(bn.bias.data - bn.running_mean.data)"),)),
    Mutant("fuse_conv_bn", "you added the scaled mean instead of subtracting it", FUSE, ((FUSED_BIAS, "conv.bias = nn.Parameter(bn.running_mean.data * factor + bn.bias.data)"),)),
    Mutant("fuse_conv_bn", "you forgot gamma", FUSE, ((FACTOR, "factor = 1 / torch.sqrt(bn.running_var.data + bn.eps)"),)),
    # extra_preprocess (Question 11)
    Mutant("extra_preprocess", "as the lab does: you computed 255 x - 128, which is meant for images in [0, 1]", PRE, ((PREPROCESS, "quantized_x = (x * 255 - 128).round().clamp(-128, 127).to(torch.int8)"),)),
    Mutant("extra_preprocess", "you mapped [-1, 1] onto [-128, 127] affinely: (x + 1) / 2 * 255 - 128", PRE,
           ((PREPROCESS, "quantized_x = ((x + 1) / 2 * 255 - 128).round().clamp(-128, 127).to(torch.int8)"),)),
    Mutant("extra_preprocess", "you multiplied by 127 instead of 128", PRE, ((PREPROCESS, "quantized_x = (x * 127).round().clamp(-128, 127).to(torch.int8)"),)),
    Mutant("extra_preprocess", "you did not clamp, so 1 becomes 128, which wraps to -128", PRE, ((PREPROCESS, "quantized_x = (x * 128).round().to(torch.int8)"),)),
    Mutant("extra_preprocess", "you did not round, so the int8 cast truncates", PRE, ((PREPROCESS, "quantized_x = (x * 128).clamp(-128, 127).to(torch.int8)"),)),
    Mutant("extra_preprocess", "you divided by 128 instead of multiplying (scale direction)", PRE, ((PREPROCESS, "quantized_x = (x / 128).round().clamp(-128, 127).to(torch.int8)"),)),
]
