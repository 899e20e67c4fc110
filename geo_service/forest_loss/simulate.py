"""A seeded, virtual GFW integrated alert raster of any size, generated where it is read (for benchmarks and tests).

The raster is cut in fixed blocks (default 256 x 256); each block's values come from its own generator seeded by
``(seed, block row, block column)``, so any window reads the same pixels whatever the windowing, and a 5-billion
pixel raster costs no disk: a Dask task generates its window instead of reading it. Alerts come in 8 x 8 cells
(a cell is a clearing with probability ``alert_share / 0.6``; 60 % of its pixels carry an alert), each cell with
one base date and a 0-39 day spread per pixel, confidence low/high/highest 30/50/20 %: neighbouring clearing cells
join into patches across block and window edges, and the 30-day rule splits some of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rasterio.transform import Affine, from_origin

CELL = 8
KEEP = 0.6
# 10 m pixels in UTM 47N with the origin at the north-west of Thailand (97.3 E, 20.5 N)
THAILAND_10M = from_origin(320_000.0, 2_270_000.0, 10.0, 10.0)


@dataclass(frozen=True)
class SimulatedGfwSource:
    """A virtual int32 GFW integrated alert raster (see module doc); same reading interface as the file sources."""

    height: int
    width: int
    seed: int = 0
    alert_share: float = 0.02
    transform: Affine = THAILAND_10M
    crs: str = "EPSG:32647"
    block: int = 256
    nodata: float | None = None
    dtype: str = "int32"
    name: str = "simulated"

    def _block(self, br: int, bc: int) -> np.ndarray:
        b = self.block
        n = b // CELL
        rng = np.random.default_rng((self.seed, br, bc))
        cr, cc = np.nonzero(rng.random((n, n)) < self.alert_share / KEEP)
        m = cr.size
        keep = rng.random((m, CELL, CELL)) < KEEP
        day = rng.integers(1, 3650, m)[:, None, None] + rng.integers(0, 40, (m, CELL, CELL))
        conf = rng.choice(np.array([2, 3, 4]), size=(m, CELL, CELL), p=[0.3, 0.5, 0.2])
        out = np.zeros((n, CELL, n, CELL), dtype=np.int32)
        out[cr, :, cc, :] = np.where(keep, conf * 10_000 + day, 0)
        return out.reshape(b, b)

    def read(self, row_off: int, col_off: int, height: int, width: int) -> np.ndarray:
        """The values of a window (int32), generated block by block (one Python step per block, not per pixel)."""
        b = self.block
        out = np.empty((height, width), dtype=np.int32)
        for br in range(row_off // b, (row_off + height - 1) // b + 1):
            for bc in range(col_off // b, (col_off + width - 1) // b + 1):
                blk = self._block(br, bc)
                r0, c0 = max(row_off, br * b), max(col_off, bc * b)
                r1 = min(row_off + height, (br + 1) * b, self.height)
                c1 = min(col_off + width, (bc + 1) * b, self.width)
                out[r0 - row_off : r1 - row_off, c0 - col_off : c1 - col_off] = blk[
                    r0 - br * b : r1 - br * b, c0 - bc * b : c1 - bc * b
                ]
        return out
