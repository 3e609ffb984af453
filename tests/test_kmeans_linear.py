"""kmeans_linear: the reference functions of solution/kmeans_linear.ipynb against the seed's fixed
tensors and expected outputs (exactly) and against independent implementations (torch's quantization
ops, torch.ao observers and quantized kernels, torch's conv-bn fusion, scikit-learn's k-means).

The reference functions are taken from the master notebook's definition cells (solution markers
removed), without running its training or plotting cells.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from compresslab import kmeans_linear_helpers as qh
from compresslab.checkpoints import load_pretrained, pretrained_info
from compresslab.data import first_images, load_dataset
from compresslab.training import evaluate

from conftest import reference_definitions

CPU = torch.device("cpu")
pytestmark = pytest.mark.filterwarnings("ignore:.*quantized tensor creation functions:UserWarning")  # torch.quantize_per_* deprecation notice


@pytest.fixture(scope="module")
def ref():
    """Namespace holding the master notebook's reference functions (its definition cells, tests excluded)."""
    ns = {"torch": torch, "nn": nn, "F": F, "np": np, "Codebook": qh.Codebook, "kmeans_1d": qh.kmeans_1d}
    return reference_definitions("kmeans_linear", ns, r"^(def |scale_choice)")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _functions(ref):
    names = ["get_quantization_scale_and_zero_point", "linear_quantize_weight_per_channel", "linear_quantize_bias_per_output_channel",
             "shift_quantized_conv2d_bias", "shift_quantized_linear_bias", "quantized_conv2d", "quantized_linear"]
    return {name: ref[name] for name in names}


# ---------------------------------------------------------------------------------------------
# the seed's fixed tensors and expected outputs
# ---------------------------------------------------------------------------------------------

SEED_KMEANS = torch.tensor([[-0.3747, 0.0874, 0.3200, -0.4868, 0.4404], [-0.0402, 0.2322, -0.2024, -0.4986, 0.1814],
                            [0.3102, -0.3942, -0.2030, 0.0883, -0.4741], [-0.1592, -0.0777, -0.3946, -0.2128, 0.2675],
                            [0.0611, -0.1933, -0.4350, 0.2928, -0.1087]])
SEED_LINEAR = torch.tensor([[0.0523, 0.6364, -0.0968, -0.0020, 0.1940], [0.7500, 0.5507, 0.6188, -0.1734, 0.4677],
                            [-0.0669, 0.3836, 0.4297, 0.6267, -0.0695], [0.1536, -0.0038, 0.6075, 0.6817, 0.0601],
                            [0.6446, -0.2500, 0.5376, -0.2226, 0.2333]])
SEED_LINEAR_Q = torch.tensor([[-1, 1, -1, -1, 0], [1, 1, 1, -2, 0], [-1, 0, 0, 1, -1], [-1, -1, 1, 1, -1], [1, -2, 1, -2, 0]], dtype=torch.int8)
SEED_FC = {
    "input": torch.tensor([[0.6118, 0.7288, 0.8511, 0.2849, 0.8427, 0.7435, 0.4014, 0.2794],
                           [0.3676, 0.2426, 0.1612, 0.7684, 0.6038, 0.0400, 0.2240, 0.4237],
                           [0.6565, 0.6878, 0.4670, 0.3470, 0.2281, 0.8074, 0.0178, 0.3999],
                           [0.1863, 0.3567, 0.6104, 0.0497, 0.0577, 0.2990, 0.6687, 0.8626]]),
    "weight": torch.tensor([[1.2626e-01, -1.4752e-01, 8.1910e-02, 2.4982e-01, -1.0495e-01, -1.9227e-01, -1.8550e-01, -1.5700e-01],
                            [2.7624e-01, -4.3835e-01, 5.1010e-02, -1.2020e-01, -2.0344e-01, 1.0202e-01, -2.0799e-01, 2.4112e-01],
                            [-3.8216e-01, -2.8047e-01, 8.5238e-02, -4.2504e-01, -2.0952e-01, 3.2018e-01, -3.3619e-01, 2.0219e-01],
                            [8.9233e-02, -1.0124e-01, 1.1467e-01, 2.0091e-01, 1.1438e-01, -4.2427e-01, 1.0178e-01, -3.0941e-04],
                            [-1.8837e-02, -2.1256e-01, -4.5285e-01, 2.0949e-01, -3.8684e-01, -1.7100e-01, -4.5331e-01, -2.0433e-01],
                            [-2.0038e-01, -5.3757e-02, 1.8997e-01, -3.6866e-01, 5.5484e-02, 1.5643e-01, -2.3538e-01, 2.1103e-01],
                            [-2.6875e-01, 2.4984e-01, -2.3514e-01, 2.5527e-01, 2.0322e-01, 3.7675e-01, 6.1563e-02, 1.7201e-01],
                            [3.3541e-01, -3.3555e-01, -4.3349e-01, 4.3043e-01, -2.0498e-01, -1.8366e-01, -9.1553e-02, -4.1168e-01]]),
    "bias": torch.tensor([0.1954, -0.2756, 0.3113, 0.1149, 0.4274, 0.2429, -0.1721, -0.2502]),
    "quantized_bias": torch.tensor([3, -2, 3, 1, 3, 2, -2, -2], dtype=torch.int32),
    "shifted_quantized_bias": torch.tensor([-1, 0, -3, -1, -3, 0, 2, -4], dtype=torch.int32),
    "calc_quantized_output": torch.tensor([[0, -1, 0, -1, -1, 0, 1, -2], [0, 0, -1, 0, 0, 0, 0, -1],
                                           [0, 0, 0, -1, 0, 0, 0, -1], [0, 0, 0, 0, 0, 1, -1, -2]], dtype=torch.int8),
}


def _same(actual, expected):
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != {expected.dtype}"
    assert torch.equal(actual, expected), f"{actual} != {expected}"


def test_seed_k_means_quantize_gives_4_values_at_2_bits(ref):
    tensor = SEED_KMEANS.clone()
    codebook = ref["k_means_quantize"](tensor, bitwidth=2)
    assert tensor.unique().numel() == min(1 << 2, SEED_KMEANS.unique().numel()) == 4
    assert codebook.centroids.shape == (4,) and codebook.labels.dtype == torch.int64
    torch.testing.assert_close(tensor.view(-1), codebook.centroids[codebook.labels], rtol=0, atol=0)


def test_seed_linear_quantize(ref):
    _same(ref["linear_quantize"](SEED_LINEAR, bitwidth=2, scale=1 / 3, zero_point=-1), SEED_LINEAR_Q)
    scale, zero_point = ref["get_quantization_scale_and_zero_point"](SEED_LINEAR, 2)
    assert zero_point == -1 and isinstance(zero_point, int)
    torch.testing.assert_close(scale, 1 / 3, rtol=1e-6, atol=0)


def test_seed_quantized_fc_through_the_lab_pipeline(ref):
    """The seed's test_quantized_fc with every intermediate result checked (the seed checked the bias against itself)."""
    t, bitwidth = SEED_FC, 2
    output = F.linear(t["input"], t["weight"], t["bias"])
    quantized_weight, weight_scale, weight_zero_point = ref["linear_quantize_weight_per_channel"](t["weight"], bitwidth)
    quantized_input, input_scale, input_zero_point = ref["linear_quantize_feature"](t["input"], bitwidth)
    quantized_bias, bias_scale, bias_zero_point = ref["linear_quantize_bias_per_output_channel"](t["bias"], weight_scale, input_scale)
    _same(quantized_bias, t["quantized_bias"])
    assert bias_zero_point == 0 and weight_zero_point == 0
    torch.testing.assert_close(bias_scale, weight_scale.view(-1) * input_scale)
    shifted = ref["shift_quantized_linear_bias"](quantized_bias, quantized_weight, input_zero_point)
    _same(shifted, t["shifted_quantized_bias"])
    _, output_scale, output_zero_point = ref["linear_quantize_feature"](output, bitwidth)
    calc = ref["quantized_linear"](quantized_input, quantized_weight, shifted, bitwidth, bitwidth,
                                   input_zero_point, output_zero_point, input_scale, weight_scale, output_scale)
    _same(calc, t["calc_quantized_output"])


def test_seed_multiple_choice_answers(ref):
    assert (ref["scale_choice"], ref["zero_point_choice"]) == ("C", "D")


# ---------------------------------------------------------------------------------------------
# k-means against scikit-learn
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bitwidth", [2, 4])
def test_k_means_codebooks_of_vgg_are_near_sklearn_optimum(ref, bitwidth):
    """Every weight tensor of the shipped VGG: 2**b centroids, decode consistency, and a clustering error within
    1.5x scikit-learn's k-means++ (measured: at most 1.31x at 4 bits, 1.04x at 2 bits)."""
    model = load_pretrained("vgg", CPU)
    for name, param in model.named_parameters():
        if param.dim() < 2:
            continue
        original = param.detach().clone()
        with torch.no_grad():
            codebook = ref["k_means_quantize"](param, bitwidth)
        assert codebook.centroids.shape == (2**bitwidth,) and codebook.labels.shape == (param.numel(),)
        torch.testing.assert_close(param.detach().view(-1), codebook.centroids[codebook.labels], rtol=0, atol=0)
        ratio = qh.kmeans_inertia(original, codebook) / qh.sklearn_inertia(original, 2**bitwidth)
        assert ratio <= 1.5, f"{name} at {bitwidth} bits: clustering error {ratio:.2f}x scikit-learn's"


@pytest.mark.parametrize("bitwidth", [2, 4, 8])
def test_kmeans_1d_finds_sklearns_centroids_on_the_vgg(bitwidth):
    """kmeans_1d is Lloyd's algorithm as scikit-learn's KMeans runs it, in one dimension: from the same linear
    initialization it reaches the same centroids (to float32 rounding) on the checkpoint's weights, and every value's
    label names its nearest centroid."""
    import warnings

    from sklearn.cluster import KMeans

    model = load_pretrained("vgg", CPU)
    for name in ("backbone.conv1.weight", "backbone.conv6.weight", "classifier.weight"):
        values = model.get_parameter(name).detach().reshape(-1)
        centroids, labels = qh.kmeans_1d(values, 2**bitwidth)
        x = values.double().numpy().reshape(-1, 1)
        init = np.linspace(x.min(), x.max(), 2**bitwidth).reshape(-1, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = KMeans(n_clusters=2**bitwidth, init=init, n_init=1, random_state=qh.KMEANS_SEED).fit(x).cluster_centers_
        torch.testing.assert_close(centroids, torch.from_numpy(np.sort(expected.reshape(-1))).float(), rtol=0, atol=1e-6, msg=f"{name} at {bitwidth} bits")
        nearest = (values[:, None] - centroids[None, :]).abs().argmin(dim=1)
        torch.testing.assert_close(centroids[labels], centroids[nearest], rtol=0, atol=0)


def test_kmeans_1d_moves_an_empty_cluster_onto_the_farthest_value():
    """Three centroids from linear initialization (0, 5, 10) on [0, 0, 0, 0, 9, 10]: no value is nearest 5, so that
    cluster is moved onto the value farthest from its centroid (9, at distance 1 from 10), as scikit-learn does."""
    centroids, labels = qh.kmeans_1d(torch.tensor([0.0, 0.0, 0.0, 0.0, 9.0, 10.0]), 3)
    torch.testing.assert_close(centroids, torch.tensor([0.0, 9.0, 10.0]), rtol=0, atol=0)
    assert labels.tolist() == [0, 0, 0, 0, 1, 2]


def test_k_means_is_reproducible(ref):
    torch.manual_seed(0)
    tensor = torch.randn(3000) * 0.05
    first, second = ref["k_means_quantize"](tensor.clone(), 5), ref["k_means_quantize"](tensor.clone(), 5)
    assert torch.equal(first.centroids, second.centroids) and torch.equal(first.labels, second.labels)


def test_update_codebook_matches_a_scatter_mean(ref):
    torch.manual_seed(1)
    tensor = torch.randn(500)
    labels = torch.randint(0, 12, (500,))
    labels[labels == 5] = 4  # cluster 5 empty
    centroids = torch.randn(16)  # clusters 12..15 empty too
    codebook = qh.Codebook(centroids.clone(), labels)
    ref["update_codebook"](tensor, codebook)
    counts = torch.bincount(labels, minlength=16).float()
    sums = torch.zeros(16).scatter_add_(0, labels, tensor)
    expected = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
    torch.testing.assert_close(codebook.centroids, expected, rtol=1e-5, atol=1e-6)


def test_kmeans_quantizer_snaps_weights_back_after_update(ref):
    model = load_pretrained("vgg", CPU)
    quantizer = qh.KMeansQuantizer(model, 2, ref["k_means_quantize"], ref["update_codebook"])
    with torch.no_grad():
        model.backbone.conv3.weight.add_(0.01)  # an optimizer step
    quantizer.apply(model, update_centroids=True)
    codebook = quantizer.codebook["backbone.conv3.weight"]
    values = model.backbone.conv3.weight.detach().view(-1)
    torch.testing.assert_close(values, codebook.centroids[codebook.labels], rtol=0, atol=0)
    assert values.unique().numel() <= 4


def test_kmeans_size_counts_labels_codebooks_and_fp32_rest():
    vgg = load_pretrained("vgg", CPU)
    weights = sum(p.numel() for p in vgg.parameters() if p.dim() > 1)
    others = sum(p.numel() for p in vgg.parameters() if p.dim() <= 1)
    assert qh.kmeans_size_bits(vgg, 4) == weights * 4 + others * 32
    assert qh.kmeans_size_bits(vgg, 4, include_codebooks=True) == weights * 4 + others * 32 + 9 * 16 * 32  # 9 weight tensors


# ---------------------------------------------------------------------------------------------
# linear quantization against torch's quantization ops
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale, zero_point", [(0.013, 0), (0.05, -37), (0.002, 100), (0.3, -128)])
def test_linear_quantize_matches_quantize_per_tensor(ref, scale, zero_point):
    """Same convention q = round(r / S) + Z, clamped (torch rounds half to even, like torch.round)."""
    torch.manual_seed(2)
    x = torch.randn(4000) * 0.5
    expected = torch.quantize_per_tensor(x, scale, zero_point, torch.qint8).int_repr()
    _same(ref["linear_quantize"](x, 8, scale, zero_point), expected)


@pytest.mark.parametrize("bitwidth", [2, 3, 4, 6, 7])
def test_linear_quantize_matches_fake_quantize_at_low_bit_widths(ref, bitwidth):
    torch.manual_seed(bitwidth)
    x = torch.randn(2000)
    qmin, qmax = ref["get_quantized_range"](bitwidth)
    scale, zero_point = 0.07, qmin + 1
    dequantized = torch.fake_quantize_per_tensor_affine(x, scale, zero_point, qmin, qmax)
    expected = (torch.round(dequantized / scale) + zero_point).to(torch.int8)
    _same(ref["linear_quantize"](x, bitwidth, scale, zero_point), expected)


def test_linear_quantize_rounds_exact_ties_to_even_like_quantize_per_tensor(ref):
    """The hidden ties case: exact halves at a power-of-two scale; torch's quantizer rounds them to even too."""
    x = torch.tensor([0.25, 0.75, 1.25, -0.25, -0.75, -1.25, 3.25, -3.75])  # r / S = +-0.5, +-1.5, +-2.5, 6.5, -7.5
    expected = torch.quantize_per_tensor(x, 0.5, 4, torch.qint8).int_repr()
    _same(ref["linear_quantize"](x, 8, 0.5, 4), expected)
    assert expected.tolist() == [4, 6, 6, 4, 2, 2, 10, -4]


def test_linear_quantize_clamps_instead_of_wrapping(ref):
    x = torch.tensor([3.0, -3.0, 1.9, -1.29])  # r / S = 300, -300, 190, -129
    _same(ref["linear_quantize"](x, 8, 0.01, -10), torch.tensor([127, -128, 127, -128], dtype=torch.int8))


def test_linear_quantize_32_bit_bias_range(ref):
    x = torch.tensor([1e3, -1e3, 0.5])
    _same(ref["linear_quantize"](x, 32, 1e-7, 0, dtype=torch.int32), torch.tensor([2**31 - 1, -(2**31), 5000000], dtype=torch.int32))


def test_per_channel_weights_match_quantize_per_channel(ref):
    from torch.ao.quantization.observer import PerChannelMinMaxObserver

    torch.manual_seed(3)
    w = torch.randn(16, 8, 3, 3) * torch.rand(16, 1, 1, 1)
    observer = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric, quant_min=-127, quant_max=127)
    observer(w)
    scales, zero_points = observer.calculate_qparams()
    quantized, scale, zero_point = ref["linear_quantize_weight_per_channel"](w, 8)
    torch.testing.assert_close(scale.view(-1), scales.float(), rtol=1e-6, atol=0)
    _same(quantized, torch.quantize_per_channel(w, scales, zero_points, 0, torch.qint8).int_repr())
    assert zero_point == 0


@pytest.mark.parametrize("shift, spread", [(0.0, 1.0), (0.5, 0.3), (-2.0, 1.5)])
def test_scale_and_zero_point_match_min_max_observer(ref, shift, spread):
    """torch's observer widens the range to contain 0; on ranges that contain 0 both agree."""
    from torch.ao.quantization.observer import MinMaxObserver

    torch.manual_seed(4)
    x = torch.randn(1000) * spread + shift
    assert x.min() < 0 < x.max()
    observer = MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_affine)
    observer(x)
    torch_scale, torch_zero_point = observer.calculate_qparams()
    scale, zero_point = ref["get_quantization_scale_and_zero_point"](x, 8)
    torch.testing.assert_close(scale, torch_scale.item(), rtol=1e-5, atol=0)
    assert zero_point == torch_zero_point.item()


def test_zero_point_is_clamped_for_ranges_without_zero(ref):
    assert ref["get_quantization_scale_and_zero_point"](torch.tensor([0.5, 1.0]), 8)[1] == -128
    assert ref["get_quantization_scale_and_zero_point"](torch.tensor([-3.0, -1.0]), 4)[1] == 7


def test_bias_quantization_is_int32_at_input_times_weight_scale(ref):
    torch.manual_seed(5)
    bias, weight_scale, input_scale = torch.randn(10), torch.rand(10, 1, 1, 1) * 0.01 + 1e-3, 0.02
    quantized, bias_scale, zero_point = ref["linear_quantize_bias_per_output_channel"](bias, weight_scale, input_scale)
    expected = torch.quantize_per_channel(bias, (weight_scale.view(-1).double() * input_scale), torch.zeros(10, dtype=torch.long), 0, torch.qint32).int_repr()
    _same(quantized, expected)
    assert zero_point == 0


def test_shifted_biases_match_layers_applied_to_the_zero_point(ref):
    torch.manual_seed(6)
    bias = torch.randint(-1000, 1000, (5,), dtype=torch.int32)
    weight = torch.randint(-127, 128, (5, 7), dtype=torch.int8)
    direct = bias - F.linear(torch.full((1, 7), -37, dtype=torch.int32), weight.to(torch.int32)).view(-1)
    _same(ref["shift_quantized_linear_bias"](bias, weight, -37), direct)
    conv_weight = torch.randint(-127, 128, (5, 3, 3, 3), dtype=torch.int8)
    direct = bias - F.conv2d(torch.full((1, 3, 3, 3), 12, dtype=torch.int32), conv_weight.to(torch.int32)).view(-1)
    _same(ref["shift_quantized_conv2d_bias"](bias, conv_weight, 12), direct)


def _to_quint8(q_int8: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """The same real values as a torch quint8 tensor (unsigned: integer + 128, zero point + 128)."""
    return torch._make_per_tensor_quantized_tensor((q_int8.to(torch.int16) + 128).to(torch.uint8), scale, zero_point + 128)


def _per_channel_qint8(q_weight: torch.Tensor, weight_scale: torch.Tensor) -> torch.Tensor:
    return torch._make_per_channel_quantized_tensor(q_weight, weight_scale.view(-1).double(), torch.zeros(q_weight.shape[0], dtype=torch.long), 0)


@pytest.fixture
def quantized_engine():
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = "qnnpack" if "qnnpack" in torch.backends.quantized.supported_engines else previous
    yield
    torch.backends.quantized.engine = previous


def test_quantized_linear_matches_torch_ao_kernel(ref, quantized_engine):
    """torch.ao's quantized linear (int8 GEMM with float bias and requantization) within one step."""
    import torch.ao.nn.quantized.functional as qF

    torch.manual_seed(7)
    q_input = torch.randint(-128, 128, (16, 32), dtype=torch.int8)
    q_weight = torch.randint(-127, 128, (12, 32), dtype=torch.int8)
    weight_scale = torch.rand(12, 1) * 0.003 + 0.001
    input_scale, input_zero_point, output_scale, output_zero_point = 0.02, -5, 0.15, 11
    bias = torch.randn(12)
    q_bias, _, _ = ref["linear_quantize_bias_per_output_channel"](bias, weight_scale, input_scale)
    shifted = ref["shift_quantized_linear_bias"](q_bias, q_weight, input_zero_point)
    ours = ref["quantized_linear"](q_input, q_weight, shifted, 8, 8, input_zero_point, output_zero_point, input_scale, weight_scale, output_scale)
    real_bias = q_bias.double() * input_scale * weight_scale.view(-1).double()  # the bias torch sees: exactly ours
    theirs = qF.linear(_to_quint8(q_input, input_scale, input_zero_point), _per_channel_qint8(q_weight, weight_scale),
                       real_bias.float(), output_scale, output_zero_point + 128)
    difference = (ours.to(torch.int16) + 128 - theirs.int_repr().to(torch.int16)).abs()
    assert difference.max() <= 1 and (difference == 0).float().mean() > 0.95, f"max difference {difference.max()} steps"


def test_quantized_conv2d_matches_torch_ao_kernel(ref, quantized_engine):
    import torch.ao.nn.quantized.functional as qF

    torch.manual_seed(8)
    q_input = torch.randint(-128, 128, (2, 8, 10, 10), dtype=torch.int8)
    q_weight = torch.randint(-63, 64, (6, 8, 3, 3), dtype=torch.int8)  # 7-bit weights: no int16 saturation in x86 kernels
    weight_scale = torch.rand(6, 1, 1, 1) * 0.003 + 0.001
    input_scale, input_zero_point, output_scale, output_zero_point = 0.03, 20, 0.3, -7
    bias = torch.randn(6)
    q_bias, _, _ = ref["linear_quantize_bias_per_output_channel"](bias, weight_scale, input_scale)
    shifted = ref["shift_quantized_conv2d_bias"](q_bias, q_weight, input_zero_point)
    ours = ref["quantized_conv2d"](q_input, q_weight, shifted, 8, 8, input_zero_point, output_zero_point, input_scale, weight_scale,
                                   output_scale, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    real_bias = q_bias.double() * input_scale * weight_scale.view(-1).double()
    theirs = qF.conv2d(_to_quint8(q_input, input_scale, input_zero_point), _per_channel_qint8(q_weight, weight_scale), real_bias.float(),
                       stride=1, padding=1, scale=output_scale, zero_point=output_zero_point + 128)
    difference = (ours.to(torch.int16) + 128 - theirs.int_repr().to(torch.int16)).abs()
    assert difference.max() <= 1 and (difference == 0).float().mean() > 0.95, f"max difference {difference.max()} steps"


@pytest.mark.parametrize("stride, padding, groups", [((1, 1), (1, 1, 1, 1), 1), ((2, 2), (0, 2, 1, 0), 2)])
def test_quantized_conv2d_matches_float_reference(ref, stride, padding, groups):
    torch.manual_seed(9)
    q_input = torch.randint(-128, 128, (2, 4, 9, 9), dtype=torch.int8)
    q_weight = torch.randint(-127, 128, (6, 4 // groups, 3, 3), dtype=torch.int8)
    q_bias = torch.randint(-5000, 5000, (6,), dtype=torch.int32)
    weight_scale = torch.rand(6, 1, 1, 1) * 0.004 + 0.001
    input_scale, input_zero_point, output_scale, output_zero_point = 0.02, -128, 0.5, 3
    ours = ref["quantized_conv2d"](q_input, q_weight, q_bias, 8, 8, input_zero_point, output_zero_point, input_scale, weight_scale,
                                   output_scale, stride, padding, (1, 1), groups)
    real_input = F.pad(input_scale * (q_input.double() - input_zero_point), padding)  # real zero padding
    bias_real = (q_bias.double() + q_weight.double().sum((1, 2, 3)) * input_zero_point) * input_scale * weight_scale.double().view(-1)
    real = F.conv2d(real_input, weight_scale.double() * q_weight.double(), bias_real, stride, 0, 1, groups)
    expected = (torch.round(real / output_scale) + output_zero_point).clamp(-128, 127)
    assert ours.dtype == torch.int8 and (ours.double() - expected).abs().max() <= 1


# ---------------------------------------------------------------------------------------------
# fusion, the int8 model and its accuracy
# ---------------------------------------------------------------------------------------------

def test_fuse_conv_bn_matches_torch_fusion(ref):
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    torch.manual_seed(10)
    conv, bn = nn.Conv2d(4, 6, 3, bias=False), nn.BatchNorm2d(6, eps=1e-3)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2); bn.bias.uniform_(-1, 1); bn.running_mean.uniform_(-1, 1); bn.running_var.uniform_(0.1, 2)
    conv.eval(), bn.eval()
    expected = fuse_conv_bn_eval(conv, bn)
    fused = ref["fuse_conv_bn"](conv, bn)
    torch.testing.assert_close(fused.weight, expected.weight, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(fused.bias, expected.bias, rtol=1e-6, atol=1e-7)


def test_fused_vgg_equals_unfused(ref, digits):
    model = load_pretrained("vgg", CPU)
    fused = qh.fuse_model(model, ref["fuse_conv_bn"])
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules()) and any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    images = digits.test.dataset.tensors[0]
    with torch.no_grad():
        torch.testing.assert_close(fused(images), model(images), rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def int8_vgg(ref, digits):
    fused = qh.fuse_model(load_pretrained("vgg", CPU), ref["fuse_conv_bn"])
    _, output_activation = qh.record_activations(fused, first_images(digits.train.dataset, 512))
    return fused, qh.build_int8_model(fused, output_activation, **_functions(ref))


def test_int8_layers_receive_the_scale_of_the_tensor_they_get(int8_vgg):
    _, model = int8_vgg
    layers = [m for m in model.modules() if isinstance(m, (qh.QuantizedConv2d, qh.QuantizedLinear))]
    assert (layers[0].input_scale, layers[0].input_zero_point) == (qh.INPUT_SCALE, qh.INPUT_ZERO_POINT)
    for before, after in zip(layers, layers[1:]):
        assert (after.input_scale, after.input_zero_point) == (before.output_scale, before.output_zero_point)
    assert all(m.weight.dtype == torch.int8 and m.bias.dtype == torch.int32 for m in layers)


def test_extra_preprocess_is_linear_quantize_at_the_input_scale(ref):
    x = torch.linspace(-1.2, 1.2, 1001)
    _same(ref["extra_preprocess"](x), ref["linear_quantize"](x, 8, qh.INPUT_SCALE, qh.INPUT_ZERO_POINT))


def test_int8_vgg_tracks_the_fp32_logits_and_accuracy(ref, digits, int8_vgg):
    fused, model = int8_vgg
    images = digits.test.dataset.tensors[0]
    with torch.no_grad():
        q_logits = model(ref["extra_preprocess"](images))
        fp32_logits = fused(images)
    classifier = model.classifier
    assert q_logits.dtype == torch.int8
    dequantized = classifier.output_scale * (q_logits.float() - classifier.output_zero_point)
    assert (dequantized.argmax(1) == fp32_logits.argmax(1)).float().mean() >= 0.99
    assert (dequantized - fp32_logits).abs().mean() < 4 * classifier.output_scale
    accuracy = evaluate(model, digits.test, extra_preprocess=[ref["extra_preprocess"]], device=CPU, progress=False)
    assert accuracy >= pretrained_info("vgg")["fp32_accuracy"] - 1.0


def test_kmeans_8_bit_vgg_keeps_fp32_accuracy(ref, digits):
    model = load_pretrained("vgg", CPU)
    qh.KMeansQuantizer(model, 8, ref["k_means_quantize"])
    assert evaluate(model, digits.test, device=CPU, progress=False) >= pretrained_info("vgg")["fp32_accuracy"] - 0.5


def test_seed_000_question_3_1_is_a_written_question_with_its_answer_only_in_the_master():
    """Seed 000's Question 3.1 ("Why do you think low precision quantization works at all?") is asked as q14, graded by
    hand, after the k-means results it refers to; the master's reference answer does not reach the release."""
    import nbformat

    from compresslab.grading.written import written_questions

    from conftest import ROOT

    question = next(q for q in written_questions(ROOT / "assignment" / "kmeans_linear.ipynb", "kmeans_linear") if q.name == "q14")
    assert question.points == 1 and "low precision quantization works at all" in question.prompt
    released = "".join(c.source for c in nbformat.read(ROOT / "assignment" / "kmeans_linear.ipynb", as_version=4).cells)
    master = nbformat.read(ROOT / "solution" / "kmeans_linear.ipynb", as_version=4).cells
    answer = next(c.source for i, c in enumerate(master) if c.source.startswith("**Answer.**") and "# BEGIN QUESTION\nname: q14" in master[i - 3].source)
    assert "quantization-aware training" in answer and answer[:200] not in released
    heading = released.index("## Question 14")
    assert released.index("k-means quantization: accuracy and size at each bit width") < heading < released.index("# Linear Quantization")
