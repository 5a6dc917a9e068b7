"""The confusion matrix picture: counts and row shares per planted class, darker where
a larger share of the row went."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np

from pipeline.recognition.confusion import confusion_png, confusion_rows

CONFUSION = {"negative": {"negative": 11, "surprise": 1},
             "positive": {"positive": 19, "negative": 6},
             "surprise": {"surprise": 16}}


def test_each_row_is_shared_out_over_every_label() -> None:
    rows = dict(confusion_rows(CONFUSION))
    assert [c for _, c, _ in rows["positive"]] == [6, 19, 0]
    assert abs(sum(s for _, _, s in rows["positive"]) - 1.0) < 1e-9
    assert rows["surprise"][2] == ("surprise", 16, 1.0)


def test_the_picture_is_darkest_where_a_whole_row_went(tmp_path) -> None:
    out = confusion_png(CONFUSION, tmp_path / "c.png", "test")
    image = mpimg.imread(str(out))[..., :3]
    assert image.shape[0] > 200 and image.shape[1] > 300
    from matplotlib import colormaps

    def area(share: float) -> int:  # pixels of the colour a cell of this share gets
        rgb = np.array(colormaps["Blues"](share)[:3])
        return int((np.abs(image - rgb).max(axis=-1) < 0.02).sum())

    cell = image.shape[0] * image.shape[1] / 30  # well under one cell of the 3 x 3 grid
    assert area(1.0) > cell       # surprise -> surprise, the whole row: deepest blue
    assert area(0.0) > 3 * cell   # the empty cells: the lightest
    assert area(19 / 25) > cell   # positive -> positive, 76 %
