"""Splink (Fellegi-Sunter, EM-trained, DuckDB backend) on the same cards, as the reference
record-linkage engine: each card one record with the fields crmcard sees.

Standard set-up as Splink's own tutorials do it: name comparisons with term-frequency
adjustments, exact phone, e-mail comparison, Damerau-Levenshtein on the birth date,
Jaro-Winkler on the street; u estimated by random sampling, m by expectation
maximisation over two blocking passes (surname, first name; when EM fails on one, the
next of birth date, phone, e-mail); predictions blocked on
each identifying field. The top five predictions of every card above probability 0.5
are its candidates.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
from collections import defaultdict
from typing import Any

COLUMNS = (
    "first_name",
    "surname",
    "phone",
    "email",
    "crm_contact",
    "dob",
    "street",
    "city",
    "postcode",
)


def rank(records: list[dict[str, Any]], top: int) -> dict[str, list[str]]:
    """Card id -> its Splink candidates, most probable first; in a fresh process, since a
    second linker in one process was seen to inherit state from the first (its EM then
    failing on levels the first model never observed)."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_rank, records, top).result()


def _rank(records: list[dict[str, Any]], top: int) -> dict[str, list[str]]:
    import pandas as pd  # type: ignore[import-untyped]
    import splink.comparison_library as cl  # type: ignore[import-untyped]
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on  # type: ignore[import-untyped]

    logging.getLogger("splink").setLevel(logging.ERROR)
    frame = pd.DataFrame.from_records(records, columns=["unique_id", *COLUMNS])
    frame = frame.where(frame.notna() & (frame != ""), None)
    # Columns that can agree at all (a CRM contact id unique to every record cannot).
    present = [c for c in COLUMNS if frame[c].dropna().duplicated().any()]
    comparisons = {
        "first_name": cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
        "surname": cl.NameComparison("surname").configure(term_frequency_adjustments=True),
        "phone": cl.ExactMatch("phone"),
        "email": cl.EmailComparison("email"),
        "crm_contact": cl.ExactMatch("crm_contact"),
        "dob": cl.DamerauLevenshteinAtThresholds("dob", [1, 2]),
        "street": cl.JaroWinklerAtThresholds("street", [0.9, 0.8]),
        "city": cl.ExactMatch("city"),
        "postcode": cl.ExactMatch("postcode"),
    }
    blocking = [
        block_on(c)
        for c in ("surname", "first_name", "phone", "email", "crm_contact", "dob")
        if c in present
    ]
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[comparisons[c] for c in present],
        blocking_rules_to_generate_predictions=blocking,
        retain_intermediate_calculation_columns=False,
    )
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET threads TO 1")  # sampling and EM the same on every run
    db_api = DuckDBAPI(connection=connection)
    linker = Linker(db_api.register(frame), settings, log_level=logging.ERROR)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    trained = 0
    for column in ("surname", "first_name", "dob", "phone", "email"):
        if column not in present or trained == 2:
            continue
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(column), estimate_without_term_frequencies=True
            )
            trained += 1
        except ValueError as error:  # EM met a level it never observes: the next block
            logging.getLogger(__name__).warning("Splink EM blocked on %s: %s", column, error)
    predictions = linker.inference.predict(threshold_match_probability=0.5).as_pandas_dataframe()
    scored: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for left, right, probability in zip(
        predictions["unique_id_l"],
        predictions["unique_id_r"],
        predictions["match_probability"],
        strict=True,
    ):
        scored[str(left)].append((float(probability), str(right)))
        scored[str(right)].append((float(probability), str(left)))
    return {
        card: [c for _, c in sorted(found, key=lambda x: (-x[0], x[1]))[:top]]
        for card, found in scored.items()
    }
