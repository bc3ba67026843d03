"""ember.vision.transforms against their definitions: ToTensor = HWC->CHW / 255,
Normalize = (x - m) / s, flips = reversed arrays, crops = slices, tensor Resize =
torch.nn.functional.interpolate (what torchvision calls), PIL Resize = Pillow's own."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ember
from ember.vision import transforms as T

try:
    from PIL import Image
except ImportError:
    Image = None
needs_pil = pytest.mark.skipif(Image is None, reason="Pillow is not installed")

RNG = np.random.default_rng(0)


def u8(*shape):
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def f32(*shape):
    return RNG.random(shape, dtype=np.float32)


def et(arr):
    return ember.tensor(arr)


# -- conversions --------------------------------------------------------------------------------
def test_to_tensor_ndarray():
    arr = u8(5, 4, 3)
    out = T.ToTensor()(arr)
    assert out.dtype == ember.float32 and out.shape == (3, 5, 4)
    np.testing.assert_array_equal(out.numpy(), arr.transpose(2, 0, 1).astype(np.float32) / np.float32(255))
    gray = u8(5, 4)
    np.testing.assert_array_equal(T.ToTensor()(gray).numpy(), gray[None] / np.float32(255))
    floats = f32(2, 3, 1).astype(np.float64)
    kept = T.ToTensor()(floats)  # not uint8: no scaling, dtype kept
    assert kept.dtype == ember.float64
    np.testing.assert_array_equal(kept.numpy(), floats.transpose(2, 0, 1))
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        T.ToTensor()([[1]])
    with pytest.raises(ValueError, match="pic should be 2/3 dimensional. Got 4 dimensions."):
        T.ToTensor()(u8(1, 2, 3, 4))


def test_to_tensor_follows_default_dtype():
    ember.set_default_dtype(ember.float64)
    try:
        assert T.ToTensor()(u8(2, 2)).dtype == ember.float64
    finally:
        ember.set_default_dtype(ember.float32)


@needs_pil
def test_to_tensor_pil_modes():
    rgb = u8(6, 5, 3)
    np.testing.assert_array_equal(T.ToTensor()(Image.fromarray(rgb)).numpy(),
                                  rgb.transpose(2, 0, 1) / np.float32(255))
    binary = Image.fromarray(u8(4, 4) > 128)  # mode "1": 0/1 become 0/255
    assert binary.mode == "1"
    np.testing.assert_array_equal(T.ToTensor()(binary).numpy()[0], (np.asarray(binary)).astype(np.float32))
    ints = Image.fromarray(RNG.integers(-5, 70000, (3, 2), dtype=np.int32))
    assert ints.mode == "I" and T.ToTensor()(ints).dtype == ember.int32
    floats = Image.fromarray(f32(3, 2))
    np.testing.assert_array_equal(T.ToTensor()(floats).numpy()[0], np.asarray(floats))
    pil = T.PILToTensor()(Image.fromarray(rgb))
    assert pil.dtype == ember.uint8
    np.testing.assert_array_equal(pil.numpy(), rgb.transpose(2, 0, 1))


@needs_pil
def test_to_pil_image():
    x = f32(3, 4, 5)
    img = T.ToPILImage()(et(x))
    assert img.mode == "RGB" and img.size == (5, 4)
    np.testing.assert_array_equal(np.asarray(img), (x * 255).astype(np.uint8).transpose(1, 2, 0))  # truncation
    gray = T.ToPILImage()(et(u8(1, 4, 5)))
    assert gray.mode == "L"
    assert T.ToPILImage()(et(u8(4, 5))).mode == "L"
    assert T.ToPILImage()(u8(4, 5, 4)).mode == "RGBA"
    assert T.ToPILImage(mode="F")(et(x[:1])).mode == "F"
    assert T.ToPILImage()(np.zeros((2, 2), np.int16)).mode == "I;16"
    roundtrip = u8(3, 4, 5)
    np.testing.assert_array_equal(T.PILToTensor()(T.ToPILImage()(et(roundtrip))).numpy(), roundtrip)
    with pytest.raises(ValueError, match="Incorrect mode"):
        T.ToPILImage(mode="RGB")(et(u8(1, 2, 2)))
    with pytest.raises(ValueError, match="pic should not have > 4 channels"):
        T.ToPILImage()(et(u8(5, 2, 2)))
    assert repr(T.ToPILImage()) == "ToPILImage()" and repr(T.ToPILImage("L")) == "ToPILImage(mode=L)"


def test_to_pil_image_without_pillow(monkeypatch):
    monkeypatch.setattr(T, "Image", None)
    with pytest.raises(ImportError, match="pip install pillow"):
        T.ToPILImage()(et(u8(1, 2, 2)))


# -- normalisation, dtype, grayscale ------------------------------------------------------------
def test_normalize():
    x = f32(3, 4, 5)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    t = et(x)
    out = T.Normalize(mean, std)(t)
    expected = (x - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(t.numpy(), x)  # not in place
    T.Normalize((0.5,), (0.5,), inplace=True)(t)
    np.testing.assert_array_equal(t.numpy(), (x - np.float32(0.5)) / np.float32(0.5))
    batch = et(f32(2, 1, 3, 3).astype(np.float64))
    assert T.Normalize([0.1307], [0.3081])(batch).dtype == ember.float64
    assert repr(T.Normalize((0.1307,), (0.3081,))) == "Normalize(mean=(0.1307,), std=(0.3081,))"
    with pytest.raises(TypeError, match="Input tensor should be a float tensor. Got torch.uint8."):
        T.Normalize((0.5,), (0.5,))(et(u8(1, 2, 2)))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize((0.5,), (0.0,))(t)
    with pytest.raises(ValueError, match=r"Expected tensor to be a tensor image of size \(..., C, H, W\)"):
        T.Normalize((0.5,), (0.5,))(et(f32(2, 2)))
    with pytest.raises(TypeError, match="img should be Tensor Image"):
        T.Normalize((0.5,), (0.5,))(x)


def test_normalize_is_differentiable():
    x = ember.tensor(f32(1, 2, 2), requires_grad=True)
    T.Normalize((0.5,), (0.25,))(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((1, 2, 2), 4.0))


def test_convert_image_dtype():
    img = u8(3, 2, 2)
    np.testing.assert_array_equal(T.ConvertImageDtype(ember.float32)(et(img)).numpy(), img / np.float32(255))
    x = np.array([[[0.0, 0.5, 0.999, 1.0]]], np.float32)
    np.testing.assert_array_equal(T.ConvertImageDtype(ember.uint8)(et(x)).numpy(),
                                  (x * np.float32(255.999)).astype(np.uint8))
    wide = np.array([[[0, 255, 32767]]], np.int16)
    np.testing.assert_array_equal(T.ConvertImageDtype(ember.uint8)(et(wide)).numpy(), wide // 128)
    np.testing.assert_array_equal(T.ConvertImageDtype(ember.int32)(et(img)).numpy(),
                                  img.astype(np.int32) * (2 ** 31 // 256))
    with pytest.raises(RuntimeError, match="cannot be performed safely"):
        T.ConvertImageDtype(ember.int64)(et(x))
    assert repr(T.ConvertImageDtype(ember.float32)) == "ConvertImageDtype()"


def test_grayscale_tensor():
    rgb = f32(3, 4, 5)
    expected = 0.2989 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    out = T.Grayscale()(et(rgb))
    assert out.shape == (1, 4, 5)
    np.testing.assert_allclose(out.numpy()[0], expected, rtol=1e-6)
    three = T.Grayscale(3)(et(rgb))
    assert three.shape == (3, 4, 5)
    np.testing.assert_array_equal(three.numpy()[2], out.numpy()[0])
    img = u8(3, 4, 5)
    gray = T.Grayscale()(et(img)).numpy()[0]
    ref = (np.float32(0.2989) * img[0] + np.float32(0.587) * img[1] + np.float32(0.114) * img[2])
    np.testing.assert_array_equal(gray, ref.astype(np.uint8))  # truncated, like .to(uint8)
    assert repr(T.Grayscale(3)) == "Grayscale(num_output_channels=3)"
    with pytest.raises(TypeError, match=r"permitted channel values are \[1, 3\], but found 2"):
        T.Grayscale()(et(f32(2, 3, 3)))
    with pytest.raises(ValueError, match="num_output_channels should be either 1 or 3"):
        T.Grayscale(2)(et(rgb))


@needs_pil
def test_grayscale_pil():
    img = Image.fromarray(u8(4, 5, 3))
    assert T.Grayscale()(img).mode == "L"
    three = T.Grayscale(3)(img)
    assert three.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(three)[..., 1], np.asarray(img.convert("L")))


# -- geometry --------------------------------------------------------------------------------------
def test_flips():
    x = f32(2, 3, 4)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(et(x)).numpy(), x[..., ::-1])
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(et(x)).numpy(), x[..., ::-1, :])
    t = et(x)
    assert T.RandomHorizontalFlip(p=0.0)(t) is t
    assert repr(T.RandomHorizontalFlip()) == "RandomHorizontalFlip(p=0.5)"
    assert repr(T.RandomVerticalFlip(0.3)) == "RandomVerticalFlip(p=0.3)"


@needs_pil
def test_flips_pil():
    arr = u8(3, 4, 3)
    np.testing.assert_array_equal(np.asarray(T.RandomHorizontalFlip(1)(Image.fromarray(arr))), arr[:, ::-1])
    np.testing.assert_array_equal(np.asarray(T.RandomVerticalFlip(1)(Image.fromarray(arr))), arr[::-1])


def test_random_flip_uses_ember_generator():
    x = et(f32(1, 2, 8))

    def run():
        ember.manual_seed(123)
        return [bool((T.RandomHorizontalFlip()(x) != x).any()) for _ in range(40)]

    first = run()
    assert first == run() and 5 < sum(first) < 35


@pytest.mark.parametrize("size, h, w", [(2, 5, 6), ((3, 2), 5, 6), (4, 5, 5), ((4, 4), 5, 6), ((3,), 6, 6)])
def test_center_crop_is_a_slice(size, h, w):
    x = f32(2, h, w)
    out = T.CenterCrop(size)(et(x)).numpy()
    ch, cw = (size, size) if isinstance(size, int) else (size * 2 if len(size) == 1 else size)
    top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))  # half to even
    np.testing.assert_array_equal(out, x[:, top:top + ch, left:left + cw])


def test_center_crop_larger_than_image_pads_with_zeros():
    x = f32(1, 2, 3)
    out = T.CenterCrop((4, 6)).forward(et(x)).numpy()
    expected = np.zeros((1, 4, 6), np.float32)
    expected[:, 1:3, 1:4] = x
    np.testing.assert_array_equal(out, expected)
    assert repr(T.CenterCrop(10)) == "CenterCrop(size=(10, 10))"


@needs_pil
def test_center_crop_pil_matches_tensor():
    arr = u8(7, 9, 3)
    pil = np.asarray(T.CenterCrop((4, 5))(Image.fromarray(arr)))
    np.testing.assert_array_equal(pil, T.CenterCrop((4, 5))(et(arr.transpose(2, 0, 1))).numpy().transpose(1, 2, 0))


def test_random_crop_is_a_reproducible_slice():
    x = f32(3, 10, 12)
    crop = T.RandomCrop((4, 5))
    ember.manual_seed(7)
    outs = [crop(et(x)).numpy() for _ in range(10)]
    ember.manual_seed(7)
    again = [crop(et(x)).numpy() for _ in range(10)]
    offsets = set()
    for out, same in zip(outs, again):
        np.testing.assert_array_equal(out, same)
        hits = [(i, j) for i in range(7) for j in range(8) if np.array_equal(x[:, i:i + 4, j:j + 5], out)]
        assert len(hits) == 1
        offsets.add(hits[0])
    assert len(offsets) > 3
    assert repr(crop) == "RandomCrop(size=(4, 5), padding=None)"
    with pytest.raises(ValueError, match=r"Required crop size \(11, 5\) is larger than input image size \(10, 12\)"):
        T.RandomCrop((11, 5))(et(x))


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_random_crop_padding(mode):
    x = f32(2, 4, 4)
    out = T.RandomCrop(8, padding=2, padding_mode=mode, fill=0.5)(et(x)).numpy()  # crop = whole padded image
    kw = {"constant_values": 0.5} if mode == "constant" else {}
    np.testing.assert_array_equal(out, np.pad(x, ((0, 0), (2, 2), (2, 2)), mode=mode, **kw))


def test_random_crop_pad_if_needed():
    x = f32(1, 3, 4)
    out = T.RandomCrop((5, 6), pad_if_needed=True)(et(x)).numpy()
    assert out.shape == (1, 5, 6)
    # both sides get the deficit, as in torchvision; the crop then lies within the padded image
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2)))
    assert any(np.array_equal(padded[:, i:i + 5, j:j + 6], out) for i in range(3) for j in range(3))


def test_pad():
    x = f32(2, 3, 4)
    np.testing.assert_array_equal(T.Pad(1)(et(x)).numpy(), np.pad(x, ((0, 0), (1, 1), (1, 1))))
    np.testing.assert_array_equal(T.Pad((1, 2), padding_mode="reflect")(et(x)).numpy(),
                                  np.pad(x, ((0, 0), (2, 2), (1, 1)), mode="reflect"))
    np.testing.assert_array_equal(T.Pad((1, 0, 2, 3), fill=9)(et(x)).numpy(),
                                  np.pad(x, ((0, 0), (0, 3), (1, 2)), constant_values=9))
    np.testing.assert_array_equal(T.Pad((-1, 0, 0, -1))(et(x)).numpy(), x[:, :-1, 1:])  # negative crops
    assert repr(T.Pad(2)) == "Pad(padding=2, fill=0, padding_mode=constant)"
    with pytest.raises(ValueError, match="Padding must be an int or a 1, 2, or 4 element tuple, not a 3 element"):
        T.Pad((1, 2, 3))
    with pytest.raises(ValueError, match="Padding mode should be either constant, edge, reflect or symmetric"):
        T.Pad(1, padding_mode="wrap")


@needs_pil
def test_pad_pil():
    arr = u8(3, 4, 3)
    out = np.asarray(T.Pad(2, fill=(1, 2, 3))(Image.fromarray(arr)))
    assert out.shape == (7, 8, 3)
    np.testing.assert_array_equal(out[2:5, 2:6], arr)
    np.testing.assert_array_equal(out[0, 0], [1, 2, 3])
    np.testing.assert_array_equal(np.asarray(T.Pad(1, padding_mode="edge")(Image.fromarray(arr[..., 0]))),
                                  np.pad(arr[..., 0], 1, mode="edge"))


# -- resizing -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("h, w, size, expected", [
    (10, 20, 5, (5, 10)), (20, 10, 5, (10, 5)), (10, 20, (3, 7), (3, 7)), (7, 9, [4], (4, 5)),
])
def test_resize_output_size(h, w, size, expected):
    assert T.Resize(size)(et(f32(1, h, w))).shape[-2:] == expected


def test_resize_max_size():
    assert T.Resize(5, max_size=8)(et(f32(1, 10, 20))).shape[-2:] == (4, 8)
    with pytest.raises(ValueError, match="max_size should only be passed if size specifies the length of the smaller"):
        T.Resize((5, 6), max_size=8)(et(f32(1, 10, 20)))


def _torch_resize(x, size, mode, antialias):
    kw = {} if mode.startswith("nearest") else {"align_corners": False, "antialias": antialias}
    return F.interpolate(torch.from_numpy(x)[None], size=size, mode=mode, **kw)[0].numpy()


@pytest.mark.parametrize("size", [(3, 4), (5, 13), (16, 20), (7, 7), (2, 31)])
@pytest.mark.parametrize("antialias", [True, False])
def test_resize_tensor_bilinear_matches_interpolate(size, antialias):
    x = f32(2, 9, 12)
    out = T.Resize(size, antialias=antialias)(et(x)).numpy()
    np.testing.assert_allclose(out, _torch_resize(x, size, "bilinear", antialias), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", [T.InterpolationMode.NEAREST, T.InterpolationMode.NEAREST_EXACT])
def test_resize_tensor_nearest_matches_interpolate(mode):
    x = f32(1, 9, 12)
    for size in [(4, 5), (20, 7)]:
        out = T.Resize(size, interpolation=mode)(et(x)).numpy()
        np.testing.assert_array_equal(out, _torch_resize(x, size, mode.value, False))


def test_resize_uint8_tensor_rounds_like_torchvision():
    x = u8(3, 10, 8)
    out = T.Resize((4, 6))(et(x))
    assert out.dtype == ember.uint8
    ref = np.round(_torch_resize(x.astype(np.float32), (4, 6), "bilinear", True))
    assert np.abs(out.numpy().astype(int) - ref.astype(int)).max() <= 1  # float32 rounding at .5 ties


@needs_pil
@pytest.mark.parametrize("size", [(4, 5), (15, 22)])
def test_resize_tensor_matches_pillow(size):
    """Antialiased bilinear on tensors is Pillow's filter: compare on a float ("F") image."""
    x = f32(9, 12)
    pil = np.asarray(Image.fromarray(x).resize(size[::-1], Image.Resampling.BILINEAR))
    np.testing.assert_allclose(T.Resize(size)(et(x[None])).numpy()[0], pil, rtol=1e-5, atol=1e-5)


@needs_pil
def test_resize_pil():
    img = Image.fromarray(u8(10, 20, 3))
    out = T.Resize(5)(img)
    assert out.size == (10, 5)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img.resize((10, 5), Image.Resampling.BILINEAR)))
    assert T.Resize((10, 20))(img) is img  # same size: returned as is


def test_resize_repr():
    assert repr(T.Resize(256)) == "Resize(size=256, interpolation=bilinear, max_size=None, antialias=True)"
    assert repr(T.Resize((2, 3), interpolation=T.InterpolationMode.NEAREST)) == \
        "Resize(size=(2, 3), interpolation=nearest, max_size=None, antialias=True)"
    with pytest.raises(TypeError, match="Size should be int or sequence"):
        T.Resize(2.5)


# -- rotation ---------------------------------------------------------------------------------------
def test_rotate_tensor_quarter_turns():
    x = f32(2, 6, 6)
    out = T.rotate(et(x), 90).numpy()
    np.testing.assert_array_equal(out, np.rot90(x, 1, axes=(1, 2)))  # counter-clockwise
    np.testing.assert_array_equal(T.rotate(et(x), -90, T.InterpolationMode.BILINEAR).numpy(),
                                  np.rot90(x, -1, axes=(1, 2)))
    wide = f32(1, 4, 6)
    np.testing.assert_array_equal(T.rotate(et(wide), 90, expand=True).numpy(), np.rot90(wide, 1, axes=(1, 2)))


def _grid_sample_rotate(x, angle, mode):
    """torchvision's tensor rotate: an affine grid about the centre, grid_sample with zero
    padding, then bilinear results scaled by the sampled in-bounds mask (fill 0)."""
    h, w = x.shape[-2:]
    a = np.radians(angle)
    theta = torch.tensor([[[np.cos(a), -np.sin(a) * h / w, 0], [np.sin(a) * w / h, np.cos(a), 0]]], dtype=torch.float32)
    grid = F.affine_grid(theta, (1, 1, h, w), align_corners=False)
    sample = lambda t: F.grid_sample(t, grid, mode=mode, padding_mode="zeros", align_corners=False)[0]  # noqa: E731
    out = sample(torch.from_numpy(x)[None])
    return (out * sample(torch.ones(1, 1, h, w)) if mode == "bilinear" else out).numpy()


@pytest.mark.parametrize("h, w", [(7, 9), (12, 12)])
def test_rotate_tensor_matches_grid_sample(h, w):
    x = f32(2, h, w)
    agree = total = 0
    for angle in (-135.0, -47.0, 12.5, 30.0, 100.0):
        bilinear = T.rotate(et(x), angle, T.InterpolationMode.BILINEAR).numpy()
        np.testing.assert_allclose(bilinear, _grid_sample_rotate(x, angle, "bilinear"), atol=1e-6)
        nearest = T.rotate(et(x), angle).numpy()
        agree += (nearest == _grid_sample_rotate(x, angle, "nearest")).sum()
        total += x.size
    assert agree / total > 0.99  # float32 vs float64 coordinates split a few exact ties differently


def test_rotate_fill_outside():
    x = np.ones((1, 5, 5), np.float32)
    out = T.rotate(et(x), 45, fill=0.25).numpy()
    assert out[0, 0, 0] == np.float32(0.25) and out[0, 2, 2] == 1.0


@needs_pil
def test_rotate_pil_matches_tensor():
    arr = u8(6, 6)
    pil = np.asarray(T.rotate(Image.fromarray(arr), 90))
    np.testing.assert_array_equal(pil, T.rotate(et(arr[None]), 90).numpy()[0])


def test_random_rotation():
    rot = T.RandomRotation(30)
    assert rot.degrees == [-30.0, 30.0]
    ember.manual_seed(0)
    angles = [T.RandomRotation.get_params(rot.degrees) for _ in range(50)]
    ember.manual_seed(0)
    assert angles == [T.RandomRotation.get_params(rot.degrees) for _ in range(50)]
    assert all(-30 <= a <= 30 for a in angles) and min(angles) < -10 and max(angles) > 10
    assert repr(rot) == "RandomRotation(degrees=[-30.0, 30.0], interpolation=nearest, expand=False, fill=0)"
    assert rot(et(f32(3, 8, 8))).shape == (3, 8, 8)
    with pytest.raises(ValueError, match="it must be positive"):
        T.RandomRotation(-1)


# -- composition ---------------------------------------------------------------------------------------
def test_compose_lambda_random_apply():
    pipeline = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    assert repr(pipeline) == "Compose(\n    ToTensor()\n    Normalize(mean=(0.1307,), std=(0.3081,))\n)"
    img = u8(4, 4)
    np.testing.assert_array_equal(pipeline(img).numpy(),
                                  (img[None] / np.float32(255) - np.float32(0.1307)) / np.float32(0.3081))
    double = T.Lambda(lambda t: t * 2)
    assert repr(double) == "Lambda()"
    x = et(f32(1, 2, 2))
    np.testing.assert_array_equal(T.RandomApply([double], p=1.0)(x).numpy(), x.numpy() * 2)
    assert T.RandomApply([double], p=0.0)(x) is x
    assert repr(T.RandomApply([double, T.RandomHorizontalFlip()], p=0.3)) == \
        "RandomApply(\n    p=0.3\n    Lambda()\n    RandomHorizontalFlip(p=0.5)\n)"
    with pytest.raises(TypeError, match="Argument lambd should be callable, got 'int'"):
        T.Lambda(3)


@needs_pil
def test_typical_augmentation_pipeline_on_pil():
    pipeline = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                          T.Normalize((0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261))])
    ember.manual_seed(3)
    img = Image.fromarray(u8(32, 32, 3))
    a = pipeline(img)
    ember.manual_seed(3)
    b = pipeline(img)
    assert a.shape == (3, 32, 32) and a.dtype == ember.float32
    np.testing.assert_array_equal(a.numpy(), b.numpy())
