"""A seeded, virtual GFW integrated alert raster of any size, generated where it is read (for benchmarks and tests).

The raster is cut in fixed blocks (default 256 x 256); each block's values come from its own generator seeded by
``(seed, block row, block column)`` plus hashes of global coordinates, so any window reads the same pixels whatever
the windowing, and a 5-billion pixel raster costs no disk: a Dask task generates its window instead of reading it.

Clearings: 64 x 64 pixel areas are active with probability ``alert_share / 0.3``, clustered in fronts (20 % of
300 x 300 squares hold all of them, so active areas touch); in an active area each 8 x 8 cell is cleared with probability 0.5 and 60 % of a cleared cell's pixels carry an alert. Dates: one base date per
600 x 600 region (from a hash, so neighbouring active areas share it across block and window edges) plus a 0-39 day
spread per pixel, so patches run over window edges and the 30-day rule splits some. Confidence low/high/highest
30/50/20 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rasterio.transform import Affine, from_origin

CELL = 8
AREA = 64  # clearing activity
REGION = 600  # one base date (not a divisor of usual window sizes)
HOT = 300  # deforestation fronts: clearing areas cluster in 20 % of these squares
HOT_SHARE = 0.2
CELL_SHARE = 0.5
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
        # global cell coordinates of the block's cells
        gr = (br * b + np.arange(n) * CELL)[:, None]
        gc = (bc * b + np.arange(n) * CELL)[None, :]
        q = self.alert_share / (CELL_SHARE * KEEP)  # share of active areas
        hot = _hash01(gr // HOT, gc // HOT, self.seed, 3) < HOT_SHARE
        active = hot & (_hash01(gr // AREA, gc // AREA, self.seed, 1) < q / HOT_SHARE)
        cr, cc = np.nonzero(active & (rng.random((n, n)) < CELL_SHARE))
        m = cr.size
        base = 1 + (_hash01(gr[cr, 0] // REGION, gc[0, cc] // REGION, self.seed, 2) * 3600).astype(np.int32)
        keep = rng.random((m, CELL, CELL)) < KEEP
        day = base[:, None, None] + rng.integers(0, 40, (m, CELL, CELL))
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


def _hash01(a: np.ndarray, b: np.ndarray, seed: int, salt: int) -> np.ndarray:
    """A deterministic value in [0, 1) for each (a, b) pair: a splitmix64-style integer hash, vectorised."""
    x = np.asarray(a, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    x = x ^ (np.asarray(b, dtype=np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F))
    x = x ^ np.uint64((seed * 1_000_003 + salt) & 0xFFFFFFFFFFFF)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(2**53)
