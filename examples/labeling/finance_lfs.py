"""Labeling functions for the demo's ner_finance task: entities in sentences from loan agreements.

Each returns (name, TYPE) candidates or ABSTAIN. They are deliberately simple and of uneven quality: the
label model's job is to weigh them (see tunewright.labeling.label_model).
"""

import re

from tunewright.labeling.functions import ABSTAIN, NOT_ENTITY, labeling_function

ORG_SUFFIX = re.compile(
    r"\b((?:[A-Z][A-Za-z&.\-]*\s+){0,5}(?:Inc|Incorporated|Corporation|Corp|Company|Limited|Ltd|LLC|L\.L\.C|"
    r"Bank|BANK|Authority|AUTHORITY|Associates|ASSOCIATES|Partners|Trust|Board|Group|Holdings|Technologies)\b\.?)")
PLACES = {
    "China", "Beijing", "Shanghai", "Hong Kong", "United States", "California", "Massachusetts", "New York",
    "Virginia", "VIRGINIA", "Delaware", "Texas", "Illinois", "Nevada", "Florida", "Israel", "Tortola",
    "British Virgin Islands", "Santa Clara", "Boston", "Commonwealth of Massachusetts", "Commonwealth of Virginia",
    "Commonwealth", "COMMONWEALTH OF MASSACHUSETTS", "Cayman Islands", "Singapore", "Japan", "Canada", "London",
    "England", "New Jersey", "Connecticut", "Colorado", "Washington", "Georgia", "Ohio", "Michigan", "Minnesota",
}
PLACE_RE = re.compile(r"(?<!\w)(" + "|".join(re.escape(p) for p in sorted(PLACES, key=len, reverse=True)) + r")(?!\w)")
CAPS_RUN = re.compile(r"\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+)+)\b")
DEFINED_TERMS = re.compile(
    r"\b(Agreement|Loan Agreement|Loan|Loans|Section|Schedule|Exhibit|Note|Notes|Collateral|Obligations|Event of "
    r"Default|Closing Date|Effective Date|Guarantor|Agent|Credit|Extension|Advance|Advances|Security|Date|Default|"
    r"Account|Accounts|Property|Properties|Financial|Statements|Obligation|Term|Terms|Rate|Interest|Payment|"
    r"Amount|Borrowing|Base|Facility|Commitment|Revolving|Line|Debt|Indebtedness|Lien|Liens|Permitted|Material|"
    r"Adverse|Effect|Change|Control|Business|Day|Subsidiary|Subsidiaries|Person|Persons|Equipment|Inventory|"
    r"Documents|Document|Party|Parties|Law|Laws|Tax|Taxes|Plan|Stock|Shares|Capital|Equity|Company|"
    r"January|February|March|April|May|June|July|August|September|October|November|December)\b")


@labeling_function(name="org_suffix", kind="span")
def org_suffix(text):
    """Capitalized names ending in a corporate word (Inc., Corporation, Bank, Authority...) are organizations."""
    ents = [(m.group(1).rstrip("."), "ORGANIZATION") for m in ORG_SUFFIX.finditer(text)]
    return ents or ABSTAIN


@labeling_function(name="place_gazetteer", kind="span")
def place_gazetteer(text):
    """Known states, countries and cities are locations."""
    ents = [(m.group(1), "LOCATION") for m in PLACE_RE.finditer(text)]
    return ents or ABSTAIN


@labeling_function(name="capitalized_run_person", kind="span")
def capitalized_run_person(text):
    """Noisy on purpose: a run of two or more Capitalized Words is a person (often wrong in contracts)."""
    ents = [(m.group(1), "PERSON") for m in CAPS_RUN.finditer(text)]
    return ents or ABSTAIN


@labeling_function(name="defined_terms_not_entities", kind="span")
def defined_terms_not_entities(text):
    """Contract vocabulary (Agreement, Loan, Section, month names) is capitalized but is not an entity; so is a
    capitalized run that contains such a word ("Loan Agreement", "Closing Date")."""
    ents = [(m.group(1), NOT_ENTITY) for m in DEFINED_TERMS.finditer(text)]
    ents += [(m.group(1), NOT_ENTITY) for m in CAPS_RUN.finditer(text) if DEFINED_TERMS.search(m.group(1))
             and not ORG_SUFFIX.search(m.group(1))]
    return ents or ABSTAIN
