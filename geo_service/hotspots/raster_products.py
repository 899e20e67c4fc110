"""What a registered raster's values mean: its product, the pixels it flags, and whether those are burned area.

The one definition of "burned area of a raster": ``flag_pixels`` + ``Product.burned_area`` make the figures
stored at registration; the view ``raster_burned_area`` (migration 0009) is the one SQL reading of them
(current versions of burned-area products), read by the summary's SQL and, through
``rasters.burned_area_by_zone``, by the brief and the raster map.

Products that encode burned area (their flagged pixels x pixel area = burned area):

- ``fire_mask`` (MOD14A1 / VIIRS 375 m fire mask): classes 7, 8, 9 = fire of low, nominal, high confidence.
- ``burned_doy`` (MCD64A1 burn date): day of burning 1-366; 0 unburned; negative values (unmapped, water) not.
- ``dnbr`` (differenced Normalised Burn Ratio): dNBR >= 0.1 (USGS low severity and above) unless the
  registering person gives another threshold; the threshold used is recorded with the raster.

Products that do not (statistics only; flagged pixels are reported under their recorded meaning, never as
burned area):

- ``frp`` (fire radiative power, MW): flagged where FRP > 0 ("active fire"), a power grid, not a burn scar.
- ``generic`` (any index, e.g. NDMI, NDVI): statistics only (mean, min, max, percentiles, valid pixels);
  flagged pixels only when the registering person gives a threshold, a comparison and what it means.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import numpy as np

from geo_service.errors import InvalidInput

FIRE_MASK_CLASSES = {7: "low", 8: "nominal", 9: "high"}
COMPARISONS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


@dataclass(frozen=True)
class Threshold:
    """``value <op> threshold`` flags a pixel; ``label`` says what a flagged pixel means."""

    value: float
    op: str
    label: str

    def describe(self) -> str:
        """The rule in words, e.g. ``value >= 0.1: burned``."""
        return f"value {self.op} {self.value:g}: {self.label}"

    def as_dict(self) -> dict:
        """value, op and label as a dict."""
        return {"value": self.value, "op": self.op, "label": self.label}


@dataclass(frozen=True)
class Product:
    """A raster product: its labels, unit, whether flagged pixels are burned area, and its default threshold."""

    code: str
    label_th: str
    label_en: str
    unit: str
    burned_area: bool  # flagged pixels are burned area
    categorical: bool  # values are classes or dates (nearest-neighbour, no mean of classes)
    definition: str  # what a flagged pixel is, in words (README, API, map legend)
    default_threshold: Threshold | None = None
    threshold_allowed: bool = False


PRODUCTS: dict[str, Product] = {
    p.code: p
    for p in (
        Product(
            "fire_mask",
            "หน้ากากไฟ (MOD14A1)",
            "Fire mask (MOD14A1)",
            "",
            True,
            True,
            "fire classes 7, 8, 9 (low, nominal, high confidence)",
        ),
        Product(
            "burned_doy",
            "พื้นที่เผาไหม้ (วันที่ของปี)",
            "Burned area (day of year, MCD64A1)",
            "day of year",
            True,
            True,
            "day of burning 1-366 (0 unburned, negative values unmapped or water)",
        ),
        Product(
            "dnbr",
            "ดัชนีความรุนแรงการเผาไหม้ (dNBR)",
            "Burn severity (dNBR)",
            "dNBR",
            True,
            False,
            "dNBR at or above the recorded threshold (default 0.1: USGS low severity and above)",
            Threshold(0.1, ">=", "burned"),
            True,
        ),
        Product(
            "frp",
            "กำลังแผ่รังสีความร้อน",
            "Fire radiative power",
            "MW",
            False,
            False,
            "FRP above the recorded threshold (active fire; not burned area)",
            Threshold(0.0, ">", "active fire"),
            True,
        ),
        Product(
            "generic",
            "ค่าดัชนีจากภาพ",
            "Index raster",
            "",
            False,
            False,
            "statistics only; pixels are flagged only by a threshold given at registration (never burned area)",
            None,
            True,
        ),
    )
}


def product(code: str) -> Product:
    """The product of a code; InvalidInput (400) for an unknown one."""
    try:
        return PRODUCTS[code]
    except KeyError:
        raise InvalidInput(f"product must be one of {', '.join(PRODUCTS)}.", code="invalid_product") from None


def threshold_for(
    code: str, value: float | None = None, op: str | None = None, label: str | None = None
) -> Threshold | None:
    """The threshold recorded at registration: the one given, else the product's default (None for none).

    Raises
    ------
    InvalidInput
        A threshold for a product whose classes define it, an unknown comparison, a non-finite value, or a
        generic raster's threshold without its meaning.
    """
    p = product(code)
    given = value is not None or op is not None or (label is not None and label.strip() != "")
    if not given:
        return p.default_threshold
    if not p.threshold_allowed:
        raise InvalidInput(
            f"A {code} raster has no threshold: its {p.definition} define what it shows.", code="invalid_threshold"
        )
    if value is None or not math.isfinite(value):
        raise InvalidInput("threshold must be a finite number.", code="invalid_threshold")
    default = p.default_threshold
    op = op or (default.op if default else None)
    if op not in COMPARISONS:
        raise InvalidInput(f"threshold_op must be one of {' '.join(COMPARISONS)}.", code="invalid_threshold")
    label = (label or "").strip() or (default.label if default else "")
    if not label:
        raise InvalidInput(
            "Say what the threshold means (threshold_label, e.g. 'dry vegetation'): a generic "
            "raster's flagged pixels carry only the meaning recorded with them.",
            code="invalid_threshold",
        )
    if len(label) > 200:
        raise InvalidInput("threshold_label is at most 200 characters.", code="invalid_threshold")
    return Threshold(float(value), op, label)


def flag_pixels(code: str, threshold: Threshold | None, values: np.ndarray) -> np.ndarray:
    """Flag class per pixel (0 not flagged; fire-mask classes 7/8/9 kept, other flags 1) for a block of values.

    A product without a threshold and without classes (a generic index with no threshold) flags nothing.
    """
    if code == "fire_mask":
        return np.where(np.isin(values, list(FIRE_MASK_CLASSES)), values, 0).astype(np.uint8)
    if code == "burned_doy":
        return ((values >= 1) & (values <= 366)).astype(np.uint8)
    if threshold is None:
        return np.zeros(values.shape, dtype=np.uint8)
    with np.errstate(invalid="ignore"):
        return COMPARISONS[threshold.op](values, threshold.value).astype(np.uint8)


def flag_label(code: str, threshold: Threshold | None, value: int) -> str:
    """The class name of a flagged pixel (fire-mask confidence, "burned", or the recorded meaning)."""
    if code == "fire_mask":
        return FIRE_MASK_CLASSES.get(int(value), "fire")
    if code == "burned_doy":
        return "burned"
    return threshold.label if threshold else ""


def describe(code: str, threshold: Threshold | None) -> dict:
    """What a raster's figures mean, for the API and the map legend."""
    p = product(code)
    return {
        "product": code,
        "label_th": p.label_th,
        "label_en": p.label_en,
        "unit": p.unit,
        "burned_area": p.burned_area,
        "definition": p.definition,
        "threshold": threshold.as_dict() if threshold else None,
    }
