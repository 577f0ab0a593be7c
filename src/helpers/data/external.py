"""Readers for the real public data sets under ``data/external/``, mapped onto the data contract.

Each reader returns ``(tables, files)``: raw tables by contract name, not yet validated (the
loader validates them), and the files read, for the fingerprint.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from helpers import config
from helpers.data import schema as S

TELCO_FILE = config.EXTERNAL / "ibm_telco_churn" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
TELCO_CONTRACTS = {"Month-to-month": "month-to-month", "One year": "one-year", "Two year": "two-year"}
# source columns kept as extra covariates, under snake_case names
TELCO_EXTRAS = {
    "gender": "gender", "SeniorCitizen": "senior_citizen", "Partner": "partner", "Dependents": "dependents",
    "PhoneService": "phone_service", "InternetService": "internet_service", "OnlineSecurity": "online_security",
    "TechSupport": "tech_support", "PaperlessBilling": "paperless_billing", "PaymentMethod": "payment_method",
    "TotalCharges": "total_charges",
}


def telco_tables(path: Path = TELCO_FILE) -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """IBM Telco Customer Churn as a ``customers`` table (7,043 customers, 26.54% churned).

    Data dictionary of the result:

    - ``customer_id`` from customerID;
    - ``tenure_months`` from tenure (whole months; 11 customers have 0 and none of them churned);
    - ``churned`` = Churn == "Yes" (1,869 events);
    - ``contract`` from Contract (Month-to-month / One year / Two year);
    - ``monthly_value`` from MonthlyCharges (USD per month);
    - extra covariates: gender, senior_citizen (bool), partner, dependents, phone_service,
      internet_service, online_security, tech_support, paperless_billing, payment_method,
      total_charges (USD; the source leaves it blank for the 11 tenure-0 customers, who have not
      been billed yet: set to 0 here, explicitly).

    No signup or end dates, no satisfaction, revenue history, contacts, campaigns or account
    managers: analyses that need them say so and skip. Source and checksum:
    ``data/external/ibm_telco_churn/PROVENANCE.md``.
    """
    if not path.exists():
        raise FileNotFoundError(f"the Telco data file is missing: {path} (see data/external/ibm_telco_churn/"
                                "PROVENANCE.md for where it comes from)")
    raw = pd.read_csv(path, dtype={"TotalCharges": str})
    blank = raw["TotalCharges"].str.strip() == ""
    if not (raw.loc[blank, "tenure"] == 0).all():
        raise ValueError(f"{path.name}: blank TotalCharges for customers with tenure > 0; expected only the "
                         "11 tenure-0 customers (has the file changed?)")
    customers = pd.DataFrame({
        S.CUSTOMER_ID: raw["customerID"],
        S.TENURE: raw["tenure"].astype(float),
        S.CHURNED: raw["Churn"].map({"Yes": True, "No": False}),
        S.CONTRACT: raw["Contract"].map(TELCO_CONTRACTS),
        S.MONTHLY_VALUE: raw["MonthlyCharges"],
    })
    extras = raw[list(TELCO_EXTRAS)].rename(columns=TELCO_EXTRAS)
    extras["senior_citizen"] = extras["senior_citizen"].astype(bool)
    extras["total_charges"] = pd.to_numeric(extras["total_charges"].where(~blank, "0"))
    return {S.CUSTOMERS: pd.concat([customers, extras], axis=1)}, [path]


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
