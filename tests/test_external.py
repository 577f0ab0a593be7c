"""The real IBM Telco data: unchanged file, mapped onto the contract, published facts reproduced."""
import hashlib

import pytest

from helpers.data import external
from helpers.data.io import load_dataset
from helpers.stats import overview


@pytest.fixture(scope="module")
def telco():
    return load_dataset("telco")


def test_file_is_the_published_one():
    # sha256 from data/external/ibm_telco_churn/PROVENANCE.md
    digest = hashlib.sha256(external.TELCO_FILE.read_bytes()).hexdigest()
    assert digest == "88be4b93fbe0cc83421af1c503794c97c342eca914c1576db7c276e61d61358a"


def test_churn_rate_and_churn_by_contract_match_the_published_facts(telco):
    # shared data README: 1,869 / 7,043 = 26.54%; month-to-month 42.71% (3,875),
    # one year 11.27% (1,473), two year 2.83% (1,695)
    overall = overview.churn_rate(telco.customers).iloc[0]
    assert (overall["customers"], overall["churned"]) == (7043, 1869)
    assert round(100 * overall["rate"], 2) == 26.54
    by = overview.churn_rate(telco.customers, by="contract").set_index("contract")
    assert by["customers"].to_dict() == {"month-to-month": 3875, "one-year": 1473, "two-year": 1695}
    assert (100 * by["rate"]).round(2).to_dict() == {"month-to-month": 42.71, "one-year": 11.27, "two-year": 2.83}


def test_blank_total_charges_are_the_tenure_zero_customers_set_to_zero(telco):
    c = telco.customers
    zero = c["tenure_months"] == 0
    assert zero.sum() == 11 and not c.loc[zero, "churned"].any()
    assert (c.loc[zero, "total_charges"] == 0).all() and c["total_charges"].notna().all()


def test_only_the_customers_table_is_present(telco):
    assert list(telco.tables) == ["customers"] and telco.truth is None
    assert not telco.has("customers", "satisfaction")


def test_cfpb_file_is_the_published_one_and_reads_as_a_recovery_study():
    # sha256 and counts from data/external/cfpb_complaints_2013_2017/PROVENANCE.md
    digest = hashlib.sha256(external.CFPB_FILE.read_bytes()).hexdigest()
    assert digest == "781f446fa86a7bea6aadda6fd1c642acefbf11ff61fc1f4b78122520cca7fe33"
    c = external.cfpb_complaints()
    assert len(c) == 3186
    disputed = c["disputed"]
    assert (int(disputed.sum()), int((~disputed).sum()), int(disputed.isna().sum())) == (595, 2534, 57)
    assert c["response"].value_counts()["Closed with monetary relief"] == 216
    assert c["received"].dt.year.between(2013, 2017).all()


def test_a_covariate_named_as_in_the_telco_file_is_matched_and_said():
    """`PaymentMethod` (the file's name) is the loaded `payment_method`: matched with a note, never dropped unsaid."""
    from helpers.engine.scale import open_data
    from helpers.steps import checks
    from helpers.steps import churn as churn_steps

    data = open_data("telco")
    cox = churn_steps.cox(data, covariates=["contract", "PaymentMethod"])
    assert cox.status == "ok" and cox.value.covariates == ["contract", "payment_method"]
    said = " ".join(p.sentence for p in cox.parts if hasattr(p, "sentence"))
    assert "'PaymentMethod' is read as 'payment_method'" in said
    assert checks.leakage(data.customers, "churned", ["payment_method"]).status == "ok"
