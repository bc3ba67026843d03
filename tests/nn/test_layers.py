"""Every nn layer and loss against PyTorch: the torch module's weights are copied into
the ember module through state_dict, then reprs, outputs, every gradient and the
buffers are compared, in train and eval mode."""
import numpy as np
import pytest
import torch
import torch.nn as tnn

import ember
import ember.nn as enn

RNG = np.random.default_rng(0)


def f32(*shape, low=None):
    a = RNG.standard_normal(shape).astype(np.float32)
    return np.abs(a) + low if low is not None else a


def ints(high, *shape):
    return RNG.integers(0, high, shape).astype(np.int64)


def probs(*shape):
    return RNG.uniform(0.05, 0.95, shape).astype(np.float32)


def signs(*shape):
    return RNG.choice([-1.0, 1.0], shape).astype(np.float32)


# name, constructor (given the nn namespace), input arrays; float inputs get requires_grad
LAYERS = [
    ("linear", lambda nn: nn.Linear(5, 3), lambda: [f32(4, 5)]),
    ("linear_nobias", lambda nn: nn.Linear(5, 3, bias=False), lambda: [f32(2, 6, 5)]),
    ("linear_1d", lambda nn: nn.Linear(5, 3), lambda: [f32(5)]),
    ("bilinear", lambda nn: nn.Bilinear(3, 4, 2), lambda: [f32(5, 3), f32(5, 4)]),
    ("identity", lambda nn: nn.Identity(3, x=1), lambda: [f32(2, 3)]),
    ("flatten", lambda nn: nn.Flatten(), lambda: [f32(2, 3, 4, 5)]),
    ("unflatten", lambda nn: nn.Unflatten(1, (2, 3)), lambda: [f32(4, 6)]),
    ("conv2d_seed", lambda nn: nn.Conv2d(1, 6, 3), lambda: [f32(2, 1, 10, 10)]),
    ("conv2d_opts", lambda nn: nn.Conv2d(4, 6, (3, 2), stride=2, padding=1, dilation=(1, 2), groups=2),
     lambda: [f32(2, 4, 9, 8)]),
    ("conv2d_same_reflect", lambda nn: nn.Conv2d(2, 3, 3, padding="same", padding_mode="reflect", bias=False),
     lambda: [f32(1, 2, 6, 7)]),
    ("conv2d_replicate", lambda nn: nn.Conv2d(2, 3, 3, padding=2, padding_mode="replicate"), lambda: [f32(1, 2, 5, 5)]),
    ("conv2d_circular", lambda nn: nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), lambda: [f32(1, 2, 5, 5)]),
    ("conv2d_unbatched", lambda nn: nn.Conv2d(2, 3, 3), lambda: [f32(2, 6, 6)]),
    ("conv1d", lambda nn: nn.Conv1d(3, 4, 3, stride=2, padding=1), lambda: [f32(2, 3, 9)]),
    ("conv_transpose2d", lambda nn: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1),
     lambda: [f32(2, 3, 4, 5)]),
    ("maxpool2d", lambda nn: nn.MaxPool2d(2), lambda: [f32(2, 3, 6, 6)]),
    ("maxpool2d_opts", lambda nn: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), lambda: [f32(1, 2, 7, 8)]),
    ("maxpool1d", lambda nn: nn.MaxPool1d(2), lambda: [f32(2, 3, 8)]),
    ("avgpool2d", lambda nn: nn.AvgPool2d(2), lambda: [f32(2, 3, 6, 6)]),
    ("avgpool2d_opts", lambda nn: nn.AvgPool2d(3, 2, 1, count_include_pad=False), lambda: [f32(1, 2, 7, 7)]),
    ("avgpool1d", lambda nn: nn.AvgPool1d(3), lambda: [f32(2, 3, 9)]),
    ("adaptive_avg", lambda nn: nn.AdaptiveAvgPool2d((1, 1)), lambda: [f32(2, 3, 5, 5)]),
    ("adaptive_avg_odd", lambda nn: nn.AdaptiveAvgPool2d((3, None)), lambda: [f32(2, 3, 7, 5)]),
    ("adaptive_max", lambda nn: nn.AdaptiveMaxPool2d(2), lambda: [f32(2, 3, 5, 6)]),
    ("relu", lambda nn: nn.ReLU(), lambda: [f32(3, 4)]),
    ("relu6", lambda nn: nn.ReLU6(), lambda: [f32(3, 4) * 4]),
    ("leaky_relu", lambda nn: nn.LeakyReLU(0.2), lambda: [f32(3, 4)]),
    ("prelu", lambda nn: nn.PReLU(3), lambda: [f32(2, 3, 4)]),
    ("elu", lambda nn: nn.ELU(0.5), lambda: [f32(3, 4)]),
    ("selu", lambda nn: nn.SELU(), lambda: [f32(3, 4)]),
    ("celu", lambda nn: nn.CELU(), lambda: [f32(3, 4)]),
    ("gelu", lambda nn: nn.GELU(), lambda: [f32(3, 4)]),
    ("gelu_tanh", lambda nn: nn.GELU("tanh"), lambda: [f32(3, 4)]),
    ("silu", lambda nn: nn.SiLU(), lambda: [f32(3, 4)]),
    ("mish", lambda nn: nn.Mish(), lambda: [f32(3, 4)]),
    ("sigmoid", lambda nn: nn.Sigmoid(), lambda: [f32(3, 4)]),
    ("tanh", lambda nn: nn.Tanh(), lambda: [f32(3, 4)]),
    ("hardtanh", lambda nn: nn.Hardtanh(-0.5, 0.5), lambda: [f32(3, 4)]),
    ("hardswish", lambda nn: nn.Hardswish(), lambda: [f32(3, 4) * 3]),
    ("hardsigmoid", lambda nn: nn.Hardsigmoid(), lambda: [f32(3, 4) * 3]),
    ("softplus", lambda nn: nn.Softplus(beta=2, threshold=5), lambda: [f32(3, 4) * 3]),
    ("softmax", lambda nn: nn.Softmax(dim=1), lambda: [f32(3, 4)]),
    ("log_softmax", lambda nn: nn.LogSoftmax(dim=-1), lambda: [f32(3, 4)]),
    ("softmin", lambda nn: nn.Softmin(dim=0), lambda: [f32(3, 4)]),
    ("softsign", lambda nn: nn.Softsign(), lambda: [f32(3, 4)]),
    ("logsigmoid", lambda nn: nn.LogSigmoid(), lambda: [f32(3, 4)]),
    ("threshold", lambda nn: nn.Threshold(0.1, 20.0), lambda: [f32(3, 4)]),
    ("glu", lambda nn: nn.GLU(), lambda: [f32(3, 4)]),
    ("batchnorm1d", lambda nn: nn.BatchNorm1d(4), lambda: [f32(6, 4)]),
    ("batchnorm1d_3d", lambda nn: nn.BatchNorm1d(3, momentum=0.3), lambda: [f32(4, 3, 5)]),
    ("batchnorm2d", lambda nn: nn.BatchNorm2d(3), lambda: [f32(4, 3, 5, 5)]),
    ("batchnorm2d_cma", lambda nn: nn.BatchNorm2d(3, momentum=None, affine=False), lambda: [f32(4, 3, 2, 2)]),
    ("batchnorm2d_nostats", lambda nn: nn.BatchNorm2d(3, track_running_stats=False), lambda: [f32(4, 3, 2, 2)]),
    ("layernorm", lambda nn: nn.LayerNorm(5), lambda: [f32(3, 4, 5)]),
    ("layernorm_2d", lambda nn: nn.LayerNorm([4, 5], elementwise_affine=False), lambda: [f32(3, 4, 5)]),
    ("groupnorm", lambda nn: nn.GroupNorm(2, 6), lambda: [f32(3, 6, 4)]),
    ("embedding", lambda nn: nn.Embedding(10, 3, padding_idx=0), lambda: [ints(10, 4, 5)]),
    ("dropout_eval_like", lambda nn: nn.Dropout(p=0.0), lambda: [f32(3, 4)]),
]

LOSSES = [
    ("mse", lambda nn: nn.MSELoss(), lambda: [f32(1, 10), f32(1, 10)]),
    ("mse_sum", lambda nn: nn.MSELoss(reduction="sum"), lambda: [f32(3, 4), f32(3, 4)]),
    ("l1", lambda nn: nn.L1Loss(), lambda: [f32(3, 4), f32(3, 4)]),
    ("smooth_l1", lambda nn: nn.SmoothL1Loss(beta=0.5), lambda: [f32(3, 4), f32(3, 4)]),
    ("huber", lambda nn: nn.HuberLoss(delta=0.7, reduction="none"), lambda: [f32(3, 4), f32(3, 4)]),
    ("cross_entropy", lambda nn: nn.CrossEntropyLoss(), lambda: [f32(64, 10), ints(10, 64)]),
    ("cross_entropy_opts",
     lambda nn: nn.CrossEntropyLoss(weight=nn_tensor(nn, probs(5)), ignore_index=2, label_smoothing=0.1),
     lambda: [f32(8, 5), ints(5, 8)]),
    ("cross_entropy_spatial", lambda nn: nn.CrossEntropyLoss(reduction="sum"), lambda: [f32(2, 4, 3, 3), ints(4, 2, 3, 3)]),
    ("cross_entropy_probs", lambda nn: nn.CrossEntropyLoss(), lambda: [f32(4, 5), probs(4, 5)]),
    ("nll", lambda nn: nn.NLLLoss(), lambda: [f32(6, 4), ints(4, 6)]),
    ("bce", lambda nn: nn.BCELoss(), lambda: [probs(3, 4), probs(3, 4)]),
    ("bce_logits", lambda nn: nn.BCEWithLogitsLoss(pos_weight=nn_tensor(nn, probs(4) + 0.5)),
     lambda: [f32(3, 4), probs(3, 4)]),
    ("kl_div", lambda nn: nn.KLDivLoss(reduction="batchmean"), lambda: [np.log(probs(3, 4)), probs(3, 4)]),
    ("cosine_embedding", lambda nn: nn.CosineEmbeddingLoss(margin=0.2), lambda: [f32(4, 5), f32(4, 5), signs(4)]),
    ("margin_ranking", lambda nn: nn.MarginRankingLoss(0.1), lambda: [f32(5), f32(5), signs(5)]),
]


def nn_tensor(nn, arr):
    return (torch if nn is tnn else ember).tensor(arr)


def make_inputs(arrays, lib, grad):
    out = []
    for a in arrays:
        rg = grad and a.dtype.kind == "f"
        out.append(lib.tensor(a, requires_grad=rg))
    return out


def copy_state(tm, em):
    state = {k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()}
    em.load_state_dict(state)


def check(tm, em, arrays, train, atol=1e-5):
    tm.train(train)
    em.train(train)
    ti, ei = make_inputs(arrays, torch, True), make_inputs(arrays, ember, True)
    to, eo = tm(*ti), em(*ei)
    assert tuple(eo.shape) == tuple(to.shape)
    assert str(eo.dtype) == str(to.dtype)
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), rtol=1e-4, atol=atol)
    if to.requires_grad:
        g = RNG.standard_normal(tuple(to.shape)).astype(np.float32)
        to.backward(torch.tensor(g))
        eo.backward(ember.tensor(g))
        for i, (t, e) in enumerate(zip(ti, ei)):
            if t.requires_grad:
                if e.grad is None or t.grad is None:  # e.g. a ±1 target: no or an all-zero gradient
                    assert all(g is None or not g.numpy().any() for g in (e.grad, t.grad)), f"input {i}"
                    continue
                np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=atol, err_msg=f"input {i}")
        tp, ep = dict(tm.named_parameters()), dict(em.named_parameters())
        assert tp.keys() == ep.keys()
        for k in tp:
            np.testing.assert_allclose(ep[k].grad.numpy(), tp[k].grad.numpy(), rtol=1e-4, atol=atol, err_msg=k)
    for (k, tb), (k2, eb) in zip(tm.named_buffers(), em.named_buffers()):
        assert k == k2
        np.testing.assert_allclose(eb.numpy(), tb.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)


@pytest.mark.parametrize("name,ctor,inputs", LAYERS + LOSSES, ids=[c[0] for c in LAYERS + LOSSES])
def test_layer_matches_torch(name, ctor, inputs):
    tm, em = ctor(tnn), ctor(enn)
    assert repr(em) == repr(tm)
    copy_state(tm, em)
    arrays = inputs()
    for train in (True, False, True):  # twice in train mode: running statistics accumulate
        check(tm, em, arrays, train)


@pytest.mark.parametrize("name,ctor,inputs", [c for c in LAYERS if c[0] in ("linear", "conv2d_opts", "batchnorm2d", "embedding", "prelu", "layernorm", "groupnorm", "conv_transpose2d", "bilinear")],
                         ids=lambda c: c if isinstance(c, str) else "")
def test_state_dict_keys_and_shapes_match_torch(name, ctor, inputs):
    ts, es = ctor(tnn).state_dict(), ctor(enn).state_dict()
    assert list(es) == list(ts)
    for k in ts:
        assert tuple(es[k].shape) == tuple(ts[k].shape) and str(es[k].dtype) == str(ts[k].dtype)


def test_dropout_train_scales_and_eval_is_identity():
    ember.manual_seed(0)
    m = enn.Dropout(0.25)
    x = ember.ones(10000, requires_grad=True)
    y = m(x)
    kept = y.detach().numpy() != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(y.detach().numpy()[kept], 1 / 0.75, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.75, rtol=1e-6)
    m.eval()
    assert m(x) is x or np.array_equal(m(x).detach().numpy(), x.detach().numpy())


def test_dropout2d_drops_whole_channels():
    ember.manual_seed(1)
    y = enn.Dropout2d(0.5)(ember.ones(8, 16, 5, 5)).numpy()
    per_channel = y.reshape(8, 16, -1)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))


def test_default_init_statistics_follow_pytorch_bounds():
    # kaiming_uniform_(a=sqrt(5)) on the weight and U(-1/sqrt(fan_in), +) on the bias
    ember.manual_seed(0)
    for layer, fan_in in ((enn.Linear(400, 300), 400), (enn.Conv2d(16, 32, 5), 16 * 25)):
        bound = 1 / np.sqrt(fan_in)
        w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
        assert abs(w.var() - bound ** 2 / 3) < 0.05 * bound ** 2 / 3
        assert np.abs(b).max() <= bound
    bn = enn.BatchNorm2d(3)
    assert bn.weight.tolist() == [1, 1, 1] and bn.bias.tolist() == [0, 0, 0]
    emb = enn.Embedding(2000, 50).weight.detach().numpy()
    assert abs(emb.mean()) < 0.01 and abs(emb.std() - 1) < 0.01


@pytest.mark.parametrize("make,bad,match", [
    (lambda: enn.Conv2d(1, 6, 3), (1, 3, 32, 32), "to have 1 channels, but got 3 channels"),
    (lambda: enn.Conv2d(1, 6, 5), (1, 1, 3, 3), "Kernel size can't be greater than actual input size"),
    (lambda: enn.Linear(400, 120), (1, 576), r"mat1 and mat2 shapes cannot be multiplied \(1x576 and 400x120\)"),
    (lambda: enn.BatchNorm2d(3), (2, 3, 4), "expected 4D input"),
])
def test_layer_shape_errors_name_the_shapes(make, bad, match):
    with pytest.raises((RuntimeError, ValueError), match=match):
        make()(ember.randn(*bad))


def test_loss_target_errors():
    ce = enn.CrossEntropyLoss()
    with pytest.raises(RuntimeError, match="expected target dtype to be Long"):
        ce(ember.randn(3, 5), ember.tensor([1.0, 2.0, 0.0]))
    with pytest.raises(ValueError, match="batch_size"):
        ce(ember.randn(3, 5), ember.tensor([1, 2, 0, 1]))
    with pytest.raises((IndexError, RuntimeError)):
        ce(ember.randn(3, 5), ember.tensor([1, 2, 7]))
