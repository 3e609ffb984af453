"""Real students' answers from the seeds (``/work/shared/seeds``), as submissions: each replaces the answer lines of one
reference cell with the seed's code, changed only where our notebook's interface differs (said in ``adapted``).

``tests/test_diagnosis.py`` grades each through the real path and checks what the diagnosis names; the README's
"What the diagnosis says about the seeds' real answers" table is generated from these gradings.
"""

from dataclasses import dataclass

from compresslab import mutation
from compresslab.mutation import Mutant


@dataclass(frozen=True)
class SeedAnswer:
    seed: str  # which seed and where, e.g. "001, Question 2"
    answer: Mutant  # the seed's code as edits of the reference cell (its description says what the code does)
    expected: str | None  # the catalog description the diagnosis must name (None: the answer is right and loses nothing)
    adapted: str = ""  # what was changed from the seed's text, and why

    @property
    def notebook(self) -> str:
        return {"000": "kmeans_linear", "002": "weight_ptq"}.get(self.seed[:3], "int8_cnn")


QW = "def quantized_weights(weights: torch.Tensor) -> Tuple[torch.Tensor, float]:"
NQ = "class NetQuantized(nn.Module):"
NQB = "class NetQuantizedWithBias(NetQuantized):"
KMQ = "def k_means_quantize(fp32_tensor: torch.Tensor, bitwidth=4, codebook=None):"
UCB = "def update_codebook(fp32_tensor: torch.Tensor, codebook: Codebook):"
FR = "def full_range(values: np.ndarray) -> Tuple[float, float]:"
TSR = "def three_sigma_range(values: np.ndarray) -> Tuple[float, float]:"

QW_BODY = "    max_abs = weights.abs().max().item()\n    scale = 127.0 / max_abs if max_abs > 0 else 1.0\n    return torch.clamp((weights * scale).round(), min=-128, max=127), scale"
INPUT_BODY = "        max_abs = float(np.max(np.abs(pixels)))\n        return 127.0 / max_abs if max_abs > 0 else 1.0"
ACTIVATIONS_BODY = ("        max_abs = float(np.max(np.abs(activations)))\n        if max_abs == 0:\n            return 1.0\n"
                    "        input_scale = n_initial_input * n_w\n        for weight_scale, output_scale in ns:\n"
                    "            input_scale *= weight_scale * output_scale\n        return 127.0 / (max_abs * input_scale)")
FORWARD_BODY = ("        x = requantize(x, self.input_scale)\n"
                "        x = requantize(self.pool(F.relu(self.conv1(x))), self.conv1.output_scale)\n"
                "        x = requantize(self.pool(F.relu(self.conv2(x))), self.conv2.output_scale)\n"
                "        x = x.view(-1, 16 * 5 * 5)\n"
                "        x = requantize(F.relu(self.fc1(x)), self.fc1.output_scale)\n"
                "        x = requantize(F.relu(self.fc2(x)), self.fc2.output_scale)\n"
                "        return requantize(self.fc3(x), self.fc3.output_scale)")
BIAS_BODY = ("        scale = n_initial_input * n_w\n        for weight_scale, output_scale in ns:\n            scale *= weight_scale * output_scale\n"
             "        return torch.clamp((bias * scale).round(), min=-2147483648, max=2147483647)")
UPDATE_BODY = "        members = fp32_tensor[codebook.labels == k]\n        if members.numel() > 0:\n            codebook.centroids[k] = members.mean()"
KMQ_BODY = ("        centroids, labels = kmeans_1d(fp32_tensor, n_clusters)\n        codebook = Codebook(centroids, labels)\n"
            "    # decode the codebook into k-means quantized tensor for inference\n    # hint: one line of code\n"
            "    quantized_tensor = codebook.centroids[codebook.labels].view_as(fp32_tensor)\n"
            "    fp32_tensor.set_(quantized_tensor.view_as(fp32_tensor))")

SEED_001_WEIGHTS = """    weights_flat = weights.flatten()
    mean = weights_flat.mean()
    std = weights_flat.std()
    three_sigma_range = 3.0 * std
    min_val = mean - three_sigma_range
    max_val = mean + three_sigma_range
    scale = 255.0 / (max_val - min_val)
    result = (weights * scale).round()
    return torch.clamp(result, min=-128, max=127), scale"""
SEED_001_INPUT = "        return 255/(np.max(pixels) - np.min(pixels))"
SEED_001_ACTIVATIONS = """        activations = activations * float(n_w)
        activations = activations * float(n_initial_input)
        for pair in ns:
            activations = activations * float(pair[0]) * float(pair[1])
        scale = 255/(np.max(activations) - np.min(activations))
        return scale"""
SEED_001_FORWARD = """        x = torch.clamp(torch.Tensor.round(x*self.input_scale), min = -128, max = 127)
        x = self.pool(F.relu(self.conv1(x)))
        x = torch.clamp(torch.Tensor.round(x * self.conv1.output_scale), min=-128, max=127)
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.clamp(torch.Tensor.round(x * self.conv2.output_scale), min=-128, max=127)
        x = x.view(-1, 16 * 5 * 5)
        x = F.relu(self.fc1(x))
        x = torch.clamp(torch.Tensor.round(x * self.fc1.output_scale), min=-128, max=127)
        x = F.relu(self.fc2(x))
        x = torch.clamp(torch.Tensor.round(x * self.fc2.output_scale), min=-128, max=127)
        x = self.fc3(x)
        x = torch.clamp(torch.Tensor.round(x * self.fc3.output_scale), min=-128, max=127)
        return x"""
SEED_001_BIAS = """        bias *= float(n_initial_input)
        bias *= float(n_w)
        for (first, second) in ns:
            bias *= float(first)
            bias *= float(second)
        scale = 255/(torch.max(bias) - torch.min(bias))
        return torch.clamp((bias * scale).round(), min=-127, max=128)"""
SEED_004_WEIGHTS = """    max_val = weights.abs().max()
    scale = 0.0
    if max_val == 0:
        scale = 1.0
    else:
        scale = 127.0 / max_val
    result = torch.round(weights * scale)
    return torch.clamp(result, min=-128, max=127), scale"""
SEED_004_INPUT = """        max_val = np.max(np.abs(pixels))
        scale = 0.0
        if max_val == 0:
            scale = 1.0
        else:
            scale = 127.0 / max_val
        return scale"""
SEED_004_ACTIVATIONS = """        max_val = np.max(np.abs(activations))
        if max_val == 0:
            return 1.0
        cumulative_input_scale = n_initial_input
        for weight_scale, output_scale in ns:
            cumulative_input_scale *= (weight_scale * output_scale)
        cumulative_input_scale *= n_w
        output_scale = 127.0 / (max_val * cumulative_input_scale)
        return output_scale"""
SEED_004_FORWARD = """        x = x * self.input_scale
        x = torch.clamp(x.round(), min=-128, max=127)
        x = self.conv1(x)
        x = x * self.conv1.output_scale
        x = torch.clamp(x.round(), min=-128, max=127)
        x = F.relu(x)
        x = self.pool(x)
        x = self.conv2(x)
        x = x * self.conv2.output_scale
        x = torch.clamp(x.round(), min=-128, max=127)
        x = F.relu(x)
        x = self.pool(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = x * self.fc1.output_scale
        x = torch.clamp(x.round(), min=-128, max=127)
        x = F.relu(x)
        x = self.fc2(x)
        x = x * self.fc2.output_scale
        x = torch.clamp(x.round(), min=-128, max=127)
        x = F.relu(x)
        x = self.fc3(x)
        x = x * self.fc3.output_scale
        x = torch.clamp(x.round(), min=-128, max=127)
        x = F.relu(x)
        return x"""
SEED_004_BIAS = """        cumulative_input_scale = n_initial_input
        for weight_scale, output_scale in ns:
            cumulative_input_scale *= (weight_scale * output_scale)
        cumulative_input_scale *= n_w
        quantized_bias = (bias * cumulative_input_scale).round()
        return torch.clamp(quantized_bias, min=-2147483648, max=2147483647)"""
FULL_RANGE_BODY = "    flat = np.asarray(values, dtype=np.float64).ravel()\n    return float(flat.min()), float(flat.max())"
THREE_SIGMA_BODY = ("    flat = np.asarray(values, dtype=np.float64).ravel()\n    mean, std = flat.mean(), flat.std()\n"
                    "    return float(mean - 3 * std), float(mean + 3 * std)")
SEED_001_FULL_RANGE = """    activations_flat = values.flatten()
    max = activations_flat.max()
    min = activations_flat.min()
    return min, max"""
SEED_001_THREE_SIGMA = """    activations_flat = values.flatten()
    mean = activations_flat.mean()
    std = activations_flat.std()
    three_sigma_range = 3.0 * std
    min_val = mean - three_sigma_range
    max_val = mean + three_sigma_range
    return min_val, max_val"""
SEED_004_FULL_RANGE = """    activations_range = (values.min(), values.max())
    return activations_range"""
SEED_004_THREE_SIGMA = """    activations_mean = values.mean()
    activations_std = values.std()
    return (activations_mean - 3 * activations_std, activations_mean + 3 * activations_std)"""
SEED_000_UPDATE = "        codebook.centroids[k] = torch.sum((codebook.labels==k) * fp32_tensor) / torch.sum(codebook.labels==k)"
SEED_000_KMQ = """        centroids, labels = kmeans_1d(fp32_tensor, n_clusters)
        codebook = Codebook(centroids, labels)
        quantized_tensor = codebook.centroids[codebook.labels].view_as(fp32_tensor)
        fp32_tensor.set_(quantized_tensor.view_as(fp32_tensor))"""
ITEM = "the seed's scales were tensors: x.item() written float(x)"
COMPUTE_RANGE = "the seed's compute_range(activations, name) printed both ranges: its lines split in two, each returning what it printed"
STATISTICS = "the seed's loop stored each layer's tuple in a dict: the lines of one layer, returning the tuple"
KMEANS = "the seed's fast_pytorch_kmeans calls written as the notebook's kmeans_1d"
QCW = "def quantize_conv_weights(model: nn.Module, w_bit: int) -> nn.Module:"
QCW_BODY = ("    for layer in model.modules():\n        if isinstance(layer, nn.Conv2d):\n            quantizer = weight_quantize_fn(w_bit)\n"
            "            quantizer.wgt_alpha = weight_alpha(layer.weight.data)\n            layer.weight.data = quantizer(layer.weight.data)\n")
SEED_002_QUANTIZE = """    ALPHA = weight_alpha(next(m for m in model.modules() if isinstance(m, nn.Conv2d)).weight.data)  # the seed: 3 * np.std(first conv)
    for layer in model.modules():
        if isinstance(layer, torch.nn.Conv2d): #21 conv layers
            original_weights = layer.weight.data
            w_quant = weight_quantization(b=w_bit)(original_weights, ALPHA)
            layer.weight.data = w_quant # Update
"""
SEED_002 = ("the seed's 4-bit cell as the function: weight_quantization(b=4) written b=w_bit, and its ALPHA (3 np.std of the first "
            "convolution) computed inside it as the notebook's weight_alpha (3 population std)")

SEED_ANSWERS = [
    SeedAnswer("001, quantized_weights", Mutant("quantized_weights", "3-sigma range around the mean onto 255 levels", QW, ((QW_BODY, SEED_001_WEIGHTS),)),
               "as seed 001 did: you spread a 3-sigma range over 255 levels, 255 / (6 std), instead of 127 / max(|w|)"),
    SeedAnswer("001, quantize_initial_input", Mutant("quantize_initial_input", "255 / (max - min)", NQ, ((INPUT_BODY, SEED_001_INPUT),)),
               "as seed 001 did: you took 255 / (max - min) of the pixels instead of 127 / max(|x|)"),
    SeedAnswer("001, quantize_activations", Mutant("quantize_activations", "255 / (max - min) of the activations times every scale", NQ,
                                                   ((ACTIVATIONS_BODY, SEED_001_ACTIVATIONS),)),
               "as seed 001 did: you took 255 / (max - min) of the activations multiplied by the scales", ITEM),
    SeedAnswer("001, NetQuantized.forward", Mutant("NetQuantized.forward", "requantizes after ReLU and pooling, none after fc3", NQ,
                                                   ((FORWARD_BODY, SEED_001_FORWARD),)), None, "the seed's fcl (a typo in its text) written fc1"),
    SeedAnswer("001, quantized_bias", Mutant("quantized_bias", "255 / (max - min) of the scaled bias, clamped to [-127, 128]", NQB,
                                             ((BIAS_BODY, SEED_001_BIAS),)),
               "as seed 001 did: you took 255 / (max - min) of the scaled bias and clamped it to [-127, 128]", ITEM),
    SeedAnswer("001, full_range", Mutant("full_range", "min and max of the flattened array", FR, ((FULL_RANGE_BODY, SEED_001_FULL_RANGE),)), None,
               COMPUTE_RANGE),
    SeedAnswer("001, three_sigma_range", Mutant("three_sigma_range", "mean +- 3 std, NumPy's population std", TSR, ((THREE_SIGMA_BODY, SEED_001_THREE_SIGMA),)),
               None, COMPUTE_RANGE),
    SeedAnswer("004, quantized_weights", Mutant("quantized_weights", "max-abs, the scale a 0-d tensor", QW, ((QW_BODY, SEED_004_WEIGHTS),)), None),
    SeedAnswer("004, quantize_initial_input", Mutant("quantize_initial_input", "max-abs", NQ, ((INPUT_BODY, SEED_004_INPUT),)), None),
    SeedAnswer("004, quantize_activations", Mutant("quantize_activations", "max-abs over the cumulative scale", NQ, ((ACTIVATIONS_BODY, SEED_004_ACTIVATIONS),)), None),
    SeedAnswer("004, NetQuantized.forward", Mutant("NetQuantized.forward", "clamps before ReLU and pooling, ReLU after fc3", NQ,
                                                   ((FORWARD_BODY, SEED_004_FORWARD),)), "as seed 004 did: you applied a ReLU after fc3"),
    SeedAnswer("004, quantized_bias", Mutant("quantized_bias", "round(bias times every scale), int32 clamp", NQB, ((BIAS_BODY, SEED_004_BIAS),)), None),
    SeedAnswer("004, full_range", Mutant("full_range", "(min, max) of the array", FR, ((FULL_RANGE_BODY, SEED_004_FULL_RANGE),)), None, STATISTICS),
    SeedAnswer("004, three_sigma_range", Mutant("three_sigma_range", "mean +- 3 std, NumPy's population std", TSR, ((THREE_SIGMA_BODY, SEED_004_THREE_SIGMA),)),
               None, STATISTICS),
    SeedAnswer("002, quantize_conv_weights", Mutant("quantize_conv_weights", "weight_quantization(b=w_bit) with one alpha for every layer", QCW,
                                                    ((QCW_BODY, SEED_002_QUANTIZE),)),
               "as seed 002's student did: you called weight_quantization(b=w_bit) directly, so a 4-bit weight gets 4 magnitude bits and a sign, "
               "31 levels instead of 15", SEED_002),
    SeedAnswer("000, update_codebook", Mutant("update_codebook", "sum / count: NaN for an empty cluster", UCB, ((UPDATE_BODY, SEED_000_UPDATE),)),
               "as the seed's one-liner did: you divided the sum by the count, which gives NaN for an empty cluster"),
    SeedAnswer("000, k_means_quantize", Mutant("k_means_quantize", "decodes inside the k-means branch only", KMQ, ((KMQ_BODY, SEED_000_KMQ),)),
               "you decode only when clustering, so a given codebook leaves the tensor unchanged", KMEANS),
]

README_BEGIN, README_END = "<!-- seed answers table: generated by `python tests/seed_answers.py` -->", "<!-- end of seed answers table -->"


def grade_all() -> list[tuple[SeedAnswer, "mutation.Result"]]:
    """Every seed answer graded through the real path (``mutation.run``: rounds, cheapest first, until one catches it)."""
    graded = []
    for notebook in dict.fromkeys(s.notebook for s in SEED_ANSWERS):
        answers = [s for s in SEED_ANSWERS if s.notebook == notebook]
        graded += zip(answers, mutation.run(notebook, [s.answer for s in answers]))
    return graded


def named_mistakes(notebook: str, messages: list[str]) -> list[str]:
    """The catalog descriptions of ``notebook`` the feedback ``messages`` name."""
    said = " | ".join(messages)
    return [m.description for m in mutation.catalog(notebook) if f"{m.description} (look at: " in said]


def table(graded: list[tuple[SeedAnswer, "mutation.Result"]]) -> str:
    lines = ["| seed | function | what the real answer does | score | the feedback names | adapted |", "| --- | --- | --- | --- | --- | --- |"]
    for seed, result in graded:
        named = "; ".join(named_mistakes(seed.notebook, result.messages)) or ("nothing (right answer)" if not result.caught else "nothing")
        number, function = seed.seed.split(", ", 1)
        cells = [seed.answer.description, f"{result.score:g}/{result.possible:g}", named, seed.adapted or "-"]
        lines.append(f"| {number} | `{function}` | " + " | ".join(map(mutation.markdown_cell, cells)) + " |")
    return "\n".join(lines)


def readme_with_table(readme: str, generated: str) -> str:
    start, end = readme.index(README_BEGIN), readme.index(README_END)
    return readme[:start] + f"{README_BEGIN}\n{generated}\n" + readme[end:]


if __name__ == "__main__":
    from pathlib import Path

    readme = Path(__file__).resolve().parents[1] / "README.md"
    generated = table(grade_all())
    readme.write_text(readme_with_table(readme.read_text(), generated))
    print(generated)
