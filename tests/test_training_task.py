"""The optic-flow task: exact flow of photo/texture movies, Sintel flow, augmentation, decoder,
loss, schedule and activity penalty (all cheap: small frames, small lattices)."""

import numpy as np
import pytest
import torch
from scipy.ndimage import map_coordinates

from flycluster.errors import StimulusError
from flycluster.stimuli.lattice import hex_coordinates, hex_to_pixel
from flycluster.stimuli.photos import photo_movie, self_motion
from flycluster.training.data import (
    FlowAugmentation,
    FlowSequence,
    flip_matrix,
    photo_flow_sequences,
    rotation_matrix,
    sintel_flow_sequences,
    texture_flow_sequences,
)
from flycluster.training.decoder import Dropout, FlowDecoder, HexConv2d
from flycluster.training.flow import (
    box_eye_sum,
    camera_flow,
    flo_to_flyvis,
    read_flo,
    render_flow_splits,
    write_flo,
)
from flycluster.training.objectives import ActivityPenalty, epe, l2norm, stepwise_schedule
from flycluster.training.textures import natural_texture, pink_noise

H, W = 120, 240  # small frames; the geometry is Sintel's scaled down


def smooth_image(seed=0, shape=(400, 400)):
    noise = pink_noise(shape, alpha=1.5, rng=seed)
    return np.clip(0.5 + 0.2 * noise, 0, 1)


def test_flo_roundtrip_and_errors(tmp_path):
    flow = np.random.default_rng(0).normal(size=(7, 11, 2)).astype(np.float32)
    write_flo(tmp_path / "a.flo", flow)
    np.testing.assert_array_equal(read_flo(tmp_path / "a.flo"), flow)
    (tmp_path / "bad.flo").write_bytes(b"PNG!" + bytes(8))  # "PIEH" is the magic
    with pytest.raises(StimulusError, match="bad.flo.*magic"):
        read_flo(tmp_path / "bad.flo")
    (tmp_path / "short.flo").write_bytes((tmp_path / "a.flo").read_bytes()[:-4])
    with pytest.raises(StimulusError, match="short.flo.*7 px"):
        read_flo(tmp_path / "short.flo")
    # flyvis units: divided by the height, y up
    f = flo_to_flyvis(np.stack([np.full((4, 5), 2.0), np.full((4, 5), 3.0)], -1))
    assert f.shape == (2, 4, 5) and np.allclose(f[0], 0.5) and np.allclose(f[1], -0.75)


def test_camera_flow_is_the_true_motion_of_the_image():
    """Brightness constancy: frame t+1 at p + flow(p) equals frame t at p (rotation, zoom and
    translation together), far better than assuming no motion."""
    rng = np.random.default_rng(3)
    motion = self_motion(3, rng, max_speed=6.0, max_rotation=2.0, max_looming=0.03)
    assert abs(motion["rotation"]) > 0.3 and abs(motion["looming"]) > 0.003
    frames = photo_movie(smooth_image(), motion, H, W)
    flow = camera_flow(motion, 0, H, W)
    rows, cols = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    inner = (slice(15, -15), slice(15, -15))

    def error(f):
        warped = map_coordinates(frames[1], [rows + f[..., 1], cols + f[..., 0]], order=1)
        return np.abs(warped - frames[0])[inner].mean()

    # what remains is bilinear interpolation error (twice); scaled flows do worse
    assert error(flow) < 0.15 * error(0 * flow)
    assert error(flow) < min(error(0.9 * flow), error(1.1 * flow), error(-flow))
    # magnitude as drawn: mean displacement close to the translation speed
    assert 0.5 * motion["speed"] < np.hypot(*flow[inner].reshape(-1, 2).mean(0)) < 2 * motion["speed"]


def test_translation_flow_on_the_lattice_in_flyvis_units():
    # pure translation to the right and up (direction 30 deg): the content moves left and down
    motion = {"shift_row": -np.arange(3) * 4 * np.sin(np.radians(30)),
              "shift_col": np.arange(3) * 4 * np.cos(np.radians(30)),
              "angle": np.zeros(3), "zoom": np.ones(3)}
    field = flo_to_flyvis(camera_flow(motion, 0, H, W))
    assert np.allclose(field[0], -4 * np.cos(np.radians(30)) / H, atol=1e-6)
    assert np.allclose(field[1], -4 * np.sin(np.radians(30)) / H, atol=1e-6)
    splits = render_flow_splits(field[None], vertical_splits=3, extent=2)
    assert len(splits) == 3 and splits[0].shape == (1, 2, 19)
    # summed over the 13 x 13 box: 169 x the per-pixel value where the box is inside the frame
    assert np.allclose(splits[1][0, 0], 169 * field[0, 0, 0], rtol=1e-5)
    assert np.allclose(splits[1][0, 1], 169 * field[1, 0, 0], rtol=1e-5)
    # zero padding at the frame border: a box sticking out sums less
    edge = box_eye_sum(np.ones((1, 30, 30)), extent=1)
    assert edge.max() == pytest.approx(169) and edge.min() < 169


def test_photo_and_texture_sequences_are_seeded_and_consistent():
    kw = dict(frames_per_movie=21, height=H, width=W, extent=2, vertical_splits=2)
    a = photo_flow_sequences(["camera", "coins"], random_state=1, **kw)
    b = photo_flow_sequences(["camera", "coins"], random_state=1, **kw)
    assert [s.name for s in a] == ["sequence_00_camera_split_00", "sequence_00_camera_split_01",
                                   "sequence_01_coins_split_00", "sequence_01_coins_split_01"]
    assert a[0].lum.shape == (21, 19) and a[0].flow.shape == (21, 2, 19)
    assert all(np.array_equal(x.lum, y.lum) and np.array_equal(x.flow, y.flow) for x, y in zip(a, b))
    assert a[0].group == "camera" and np.abs(a[0].flow).max() > 0.5
    t1 = texture_flow_sequences(2, random_state=5, texture_shape=(256, 256), **kw)
    t2 = texture_flow_sequences(2, random_state=6, texture_shape=(256, 256), **kw)
    assert t1[0].group.startswith("texture_") and t1[0].group != t2[0].group
    assert not np.array_equal(t1[0].lum, t2[0].lum)
    assert 0 <= t1[0].lum.min() and t1[0].lum.max() <= 1 and t1[0].lum.std() > 0.02


def test_texture_statistics():
    img = natural_texture(0, shape=(256, 256), n_leaves=400)
    assert img.shape == (256, 256) and img.min() == 0 and img.max() == 1
    np.testing.assert_array_equal(img, natural_texture(0, shape=(256, 256), n_leaves=400))
    # power spectrum of the noise layer falls as ~1/f^2 (slope -2 on log-log)
    noise = pink_noise((256, 256), alpha=1.0, rng=0)
    power = np.abs(np.fft.fft2(noise)) ** 2
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(256), np.fft.fftfreq(256), indexing="ij"))
    bins = np.logspace(np.log10(0.02), np.log10(0.4), 10)
    centres, means = [], []
    for lo, hi in zip(bins[:-1], bins[1:]):
        sel = (f >= lo) & (f < hi)
        centres.append(np.sqrt(lo * hi))
        means.append(power[sel].mean())
    slope = np.polyfit(np.log(centres), np.log(means), 1)[0]
    assert -2.3 < slope < -1.7


def _ramp_sequence(gradient, extent=3, frames=19):
    """Luminance = gradient . position (true hexagonal geometry), flow = gradient everywhere."""
    u, v = hex_coordinates(extent)
    x, y = hex_to_pixel(u, v)
    lum = np.tile(0.5 + 0.01 * (gradient[0] * x + gradient[1] * y), (frames, 1)).astype(np.float32)
    flow = np.tile(np.asarray(gradient, np.float32)[None, :, None], (frames, 1, len(u)))
    return FlowSequence("ramp", lum, flow, "ramp")


@pytest.mark.parametrize("flip,n_rot", [(1, 0), (2, 0), (3, 0), (0, 1), (0, 2), (2, 5), (3, 4)])
def test_flow_vectors_turn_with_the_lattice(flip, n_rot):
    """A luminance ramp's gradient and the flow vectors transform together under every flip
    and rotation (least-squares gradient of the permuted lattice vs the transformed vector)."""
    g = np.array([0.8, 0.3])
    aug = FlowAugmentation(n_frames=19, dt=1 / 24, noise_std=0, contrast_std=0)
    params = {"n_rot": n_rot, "flip_axis": flip, "contrast": None, "brightness": 0.0, "start": 0}
    lum, flow = aug(_ramp_sequence(g), np.random.default_rng(0), params=params)
    u, v = hex_coordinates(3)
    x, y = hex_to_pixel(u, v)
    fitted = np.linalg.lstsq(np.stack([x, y, np.ones_like(x)], 1), lum[0] - 0.5, rcond=None)[0][:2]
    fitted /= 0.01
    expected = rotation_matrix(n_rot) @ flip_matrix(flip) @ g
    np.testing.assert_allclose(fitted, expected, atol=1e-4)
    np.testing.assert_allclose(flow[0, :, 0], expected, atol=1e-5)
    assert not np.allclose(expected, g)


def test_augmentation_sampling_and_resampling():
    rng = np.random.default_rng(0)
    seq = FlowSequence("s", rng.uniform(size=(30, 19)).astype(np.float32),
                       rng.normal(size=(30, 2, 19)).astype(np.float32), "s")
    aug = FlowAugmentation()
    assert aug.out_frames == 40  # 19 frames at 24/s resampled to dt = 0.02
    lum, flow = aug(seq, augment=False)
    assert lum.shape == (40, 19) and flow.shape == (40, 2, 19)
    # nearest-exact for luminance, linear (align_corners) for flow; validation crops at 0
    np.testing.assert_array_equal(lum[0], seq.lum[0])
    np.testing.assert_array_equal(lum[-1], seq.lum[18])
    np.testing.assert_allclose(flow[0], seq.flow[0])
    np.testing.assert_allclose(flow[-1], seq.flow[18])
    t = 20 * 18 / 39  # linear interpolation position of output frame 20
    np.testing.assert_allclose(flow[20], (1 - t % 1) * seq.flow[int(t)] + (t % 1) * seq.flow[int(t) + 1],
                               rtol=1e-5, atol=1e-6)
    draws = [aug.draw(np.random.default_rng(i), 30) for i in range(400)]
    assert 0.4 < np.mean([d["n_rot"] > 0 for d in draws]) < 0.6
    assert 0.4 < np.mean([d["flip_axis"] > 0 for d in draws]) < 0.6
    assert {d["flip_axis"] for d in draws} == {0, 1, 2, 3} and {d["n_rot"] for d in draws} == set(range(6))
    assert {d["start"] for d in draws} == set(range(11))  # randint(0, 30 - 19)
    assert np.std([np.log(d["contrast"]) for d in draws]) == pytest.approx(0.2, rel=0.2)
    a1 = aug(seq, np.random.default_rng(7))
    a2 = aug(seq, np.random.default_rng(7))
    assert np.array_equal(a1[0], a2[0]) and np.array_equal(a1[1], a2[1])
    assert a1[0].min() >= 0 and not np.array_equal(a1[0], lum)


def test_sintel_flow_pairs_frames_with_the_previous_flow_file(tmp_path):
    from PIL import Image

    root = tmp_path / "sintel"
    height, width = 100, 240
    for scene, n in (("alley_1", 22), ("bamboo_9", 5)):
        fdir, odir = root / "training/final" / scene, root / "training/flow" / scene
        fdir.mkdir(parents=True)
        odir.mkdir(parents=True)
        for k in range(n):
            frame = np.full((height, width, 3), 10 * k, np.uint8)
            Image.fromarray(frame).save(fdir / f"frame_{k + 1:04d}.png")
        for k in range(n - 1):  # flow file k: (u, v) = (k, 2) px everywhere
            write_flo(odir / f"frame_{k + 1:04d}.flo",
                      np.stack([np.full((height, width), float(k)), np.full((height, width), 2.0)], -1))
    seqs = sintel_flow_sequences(root, extent=2)
    assert [s.name for s in seqs] == [f"sequence_00_alley_1_split_{j:02d}" for j in range(3)]
    s = seqs[0]
    assert s.lum.shape == (21, 19) and s.flow.shape == (21, 2, 19)
    centre = 9  # hexal (0, 0) of extent 2
    # luminance frame t is file t + 1 (frame 0 dropped); its flow is file t
    assert s.lum[4, centre] == pytest.approx(10 * 5 / 255, abs=1e-6)
    assert s.flow[4, 0, centre] == pytest.approx(169 * 4 / height, rel=1e-5)
    assert s.flow[4, 1, centre] == pytest.approx(-169 * 2 / height, rel=1e-5)
    (root / "training/flow/alley_1/frame_0021.flo").unlink()
    with pytest.raises(StimulusError, match="alley_1.*expected 21 .flo"):
        sintel_flow_sequences(root, extent=2)


def test_decoder_structure_matches_flyvis():
    index = np.arange(3 * 19).reshape(3, 19)  # 3 output types at extent 2
    dec = FlowDecoder(index)
    assert list(dec.state_dict()) == [
        "base.0.weight", "base.0.bias", "base.1.weight", "base.1.bias", "base.1.running_mean",
        "base.1.running_var", "base.1.num_batches_tracked", "decoder.0.weight", "decoder.0.bias"]
    assert dec.base[0].weight.shape == (8, 3, 5, 5) and dec.decoder[0].weight.shape == (3, 8, 5, 5)
    assert isinstance(dec.base[2], torch.nn.Softplus) and dec.base[3].p == 0.5
    w = dec.base[0].weight[0, 0]
    assert int((w != 0).sum()) == 19 and float(w.detach().max()) == pytest.approx(1e-3)
    assert w[0, 0] == 0 and w[0, 1] == 0 and w[4, 4] == 0 and w[0, 2] != 0  # hexagon of radius 2
    dec.eval()
    act = torch.rand(2, 4, 60)
    out = dec(act)
    assert out.shape == (2, 4, 2, 19)
    # the mask keeps the corner weights out of the convolution
    conv = HexConv2d(1, 1, 5, const_weight=1.0).requires_grad_(False)
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 0, 0] = 1.0  # a corner: not a hex neighbour of the centre
    assert float(conv(x)[0, 0, 2, 2]) == pytest.approx(1.0)  # bias only
    x[0, 0, 0, 2] = 1.0
    assert float(conv(x)[0, 0, 2, 2]) == pytest.approx(2.0)


def test_decoder_map_and_dropout():
    """The one-gather channels-last input map equals the literal one (a map of zeros with each
    output type's relu(activity) at its hexals), and the rand-mask dropout is nn.Dropout's."""
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    index = rng.permutation(90)[:57].reshape(3, 19)  # 3 output types at extent 2, scattered nodes
    dec = FlowDecoder(index, const_weight=None).eval()
    act = torch.from_numpy(rng.normal(size=(2, 4, 90)).astype(np.float32))
    x = torch.relu(act[:, :, torch.from_numpy(index)]).reshape(8, 3, 19)
    literal = torch.zeros(8, 3, 5, 5)
    literal[:, :, dec._u, dec._v] = x
    out = dec.decoder(dec.base(literal))
    out = (out[:, :2] / (F.softplus(out[:, 2:]) + 1))[:, :, dec._u, dec._v].reshape(2, 4, 2, 19)
    torch.testing.assert_close(dec(act), out, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=f"activity has 80 nodes; the decoder reads node {index.max()}$"):
        dec(act[:, :, :80])

    drop = Dropout(0.5)
    assert isinstance(drop, torch.nn.Dropout) and drop.p == 0.5
    ones = torch.ones(200_000)
    torch.manual_seed(1)
    y = drop(ones)
    assert set(torch.unique(y).tolist()) == {0.0, 2.0}
    assert abs(float((y == 0).float().mean()) - 0.5) < 0.005  # 5 sigma
    torch.manual_seed(1)
    assert torch.equal(drop(ones), y)  # masks come from torch's seeded generator
    assert torch.equal(drop.eval()(ones), ones)
    assert torch.equal(Dropout(1.0)(ones), torch.zeros_like(ones))


def test_loss_schedule_penalty():
    y = torch.zeros(2, 3, 2, 5)
    est = y.clone()
    est[0, 0, 0, 0], est[0, 1, 1, 2] = 3.0, 4.0
    assert float(l2norm(est, y)) == pytest.approx(2.5)  # (5 + 0) / 2
    assert float(epe(est, y)) == pytest.approx(7 / 30)  # 30 (sample, frame, hexal) points
    s = stepwise_schedule(100)
    assert len(s) == 101 and s[0] == s[9] == 5e-5 and s[10] == pytest.approx(4.5e-5)
    assert s[99] == pytest.approx(5e-6) and s[100] == 5e-6
    assert np.all(stepwise_schedule(7) == 5e-6)  # fewer iterations than steps: flyvis's repeat
    pen = ActivityPenalty(np.array([0, 2]))
    act = torch.zeros(1, 8, 3)
    act[0, 2:, 0] = 4.0  # mean over frames 2.. = 4 -> 1 below the baseline
    act[0, 2:, 2] = 7.0  # 2 above -> weight 0.1
    assert float(pen(act)) == pytest.approx(0.1 * (1.0 + 0.04) / 2)


def test_flow_sequences_factory_and_group_split():
    from flycluster.errors import ConfigError
    from flycluster.training.data import flow_sequences, split_by_group

    seqs = flow_sequences("photos", images=["camera", "coins"], frames_per_movie=20, height=H,
                          width=W, extent=2, vertical_splits=2)
    train, val = split_by_group(seqs, ["coins"])
    assert [s.group for s in train] == ["camera", "camera"] and [s.group for s in val] == ["coins"] * 2
    with pytest.raises(ConfigError, match="moon"):
        split_by_group(seqs, ["moon"])
    with pytest.raises(ConfigError, match="kind"):
        flow_sequences("kitti")
    with pytest.raises(ConfigError, match="photos.*speed"):
        flow_sequences("photos", speed=3)


def test_decoder_cell_types(connectome_path):
    from flycluster.connectome import load_connectome
    from flycluster.errors import ConfigError
    from flycluster.training.decoder import FlowDecoder, output_node_index
    from flycluster.training.ensemble import train_config
    from flycluster.training.loop import TrainConfig

    connectome = load_connectome(connectome_path, extent=2)
    full = output_node_index(connectome)
    assert full.shape == (34, connectome.n_hexals)
    chosen = output_node_index(connectome, ["T5d", "T4a"])
    types = list(connectome.output_cell_types)
    np.testing.assert_array_equal(chosen, full[[types.index("T5d"), types.index("T4a")]])
    assert FlowDecoder(chosen).base[0].weight.shape[1] == 2
    # not an output type of flyvis's decoder, but a cell type: allowed
    assert output_node_index(connectome, ["Mi1"]).shape == (1, connectome.n_hexals)
    for bad, message in ((["T4x"], r"\['T4x'\] are not cell types"), ([], "at least one"),
                         (["T4a", "T4a"], "name a type twice")):
        with pytest.raises(ValueError, match=message):
            output_node_index(connectome, bad)
    assert TrainConfig(decoder_cell_types=["T4a"]).decoder_cell_types == ("T4a",)
    for bad in ("T4a", []):
        with pytest.raises(ConfigError, match="decoder_cell_types: expected a non-empty list"):
            TrainConfig(decoder_cell_types=bad)
    with pytest.raises(ConfigError, match=r"ensemble.training.decoder_cell_types: unknown cell "
                                          r"type\(s\) 'T4x' \(did you mean"):
        train_config({"decoder_cell_types": ["T4a", "T4x"]}, 0)
    assert train_config({"decoder_cell_types": ["T4a"]}, 0).decoder_cell_types == ("T4a",)


def test_decoder_rectify_option(connectome_path):
    """decoder_rectify False: the decoder reads the voltage, so a cell below 0 still moves the
    estimate and passes a gradient; True (flyvis) reads relu(voltage)."""
    from flycluster.training.ensemble import train_config

    rng = np.random.default_rng(0)
    index = rng.permutation(90)[:57].reshape(3, 19)
    act = torch.from_numpy(rng.normal(size=(2, 4, 90)).astype(np.float32))
    flyvis = FlowDecoder(index, const_weight=None).eval()
    raw = FlowDecoder(index, const_weight=None, rectify=False).eval()
    raw.load_state_dict(flyvis.state_dict())
    positive = act.abs()
    torch.testing.assert_close(raw(positive), flyvis(positive))  # equal where V > 0
    assert not torch.allclose(raw(act), flyvis(act))
    silent = (-positive).requires_grad_(True)  # every cell below 0
    flyvis(silent).sum().backward()
    assert float(silent.grad.abs().sum()) == 0  # relu: no gradient through silent cells
    silent.grad = None
    raw(silent).sum().backward()
    assert float(silent.grad[:, :, torch.from_numpy(index)].abs().min()) > 0
    assert train_config({}, 0).decoder_rectify is True
    assert train_config({"decoder_rectify": False}, 0).decoder_rectify is False
