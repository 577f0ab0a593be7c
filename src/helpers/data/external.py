"""Readers for the real public data sets under ``data/external/``, mapped onto the data contract.

Each reader returns ``(tables, files)``: raw tables by contract name, not yet validated (the
loader validates them), and the files read, for the fingerprint.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from helpers import config

TELCO_FILE = config.EXTERNAL / "ibm_telco_churn" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
TELCO_MAPPING = config.EXTERNAL / "ibm_telco_churn" / "mapping.yaml"  # the one definition of "telco"


def telco_tables(mapping: Path = TELCO_MAPPING) -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """IBM Telco Customer Churn as a ``customers`` table (7,043 customers, 26.54% churned).

    Read through its mapping file, ``data/external/ibm_telco_churn/mapping.yaml``, which is the
    one place the data set is described (the built-in name ``"telco"`` and the mapping give the
    same table). Data dictionary of the result:

    - ``customer_id`` from customerID;
    - ``tenure_months`` from tenure (whole months; 11 customers have 0 and none of them churned);
    - ``churned`` = Churn == "Yes" (1,869 events);
    - ``contract`` from Contract (Month-to-month / One year / Two year);
    - ``monthly_value`` from MonthlyCharges (USD per month);
    - extra covariates: gender, senior_citizen (bool), partner, dependents, phone_service,
      internet_service, online_security, tech_support, paperless_billing, payment_method,
      total_charges (USD; the source leaves it blank for the 11 tenure-0 customers, who have not
      been billed yet: the mapping fills 0, explicitly).

    No signup or end dates, no satisfaction, revenue history, contacts, campaigns or account
    managers: analyses that need them say so and skip. Source and checksum:
    ``data/external/ibm_telco_churn/PROVENANCE.md``.
    """
    from helpers.data.mapping import load_mapping  # here: the mapping reader imports the io layer lazily too

    if not TELCO_FILE.exists():
        raise FileNotFoundError(f"the Telco data file is missing: {TELCO_FILE} (see data/external/ibm_telco_churn/"
                                "PROVENANCE.md for where it comes from)")
    return load_mapping(mapping)


CFPB_FILE = config.EXTERNAL / "cfpb_complaints_2013_2017" / "consumer_complaints.csv"
CFPB_COLUMNS = {
    "Date received": "received", "Product": "product", "Sub-product": "sub_product", "Issue": "issue",
    "Company": "company", "State": "state", "Submitted via": "channel", "Date sent to company": "sent",
    "Company response to consumer": "response", "Timely response?": "timely", "Consumer disputed?": "disputed",
}
CFPB_RESPONSES = ("Closed with monetary relief", "Closed with non-monetary relief", "Closed with explanation",
                  "Closed", "Untimely response", "In progress")


def cfpb_complaints(path: Path = CFPB_FILE) -> pd.DataFrame:
    """The CFPB complaints extract as a recovery study: one row per complaint (3,186 rows).

    Data dictionary of the result:

    - ``received``, ``sent`` (dates, from M/D/YYYY): when the CFPB received the complaint and sent
      it to the company;
    - ``product``, ``sub_product``, ``issue``, ``company``, ``state``;
    - ``channel``: how the consumer submitted it (Web, Referral, Phone, Postal mail, Fax);
    - ``response``: the company's response, the recovery action (monetary relief, non-monetary
      relief, explanation, closed, untimely, in progress);
    - ``timely``: the response was timely (bool);
    - ``disputed``: the consumer disputed the response, i.e. a failed recovery (True 595, False
      2,534, missing 57 — kept missing, never guessed);
    - ``relief``: the response gave monetary or non-monetary relief (bool).

    Observational: responses were not assigned at random. Source and checksum:
    ``data/external/cfpb_complaints_2013_2017/PROVENANCE.md``.
    """
    if not path.exists():
        raise FileNotFoundError(f"the CFPB data file is missing: {path} (see data/external/"
                                "cfpb_complaints_2013_2017/PROVENANCE.md)")
    raw = pd.read_csv(path, dtype=str)
    missing = sorted(set(CFPB_COLUMNS) - set(raw.columns))
    if missing:
        raise ValueError(f"{path.name} lacks the columns {', '.join(missing)} (has the file changed?)")
    out = raw[list(CFPB_COLUMNS)].rename(columns=CFPB_COLUMNS)
    for column in ("received", "sent"):
        out[column] = pd.to_datetime(out[column], format="%m/%d/%Y")
    yes_no = {"Yes": True, "No": False}
    out["timely"] = out["timely"].map(yes_no).astype("boolean")
    out["disputed"] = out["disputed"].map(yes_no).astype("boolean")
    unknown = sorted(set(out["response"].dropna()) - set(CFPB_RESPONSES))
    if unknown:
        raise ValueError(f"{path.name}: Company response to consumer has unknown values {unknown}")
    out["response"] = pd.Categorical(out["response"], categories=list(CFPB_RESPONSES))
    out["relief"] = out["response"].isin(CFPB_RESPONSES[:2])
    return out


READERS = {"telco": telco_tables}  # data sets of the contract
TABLE_READERS = {"cfpb": (cfpb_complaints, CFPB_FILE)}  # single tables outside the contract: reader, file
