"""The data contract: table and column names, dtypes and the rules each column obeys.

This module is the only place a column name is spelled. The loader (`helpers.data.io`), the
validator (`helpers.data.validate`) and the generator (`helpers.data.synth`) all read it, so they
cannot drift apart. It imports nothing from the package.

A data set is a set of tables; only ``customers`` is required. Within a table only the
columns marked ``required`` must be present; an analysis that needs an optional column
checks for it and says so when it is absent.

Time is measured in months of tenure: ``tenure_months = days / DAYS_PER_MONTH``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

DAYS_PER_MONTH = 365.25 / 12

# ---- table names -------------------------------------------------------------------------
CUSTOMERS = "customers"
REVENUE = "revenue"
CONTACTS = "contacts"
CAMPAIGNS = "campaigns"
MANAGER_DEPARTURES = "manager_departures"

# ---- column names ------------------------------------------------------------------------
CUSTOMER_ID = "customer_id"
SIGNUP_DATE = "signup_date"
END_DATE = "end_date"
CHURNED = "churned"
TENURE = "tenure_months"
CONTRACT = "contract"
CUSTOMER_TYPE = "customer_type"
REGION = "region"
MONTHLY_VALUE = "monthly_value"
SATISFACTION = "satisfaction"
RELATIVE_SERVICE = "relative_service_level"
WALLET_SHARE = "wallet_share"
ACCOUNT_MANAGER_ID = "account_manager_id"
END_REASON = "end_reason"

MONTH = "month"
REVENUE_AMOUNT = "revenue"

CONTACT_ID = "contact_id"
OPENED_AT = "opened_at"
CHANNEL = "channel"
KIND = "kind"
RESOLVED_AT = "resolved_at"
FIRST_CONTACT_RESOLUTION = "first_contact_resolution"
REPEAT_OF = "repeat_of"
RECOVERED = "recovered"
RECOVERY_ACTION = "recovery_action"
COMPENSATION = "compensation"

CAMPAIGN_ID = "campaign_id"
ASSIGNED_AT = "assigned_at"
ARM = "arm"
ASSIGNMENT = "assignment"
ACTION = "action"
COST = "cost"

DEPARTED_AT = "departed_at"

# ---- allowed values ----------------------------------------------------------------------
CONTRACTS = ("month-to-month", "one-year", "two-year")
CUSTOMER_TYPES = ("individual", "group")
END_REASONS = ("moved", "price", "service", "non-payment")
CHANNELS = ("phone", "email", "chat", "store")
CONTACT_KINDS = ("inquiry", "complaint", "compliment", "request")
RECOVERY_ACTIONS = ("none", "apology", "fix", "credit", "refund")
ARMS = ("treatment", "control")
ASSIGNMENTS = ("randomized", "targeted")

COMPLAINT = "complaint"
COMPLIMENT = "compliment"
TREATMENT = "treatment"
CONTROL = "control"
GROUP = "group"
INDIVIDUAL = "individual"


@dataclass(frozen=True)
class Column:
    """One column of the contract.

    ``kind`` is one of ``id`` (string identifier), ``date``, ``bool``, ``float``,
    ``category``. ``references`` names ``table.column`` of a key this column must match.
    """

    name: str
    kind: str
    description: str
    required: bool = False
    nullable: bool = True
    unique: bool = False
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    references: str | None = None
    unit: str = ""


@dataclass(frozen=True)
class Table:
    """One table of the contract: its columns in order and a sentence on what a row is."""

    name: str
    row: str
    columns: tuple[Column, ...]
    required: bool = False
    key: str | None = None
    sort_by: tuple[str, ...] = field(default=())

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r} in the data contract")


def _id(name, description, **kw):
    return Column(name, "id", description, **kw)


_customer_ref = dict(references=f"{CUSTOMERS}.{CUSTOMER_ID}", required=True, nullable=False)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            CUSTOMERS,
            "one customer",
            required=True,
            key=CUSTOMER_ID,
            sort_by=(CUSTOMER_ID,),
            columns=(
                _id(CUSTOMER_ID, "customer identifier", required=True, nullable=False, unique=True),
                Column(SIGNUP_DATE, "date", "first day as a customer"),
                Column(END_DATE, "date", "churn date, or the end of observation while still active"),
                Column(CHURNED, "bool", "True if the customer left by end_date", required=True, nullable=False),
                Column(TENURE, "float", "months from signup to end_date (derived from the dates when absent)",
                       required=True, nullable=False, min=0, unit="months"),
                Column(CONTRACT, "category", "contract type", choices=CONTRACTS),
                Column(CUSTOMER_TYPE, "category", "individual customer or group (key account)",
                       choices=CUSTOMER_TYPES),
                Column(REGION, "category", "sales region (free labels)"),
                Column(MONTHLY_VALUE, "float", "average monthly revenue", min=0, unit="currency/month"),
                Column(SATISFACTION, "float", "satisfaction score", min=0, max=10, unit="0-10"),
                Column(RELATIVE_SERVICE, "float", "own satisfaction / leading competitor's", min=0,
                       unit="ratio"),
                Column(WALLET_SHARE, "float", "share of the customer's category spend won", min=0, max=1,
                       unit="share"),
                _id(ACCOUNT_MANAGER_ID, "account manager of a group customer"),
                Column(END_REASON, "category", "why a churned customer left", choices=END_REASONS),
            ),
        ),
        Table(
            REVENUE,
            "one customer in one active month",
            key=None,
            sort_by=(CUSTOMER_ID, MONTH),
            columns=(
                _id(CUSTOMER_ID, "customer identifier", **_customer_ref),
                Column(MONTH, "date", "first day of the calendar month", required=True, nullable=False),
                Column(REVENUE_AMOUNT, "float", "revenue in the month", required=True, nullable=False, min=0,
                       unit="currency"),
            ),
        ),
        Table(
            CONTACTS,
            "one service contact",
            key=CONTACT_ID,
            sort_by=(CONTACT_ID,),
            columns=(
                _id(CONTACT_ID, "contact identifier", required=True, nullable=False, unique=True),
                _id(CUSTOMER_ID, "customer identifier", **_customer_ref),
                Column(OPENED_AT, "date", "when the contact was opened", required=True, nullable=False),
                Column(CHANNEL, "category", "contact channel", choices=CHANNELS),
                Column(KIND, "category", "what the contact is about", required=True, nullable=False,
                       choices=CONTACT_KINDS),
                Column(RESOLVED_AT, "date", "when it was resolved; missing while open"),
                Column(FIRST_CONTACT_RESOLUTION, "bool", "resolved in the first contact"),
                _id(REPEAT_OF, "contact_id of the earlier contact on the same issue",
                    references=f"{CONTACTS}.{CONTACT_ID}"),
                Column(RECOVERED, "bool", "complaints: the customer accepted the recovery; missing while open"),
                Column(RECOVERY_ACTION, "category", "complaints: what the company did",
                       choices=RECOVERY_ACTIONS),
                Column(COMPENSATION, "float", "money given back", min=0, unit="currency"),
            ),
        ),
        Table(
            CAMPAIGNS,
            "one customer assigned to one retention campaign",
            sort_by=(CAMPAIGN_ID, CUSTOMER_ID),
            columns=(
                _id(CAMPAIGN_ID, "campaign identifier", required=True, nullable=False),
                _id(CUSTOMER_ID, "customer identifier", **_customer_ref),
                Column(ASSIGNED_AT, "date", "when the customer was assigned", required=True, nullable=False),
                Column(ARM, "category", "treatment or control", required=True, nullable=False, choices=ARMS),
                Column(ASSIGNMENT, "category", "randomized experiment or targeted outreach", required=True,
                       nullable=False, choices=ASSIGNMENTS),
                Column(ACTION, "category", "what was done (call, offer, ...)"),
                Column(COST, "float", "cost of the action for this customer", min=0, unit="currency"),
            ),
        ),
        Table(
            MANAGER_DEPARTURES,
            "one account manager who left",
            key=ACCOUNT_MANAGER_ID,
            sort_by=(ACCOUNT_MANAGER_ID,),
            columns=(
                _id(ACCOUNT_MANAGER_ID, "account manager identifier", required=True, nullable=False,
                    unique=True),
                Column(DEPARTED_AT, "date", "last day of the manager", required=True, nullable=False),
            ),
        ),
    )
}


def tenure_from_dates(signup: pd.Series, end: pd.Series) -> pd.Series:
    """Tenure in months between two datetime Series: whole days / DAYS_PER_MONTH."""
    return (end - signup).dt.days / DAYS_PER_MONTH


def pandas_dtype(column: Column):
    """The pandas dtype a validated column is stored with."""
    if column.kind == "category" and column.choices:
        return pd.CategoricalDtype(list(column.choices))
    return {
        "id": "string",
        "category": "string",
        "date": "datetime64[ns]",
        "bool": "bool" if not column.nullable else "boolean",
        "float": "float64",
    }[column.kind]
