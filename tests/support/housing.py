"""A small California-housing archive in the real file format (cal_housing.tgz), for tests.

The real archive holds ``CaliforniaHousing/cal_housing.data`` (20,640 rows of nine
comma-separated numbers: longitude, latitude, housingMedianAge, totalRooms,
totalBedrooms, population, households, medianIncome, medianHouseValue, written
with six decimals) and ``CaliforniaHousing/cal_housing.domain``.  This writes
the same layout with ``n`` synthetic rows.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np

DOMAIN = (
    "longitude: continuous.\nlatitude: continuous.\nhousingMedianAge: continuous.\ntotalRooms: continuous.\n"
    "totalBedrooms: continuous.\npopulation: continuous.\nhouseholds: continuous.\nmedianIncome: continuous.\n"
    "medianHouseValue: continuous.\n"
)


def housing_rows(n: int = 40, seed: int = 0) -> np.ndarray:
    """(n, 9) rows in the file's column order, with a target that depends on income and rooms."""
    rng = np.random.Generator(np.random.Philox(key=seed))
    households = rng.integers(50, 900, size=n).astype(float)
    rooms = households * rng.uniform(3.0, 8.0, size=n)
    bedrooms = rooms * rng.uniform(0.15, 0.25, size=n)
    population = households * rng.uniform(2.0, 4.0, size=n)
    income = rng.uniform(0.5, 15.0, size=n)
    value = np.clip(40_000 * income + 5_000 * rooms / households + rng.normal(0, 10_000, size=n), 14_999, 500_001)
    return np.stack([rng.uniform(-124.3, -114.3, size=n), rng.uniform(32.5, 42.0, size=n),
                     rng.integers(1, 52, size=n).astype(float), rooms.round(), bedrooms.round(), population.round(),
                     households, income.round(4), value.round()], axis=1)


def write_cal_housing_tgz(directory: Path, n: int = 40, seed: int = 0) -> Path:
    """``directory/cal_housing.tgz`` holding ``n`` rows; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    text = "".join(",".join(f"{v:.6f}" for v in row) + "\n" for row in housing_rows(n, seed)).encode()
    path = directory / "cal_housing.tgz"
    with tarfile.open(path, "w:gz") as archive:
        for name, payload in (("CaliforniaHousing/cal_housing.data", text),
                              ("CaliforniaHousing/cal_housing.domain", DOMAIN.encode())):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return path
