"""Contact sheet layout, tiles and the atomic PNG write."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facewarp.core.color import linear_to_srgb
from facewarp.core.errors import OutputExistsError
from facewarp.imaging.contact_sheet import (
    COLUMNS,
    LABEL_HEIGHT,
    SheetRow,
    contact_sheet,
    displacement_rgb,
    draw_points,
    write_png,
)


def _rows(n=3, h=90, w=160):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        plate = rng.uniform(0, 1, (h, w, 3)).astype(np.float32)
        out = rng.uniform(0, 1, (h, w, 3)).astype(np.float32)
        field = np.zeros((h, w, 2), np.float32)
        field[..., 0] = i  # row i moves everything i px to the right
        pts = np.array([[40.0, 30.0], [120.0, 60.0]])
        rows.append(SheetRow(1001 + i, plate, out, pts, field))
    return rows


def test_layout_is_rows_by_columns_of_tiles_and_output_tile_is_the_render_downscaled():
    rows = _rows()
    sheet = contact_sheet(rows, tile_width=80, labels=False)
    assert sheet.shape == (3 * 45, len(COLUMNS) * 80, 3) and sheet.dtype == np.uint8
    labelled = contact_sheet(rows, tile_width=80, labels=True)
    assert labelled.shape == (3 * (45 + LABEL_HEIGHT), 4 * 80, 3)
    out_col = COLUMNS.index("output")
    in_col = COLUMNS.index("input")
    for i, row in enumerate(rows):
        want = (linear_to_srgb(cv2.resize(row.output, (80, 45), interpolation=cv2.INTER_AREA)) * 255 + 0.5).astype(np.uint8)
        tile = sheet[i * 45:(i + 1) * 45, out_col * 80:(out_col + 1) * 80]
        assert np.abs(tile.astype(int) - want).max() <= 1
        plate = (linear_to_srgb(cv2.resize(row.plate, (80, 45), interpolation=cv2.INTER_AREA)) * 255 + 0.5).astype(np.uint8)
        assert np.abs(sheet[i * 45:(i + 1) * 45, in_col * 80:(in_col + 1) * 80].astype(int) - plate).max() <= 1
        # labelled: the same tile sits under its label strip
        y = i * (45 + LABEL_HEIGHT) + LABEL_HEIGHT
        assert np.array_equal(labelled[y:y + 45, out_col * 80:(out_col + 1) * 80], tile)


def test_displacement_column_is_white_at_rest_and_coloured_where_it_moves():
    sheet = contact_sheet(_rows(), tile_width=80, labels=False)
    c = COLUMNS.index("displacement")
    rest = sheet[0:45, c * 80:(c + 1) * 80]
    moving = sheet[2 * 45:3 * 45, c * 80:(c + 1) * 80].astype(int)
    assert rest.min() == 255  # no displacement: white
    # +x (hue 0) at the shared maximum: saturated red
    assert moving[..., 0].min() >= 250 and moving[..., 1].max() <= 5 and moving[..., 2].max() <= 5
    half = sheet[45:90, c * 80:(c + 1) * 80].astype(int)  # half the maximum: pink
    assert abs(half[..., 1].mean() - 127) <= 3


def test_displacement_rgb_hue_follows_direction():
    down = displacement_rgb(np.tile(np.array([0.0, 2.0], np.float32), (4, 4, 1)))
    # +y (down in the picture) is hue 90: yellow-green (R half, G full, B none)
    assert np.allclose(down[0, 0], [0.5, 1.0, 0.0], atol=0.01)


def test_landmarks_are_drawn_where_they_are():
    tile = np.zeros((20, 40, 3), np.uint8)
    out = draw_points(tile, np.array([[20.0, 10.0]]) * 2, 0.5)  # full-size (40, 20) -> tile (20, 10)
    assert out[9:11, 19:21, 1].max() > 100 and out[0:5].max() == 0 and tile.max() == 0
    rows = _rows()
    with_marks = contact_sheet(rows, tile_width=80, labels=False, zoom=0)
    c = COLUMNS.index("landmarks")
    tile = with_marks[0:45, c * 80:(c + 1) * 80].astype(int)
    plate = with_marks[0:45, 0:80].astype(int)
    changed = np.argwhere(np.abs(tile - plate).max(axis=2) > 0)
    assert len(changed) and np.all(np.abs(changed - changed.mean(0)) < 25)  # only around the points
    assert (tile[15, 20] == (0, 255, 0)).all()  # (40, 30) / 2 -> (20, 15)


def test_write_png_is_atomic_and_refuses_to_overwrite(tmp_path):
    sheet = contact_sheet(_rows(), tile_width=80)
    path = str(tmp_path / "sheet.png")
    write_png(path, sheet)
    back = cv2.imread(path, cv2.IMREAD_COLOR)[..., ::-1]
    assert np.array_equal(back, sheet)
    with pytest.raises(OutputExistsError):
        write_png(path, sheet)
    write_png(path, sheet[:10], overwrite=True)
    assert cv2.imread(path).shape[0] == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sheet.png"]
