"""The public domain of every de-identified column: declared, never read from the data.

A description that lists the categories the training data happens to hold, or the exact
shortest and longest stay, publishes facts about real records without any noise. So every
synthesiser sees the same declared domain instead: the category lists the schema allows, the
declared arrival dates and treatments (the mock's, or a domain file's: `contract.py`), the
pseudonyms of the declared hospital list, and Time in A&E cut at bin edges from the settings,
ending at the declared longest stay.
Stays outside the edges are clipped into the first or last bin (and counted); a synthetic
stay is drawn uniformly from the whole minutes of its bin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from aesynth_pipeline.columns import (
    AGE_BRACKET,
    ARRIVAL_DATE,
    ARRIVAL_HOUR_RANGE,
    DEIDENTIFIED_COLUMNS,
    GENDER,
    HOSPITAL_ID,
    IMD_DECILE,
    TIME_IN_AE,
    TREATMENT,
)
from aesynth_pipeline.domain.contract import MOCK_DOMAIN, AttendanceDomain
from aesynth_pipeline.domain.deidentify import (
    AGE_BRACKETS,
    ARRIVAL_HOUR_RANGES,
    IMD_DECILES,
    KEPT_GENDERS,
)

# Whole minutes, each bin [edge, next edge): four minutes up to the four-hour standard, then
# one bin for every longer stay up to a day. Measured with AIM at ε = 1 on the default run
# (benchmarks/aim_benchmark.py): quarter-hour bins alone moved Time in A&E × Age bracket by
# 0.11 in TVD, five- and six-minute bins still broke the 0.10 bar on a fifth of the seeds,
# and three-minute bins spread the budget over so many cells that the other pairs suffered.
DEFAULT_TIME_IN_AE_EDGES = (*range(1, 241, 4), 241, 1441)


class DomainError(ValueError):
    """Data outside the declared domain, or a domain that cannot be used."""


@dataclass(frozen=True)
class PublicDomain:
    """Each column's declared values in the order every engine uses (numbers ascending,
    text sorted, as DataSynthesizer sorts them); Time in A&E by the left edges of its bins."""

    categories: Mapping[str, tuple]
    time_edges: tuple[int, ...]

    def values(self, column: str) -> tuple:
        if column == TIME_IN_AE:
            return self.time_edges[:-1]
        return self.categories[column]

    @property
    def sizes(self) -> tuple[int, ...]:
        """How many values each column can take, in `DEIDENTIFIED_COLUMNS` order."""
        return tuple(len(self.values(column)) for column in DEIDENTIFIED_COLUMNS)

    @property
    def time_bounds(self) -> tuple[int, int]:
        """The shortest and longest stay a synthetic record can have."""
        return self.time_edges[0], self.time_edges[-1] - 1

    def as_json(self) -> dict[str, list]:
        """Every column's declared values, as DataSynthesizer's domain file holds them."""
        return {
            column: [_plain(value) for value in self.values(column)]
            for column in DEIDENTIFIED_COLUMNS
        }


def public_domain(
    hospital_ids: Iterable[str],
    time_edges: tuple[int, ...] = DEFAULT_TIME_IN_AE_EDGES,
    declared: AttendanceDomain = MOCK_DOMAIN,
) -> PublicDomain:
    """The domain of the de-identified columns, with `hospital_ids` the pseudonyms of the
    declared hospital list (not of the hospitals found in the data), treatments and arrival
    dates as `declared`, and the Time in A&E bins cut at its longest stay: edges beyond it
    are dropped and the last bin ends there."""
    edges = tuple(int(edge) for edge in time_edges)
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise DomainError(f"Time in A&E bin edges must rise strictly, got {list(edges)}")
    if edges[0] < 1:
        raise DomainError(f"Time in A&E bins start at 1 minute or later, got {edges[0]}")
    end = declared.longest_stay + 1
    if edges[0] >= declared.longest_stay:
        raise DomainError(
            f"Time in A&E bins start at {edges[0]} minutes, beyond the declared longest stay "
            f"of {declared.longest_stay}"
        )
    edges = (*(edge for edge in edges if edge < end), end)
    return PublicDomain(
        categories={
            TREATMENT: tuple(sorted(declared.treatments)),
            GENDER: tuple(sorted(KEPT_GENDERS)),
            IMD_DECILE: tuple(sorted(IMD_DECILES)),
            HOSPITAL_ID: tuple(sorted(set(hospital_ids))),
            ARRIVAL_DATE: tuple(sorted(declared.arrival_dates)),
            ARRIVAL_HOUR_RANGE: tuple(sorted(ARRIVAL_HOUR_RANGES)),
            AGE_BRACKET: tuple(sorted(AGE_BRACKETS)),
        },
        time_edges=edges,
    )


def with_time_bins_merged(domain: PublicDomain, every: int) -> PublicDomain:
    """`domain` with each run of `every` adjacent Time in A&E bins merged into one (the last
    run may be shorter), the outer edges kept. Merging public bins is itself public: it costs
    no privacy and reveals nothing of the data."""
    if every < 1:
        raise DomainError(f"bins are merged in runs of at least 1, got {every}")
    edges = domain.time_edges[::every]
    if edges[-1] != domain.time_edges[-1]:
        edges = (*edges, domain.time_edges[-1])
    return replace(domain, time_edges=edges)


def outside_time_bins(frame: pd.DataFrame, domain: PublicDomain) -> int:
    """How many records' stays lie outside the bins, and are clipped into the end bins."""
    minutes = frame[TIME_IN_AE].to_numpy()
    return int(((minutes < domain.time_edges[0]) | (minutes >= domain.time_edges[-1])).sum())


def with_time_binned(frame: pd.DataFrame, domain: PublicDomain) -> pd.DataFrame:
    """The frame with each stay replaced by the left edge of its bin (clipped into range)."""
    lefts = np.asarray(domain.values(TIME_IN_AE))
    return frame.assign(**{TIME_IN_AE: lefts[time_bins(frame, domain)]})


def time_bins(frame: pd.DataFrame, domain: PublicDomain) -> np.ndarray:
    """Each record's Time in A&E bin, clipped into the first and last bins."""
    edges = np.asarray(domain.time_edges)
    bins = np.searchsorted(edges, frame[TIME_IN_AE].to_numpy(), side="right") - 1
    return np.clip(bins, 0, len(edges) - 2)


def with_last_values(frame: pd.DataFrame, domain: PublicDomain) -> pd.DataFrame:
    """The frame (Time in A&E binned) and one more record, public and the same for every
    dataset: each column's last declared value."""
    last = {column: [domain.values(column)[-1]] for column in DEIDENTIFIED_COLUMNS}
    return pd.concat([frame, pd.DataFrame(last)], ignore_index=True)


def with_time_in_bins(
    frame: pd.DataFrame, domain: PublicDomain, rng: np.random.Generator
) -> pd.DataFrame:
    """The frame with each bin's left edge (as the engines hand it back) replaced by a whole
    minute drawn uniformly from that bin."""
    edges = np.asarray(domain.time_edges)
    lefts = pd.to_numeric(frame[TIME_IN_AE]).round().to_numpy(dtype=np.int64)
    bins = np.searchsorted(edges, lefts, side="right") - 1
    if (bins < 0).any() or (bins >= len(edges) - 1).any() or (edges[bins] != lefts).any():
        raise DomainError("synthetic Time in A&E values are not the left edges of the bins")
    return frame.assign(**{TIME_IN_AE: rng.integers(edges[bins], edges[bins + 1])})


def codes(frame: pd.DataFrame, domain: PublicDomain) -> np.ndarray:
    """(records × columns) positions of each value in its column's declared values, Time in
    A&E by its bin; a value outside the domain stops with the column and how many records."""
    columns = []
    for column in DEIDENTIFIED_COLUMNS:
        if column == TIME_IN_AE:
            columns.append(time_bins(frame, domain))
            continue
        declared = pd.Index(domain.values(column))
        positions = declared.get_indexer(frame[column])
        outside = int((positions < 0).sum())
        if outside:
            raise DomainError(
                f"{column}: {outside} record(s) hold a value outside the declared domain"
            )
        columns.append(positions)
    return np.column_stack(columns).astype(np.int64)


def from_codes(codes_: np.ndarray, domain: PublicDomain) -> pd.DataFrame:
    """The inverse of `codes`: each column's declared values, Time in A&E by the left edge of
    its bin (`with_time_in_bins` then draws a minute within it)."""
    return pd.DataFrame(
        {
            column: np.asarray(domain.values(column), dtype=object)[codes_[:, j]]
            for j, column in enumerate(DEIDENTIFIED_COLUMNS)
        }
    )


def _plain(value: object) -> object:
    """A JSON-ready value: numpy integers as Python integers."""
    return int(value) if isinstance(value, np.integer | int) else str(value)
