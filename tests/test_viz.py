import numpy as np
import pytest

from hdogreg.viz import display_range, froc_axes, mc_window, plot_mean_roc, richest_window


def test_richest_window_finds_the_cluster():
    m = np.zeros((100, 120), bool)
    m[70:74, 90:95] = True          # the cluster
    m[5, 5] = True                  # a lone pixel
    rows, cols = richest_window(m, 16)
    assert rows.stop - rows.start == 16 and cols.stop - cols.start == 16
    assert m[rows, cols].sum() == 20


def test_richest_window_clips_to_image():
    rows, cols = richest_window(np.ones((10, 8), bool), 32)
    assert (rows, cols) == (slice(0, 10), slice(0, 8))


def test_richest_window_validates():
    with pytest.raises(ValueError, match="size"):
        richest_window(np.ones((4, 4), bool), 0)


def test_display_range_uses_mask():
    img = np.zeros((10, 10))
    img[:5] = 1.0
    lo, hi = display_range(img, img > 0.5)
    assert lo == hi - 1e-6 or lo == pytest.approx(1.0)


def test_mc_window_counts_mcs_not_pixels():
    from types import SimpleNamespace

    # one MC at the top left, a cluster of three at the bottom right
    image = np.zeros((64, 64))
    points = np.array([[4.0, 4.0], [50.0, 50.0], [52.0, 55.0], [58.0, 49.0]])
    mammo = SimpleNamespace(image=image, mc_points=lambda: points)
    rows, cols = mc_window(mammo, 16)
    inside = ((points[:, 0] >= rows.start) & (points[:, 0] < rows.stop)
              & (points[:, 1] >= cols.start) & (points[:, 1] < cols.stop))
    assert inside.sum() == 3


def test_plot_mean_roc_draws_one_curve_and_band_per_method():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    fpr = np.linspace(0, 1, 5)
    rocs = pd.concat([pd.DataFrame({"method": m, "fpr": fpr, "tpr_mean": np.sqrt(fpr) * k, "tpr_sd": 0.3})
                      for m, k in (("a", 1.0), ("b", 0.9))])
    aucs = pd.DataFrame({"method": ["a", "a", "b"], "metric": ["auc", "sensitivity", "auc"],
                         "mean": [0.81, 0.5, 0.7], "sd": [0.05, 0.1, 0.04]})
    fig, ax = plt.subplots()
    plot_mean_roc(ax, rocs, aucs, {"a": "r", "b": "b"}, {"a": "ours", "b": "theirs"}, title="t")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["ours: AUC 0.810 ± 0.050", "theirs: AUC 0.700 ± 0.040"]
    assert len(ax.collections) == 2  # the two SD bands
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() >= 0 and band[:, 1].max() <= 1  # clipped to [0, 1]
    plt.close(fig)


def test_error_extents_never_negative():
    from hdogreg.viz import error_extents

    ext = error_extents([0.49, 0.5, 0.8], [0.5, 0.4, 0.7], [0.5, 0.7, 0.75])
    np.testing.assert_allclose(ext, [[0, 0.1, 0.1], [0.01, 0.2, 0]], atol=1e-12)


def test_froc_axes_frames_the_plot_and_adds_a_legend_only_for_labelled_curves():
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2)
    a.step([0, 0.5, 2], [0, 0.4, 0.8], label="ours")
    froc_axes(a, "test")
    assert a.get_xlim() == (0, 1.0) and a.get_ylim() == (0, 1.02)
    assert a.get_title() == "test" and a.get_xlabel() == "false positives per cm²"
    assert a.get_legend() is not None
    b.step([0, 1], [0, 1])
    froc_axes(b, max_fp=2.0)
    assert b.get_xlim() == (0, 2.0) and b.get_legend() is None and b.get_title() == ""
    plt.close(fig)


def test_plot_training_history_draws_both_losses_per_epoch(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from hdogreg.viz import plot_training_history

    history = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [0.9, 0.7, 0.6], "val_loss": [0.8, 0.5, 0.55],
                            "val_iou": [0.1, 0.3, 0.28]})
    history.to_csv(tmp_path / "history.csv", index=False)
    fig, ax = plt.subplots()
    plot_training_history(ax, tmp_path / "history.csv", best_epoch=2)   # a path is read too
    train, val = ax.get_lines()[:2]
    np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(train.get_ydata(), [0.9, 0.7, 0.6])
    np.testing.assert_allclose(val.get_ydata(), [0.8, 0.5, 0.55])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["training loss", "validation loss", "kept: epoch 2"]
    assert ax.get_xlabel() == "epoch"
    with pytest.raises(ValueError, match="val_loss"):
        plot_training_history(ax, history.drop(columns="val_loss"))
    plt.close(fig)


def test_plot_objects_kept_counts_scores_at_or_above_each_threshold():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hdogreg.viz import plot_objects_kept

    scores = np.array([0.0, 0.1, 0.1, 0.5, 0.9])
    fig, ax = plt.subplots()
    thresholds, n_kept = plot_objects_kept(ax, scores, p_thr=0.3, n_steps=5)
    assert thresholds[0] == 0.0 and np.all(np.diff(thresholds) > 0)
    expected = [(scores >= t).sum() for t in thresholds]
    np.testing.assert_array_equal(n_kept, expected)
    assert n_kept[0] == 5 and n_kept[-1] == 1          # all at 0, only the best at the top score
    assert ax.get_lines()[-1].get_xdata()[0] == 0.3    # the threshold used
    empty_t, empty_n = plot_objects_kept(ax, [])
    np.testing.assert_array_equal(empty_t, [0.0])
    np.testing.assert_array_equal(empty_n, [0])
    plt.close(fig)
