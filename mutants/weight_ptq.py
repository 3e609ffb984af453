"""Wrong implementations of the weight_ptq graded functions: each must lose points.

Left out as equivalent: rounding the signed value ``uniform_quant(input_c, b)`` instead of its magnitude
(``torch.round`` sends halves to even, so it is symmetric about 0 and gives the same values as sign-magnitude).
"""

from compresslab.mutation import Mutant

WQ = "def weight_quantization(b):"
WA = "def weight_alpha(weight: torch.Tensor) -> float:"
QC = "def quantize_conv_weights(model: nn.Module, w_bit: int) -> nn.Module:"
ALPHA = "    alpha = 3 * weight.std(correction=0).item()"
QUANTIZE_LAYER = ("            quantizer = weight_quantize_fn(w_bit)\n            quantizer.wgt_alpha = weight_alpha(layer.weight.data)\n"
                  "            layer.weight.data = quantizer(layer.weight.data)")

HINTS = {  # what a student should look at, per function (without the code)
    "weight_quantization": "the order of the steps (divide by alpha, clip to [-1, 1], round the magnitude on steps of 1 / (2**b - 1), sign, times alpha) and how you round",
    "weight_alpha": "which spread of the weights you take (about their mean, over all elements), np.std's divisor n, and the factor 3",
    "quantize_conv_weights": "which layers you quantize (every nn.Conv2d, nothing else), how many bits the quantizer gets (weight_quantize_fn spends one on the sign), and whose weights set each layer's alpha",
}

MUTANTS = [
    # weight_quantization
    Mutant("weight_quantization", "you rounded the magnitude with floor instead of round", WQ, (("xdiv.round()", "xdiv.floor()"),)),
    Mutant("weight_quantization", "you rounded on steps of 1 / 2**b instead of 1 / (2**b - 1)", WQ,
           (("xdiv = x.mul(2**b - 1)\n        xhard = xdiv.round().div(2**b - 1)", "xdiv = x.mul(2**b)\n        xhard = xdiv.round().div(2**b)"),)),
    Mutant("weight_quantization", "you did not clip w / alpha to [-1, 1], so the weights beyond alpha are not clipped", WQ,
           (("input_c = input_d.clamp(min=-1, max=1)", "input_c = input_d"),)),
    Mutant("weight_quantization", "you clipped w / alpha to [0, 1] instead of [-1, 1], so every negative weight becomes 0", WQ,
           (("input_c = input_d.clamp(min=-1, max=1)", "input_c = input_d.clamp(min=0, max=1)"),)),
    Mutant("weight_quantization", "you did not multiply by alpha again at the end", WQ, (("input_q_out = input_q.mul(alpha)", "input_q_out = input_q"),)),
    Mutant("weight_quantization", "you dropped the sign: every quantized weight is positive", WQ,
           (("input_q = uniform_quant(input_abs, b).mul(sign)", "input_q = uniform_quant(input_abs, b)"),)),
    # weight_alpha
    Mutant("weight_alpha", "you took the sample standard deviation (divided by n - 1) instead of np.std's population one (divided by n)", WA,
           ((ALPHA, "    alpha = 3 * weight.std().item()"),)),
    Mutant("weight_alpha", "you clipped at max|w| instead of 3 standard deviations", WA, ((ALPHA, "    alpha = weight.abs().max().item()"),)),
    Mutant("weight_alpha", "you took 3 times the variance instead of 3 standard deviations", WA, ((ALPHA, "    alpha = 3 * weight.var(correction=0).item()"),)),
    Mutant("weight_alpha", "you left out the factor 3: alpha is one standard deviation", WA, ((ALPHA, "    alpha = weight.std(correction=0).item()"),)),
    Mutant("weight_alpha", "you took the root mean square, the spread about 0, instead of the spread about the mean", WA,
           ((ALPHA, "    alpha = 3 * weight.pow(2).mean().sqrt().item()"),)),
    Mutant("weight_alpha", "you took 3 times the mean magnitude mean|w| instead of 3 standard deviations", WA, ((ALPHA, "    alpha = 3 * weight.abs().mean().item()"),)),
    # quantize_conv_weights
    Mutant("quantize_conv_weights", "as seed 002's student did: you called weight_quantization(b=w_bit) directly, so a 4-bit weight gets 4 magnitude bits and a sign, 31 levels instead of 15", QC,
           ((QUANTIZE_LAYER, "            layer.weight.data = weight_quantization(b=w_bit)(layer.weight.data, weight_alpha(layer.weight.data))"),)),
    Mutant("quantize_conv_weights", "you gave weight_quantize_fn w_bit - 1, which takes the sign bit off a second time (7 levels at 4 bits instead of 15)", QC,
           (("quantizer = weight_quantize_fn(w_bit)", "quantizer = weight_quantize_fn(w_bit - 1)"),)),
    Mutant("quantize_conv_weights", "as seed 002 did: you clipped every layer at 3 sigma of the first convolution's weights instead of its own", QC,
           (("    for layer in model.modules():\n", "    first_alpha = weight_alpha(next(m for m in model.modules() if isinstance(m, nn.Conv2d)).weight.data)\n    for layer in model.modules():\n"),
            ("quantizer.wgt_alpha = weight_alpha(layer.weight.data)", "quantizer.wgt_alpha = first_alpha"))),
    Mutant("quantize_conv_weights", "you quantized the linear classifier too; only the convolutions are quantized", QC,
           (("isinstance(layer, nn.Conv2d)", "isinstance(layer, (nn.Conv2d, nn.Linear))"),)),
    Mutant("quantize_conv_weights", "you quantized only the first convolution", QC,
           (("            layer.weight.data = quantizer(layer.weight.data)", "            layer.weight.data = quantizer(layer.weight.data)\n            break"),)),
    Mutant("quantize_conv_weights", "you left the 1x1 shortcut convolutions in floating point", QC,
           (("isinstance(layer, nn.Conv2d)", "isinstance(layer, nn.Conv2d) and layer.kernel_size != (1, 1)"),)),
    Mutant("quantize_conv_weights", "you quantized a copy of the model and returned it, leaving the model you were given unchanged", QC,
           (("    for layer in model.modules():\n", "    model = copy.deepcopy(model)\n    for layer in model.modules():\n"),)),
]
