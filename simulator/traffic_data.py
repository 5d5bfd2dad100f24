"""What the traffic generator's leads are made of: names, companies, countries as people type them,
employee counts around the segment boundaries, and descriptions that carry one intent each.

Lists are tuples so a seed always draws the same lead; picklist values are ones the org accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

FIRST_NAMES = (
    "Aaliyah", "Bruno", "Camille", "Dmitri", "Efua", "Felipe", "Greta", "Haruto", "Isabela",
    "Jonas", "Keiko", "Lucas", "Mariam", "Nikhil", "Olga", "Pedro", "Rania", "Sanjay", "Tomasz",
    "Ursula", "Vikram", "Wiebke", "Xavier", "Yara", "Zeynep", "Amelia", "Bongani", "Chiara",
    "Diego", "Elif", "Freya", "Gustavo", "Hana", "Ibrahim", "Jasmine", "Kwame", "Leonie",
    "Min-jun", "Nadia", "Oscar",
)  # fmt: skip
LAST_NAMES = (
    "Abara", "Bianchi", "Castillo", "Dvořák", "Eriksen", "Fernandes", "Gallagher", "Hoffmann",
    "Iyer", "Jakobsen", "Kim", "Lindqvist", "Mbeki", "Nowak", "Okafor", "Papadopoulos",
    "Quintero", "Ramírez", "Sato", "Thompson", "Uddin", "van Dijk", "Wójcik", "Xiong", "Yamada",
    "Zimmermann", "O'Neill", "Park", "Silva", "Kowalczyk",
)  # fmt: skip
COMPANY_STEMS = (
    "Northwind", "Bluefin", "Copperleaf", "Driftwood", "Evergreen", "Foxglove", "Goldcrest",
    "Highline", "Ironbark", "Jetstream", "Kestrel", "Lighthouse", "Moonstone", "Nettle",
    "Oakridge", "Pinecone", "Quarry", "Redwood", "Saltmarsh", "Thornbury", "Upland", "Vantage",
    "Wavecrest", "Yellowtail", "Zephyr", "Alderbrook", "Brightwater", "Clearpath", "Dunmore",
    "Eastgate",
)  # fmt: skip
COMPANY_SUFFIXES = (
    "Logistics", "Health", "Analytics", "Robotics", "Capital", "Foods", "Energy", "Retail",
    "Software", "Labs", "Manufacturing", "Insurance", "Media", "Biotech", "Consulting",
)  # fmt: skip
LEGAL_FORMS = ("", "", "", " Inc.", " Ltd", " GmbH", " B.V.", " S.A.", " LLC", " Pty Ltd", " K.K.")
TITLES = (
    "VP Sales", "Head of Revenue Operations", "Sales Operations Manager", "CTO", "Founder",
    "Director of Marketing", "IT Manager", "Engineering Lead", "Procurement Specialist",
    "Chief Operating Officer", "Business Development Manager", "Solutions Architect", None,
)  # fmt: skip
# Values of the org's Industry, LeadSource and Product_Interest__c picklists.
INDUSTRIES = (
    "Banking", "Biotechnology", "Consulting", "Education", "Energy", "Finance", "Healthcare",
    "Insurance", "Manufacturing", "Media", "Retail", "Technology", "Transportation", None,
)  # fmt: skip
LEAD_SOURCES = ("Web", "Web", "Web", "Webinar", "Trade Show", "Partner Referral", "Phone Inquiry")
PRODUCT_INTERESTS = ("Platform", "Analytics", "Integrations", "Support", "Training", None)
FREE_MAIL_DOMAINS = (
    "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "proton.me", "gmx.de",
    "web.de", "yahoo.co.uk", "aol.com",
)  # fmt: skip
COMPANY_TLDS = (".com", ".io", ".co", ".de", ".co.uk", ".nl", ".com.br", ".co.jp", ".com.au")
RESPONSE_SUBJECTS = (
    "Thanks for reaching out",
    "Following up on your enquiry",
    "Quick question about your request",
    "Next steps",
)
CALL_NOTES = (
    "Spoke briefly, booked a follow-up.",
    "Left a voicemail and sent a calendar link.",
    "Qualified on the call: budget and timeline confirmed.",
    "Connected; prospect asked for material by email.",
)
INCOMING_SUBJECTS = ("Re: your product", "Question before we talk", "Out of office", "Re: pricing")

CountryStyle = str  # "clean" | "messy" | "blank" | "nonsense"


@dataclass(frozen=True)
class CountrySample:
    """Country text as a form delivered it, and what kind of text it is."""

    text: str | None
    style: CountryStyle


COUNTRIES: tuple[CountrySample, ...] = (
    CountrySample("United States", "clean"),
    CountrySample("Canada", "clean"),
    CountrySample("United Kingdom", "clean"),
    CountrySample("Germany", "clean"),
    CountrySample("France", "clean"),
    CountrySample("Japan", "clean"),
    CountrySample("Australia", "clean"),
    CountrySample("India", "clean"),
    CountrySample("Singapore", "clean"),
    CountrySample("Mexico", "clean"),
    CountrySample("South Africa", "clean"),
    CountrySample("United Arab Emirates", "clean"),
    CountrySample("UK", "messy"),
    CountrySample("U.S.A.", "messy"),
    CountrySample("usa", "messy"),
    CountrySample("Deutschland", "messy"),
    CountrySample("Holland", "messy"),
    CountrySample("brasil", "messy"),
    CountrySample("Republic of Korea", "messy"),
    CountrySample("U.K.", "messy"),
    CountrySample("  the Netherlands ", "messy"),
    CountrySample("España", "messy"),
    CountrySample("JP", "messy"),
    CountrySample("Türkiye", "messy"),
    CountrySample(None, "blank"),
    CountrySample("", "blank"),
    CountrySample("N/A", "nonsense"),
    CountrySample("Atlantis", "nonsense"),
    CountrySample("asdf", "nonsense"),
    CountrySample("Planet Earth", "nonsense"),
)

SEGMENTS = ("SMB", "MM", "Enterprise", "unknown")


@dataclass(frozen=True)
class HeadcountSample:
    """How a lead states its size: the NumberOfEmployees value sent (None: left empty), a count
    written in the description instead, and the segment the true size falls in."""

    value: int | str | None
    text: str | None
    segment: str


# At and around the policy's 200 and 2000 boundaries, numeric strings the API coerces, and
# counts typed as text ("1,200") that the integer field cannot hold.
HEADCOUNTS: tuple[HeadcountSample, ...] = (
    HeadcountSample(8, None, "SMB"),
    HeadcountSample(45, None, "SMB"),
    HeadcountSample(199, None, "SMB"),
    HeadcountSample(200, None, "SMB"),
    HeadcountSample("120", None, "SMB"),
    HeadcountSample(None, "about 80", "SMB"),
    HeadcountSample(201, None, "MM"),
    HeadcountSample(650, None, "MM"),
    HeadcountSample(1999, None, "MM"),
    HeadcountSample(2000, None, "MM"),
    HeadcountSample("450", None, "MM"),
    HeadcountSample(None, "1,200", "MM"),
    HeadcountSample(2001, None, "Enterprise"),
    HeadcountSample(5400, None, "Enterprise"),
    HeadcountSample(48000, None, "Enterprise"),
    HeadcountSample(None, "12,500", "Enterprise"),
    HeadcountSample(None, None, "unknown"),
)

INTENTS = ("pricing", "demo", "technical", "partnership", "trial", "comparison", "general")

# {company} and {size} are filled in; {size} only where a description states the headcount.
DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "pricing": (
        "Could you send pricing for roughly 40 seats? We need a quote before our budget "
        "meeting next week.",
        "How much does the Enterprise plan cost per user per year? Procurement asked for a "
        "formal quotation.",
        "Looking for a price comparison of the annual and monthly licensing options for {company}.",
    ),
    "demo": (
        "We'd like a demo for our sales leadership team, ideally a walkthrough of the routing "
        "rules.",
        "Can we book a call to see it in action? Our RevOps team wants a live demonstration.",
        "Please schedule a demo for next Tuesday or Wednesday afternoon.",
    ),
    "technical": (
        "Does your API support webhooks and SAML SSO? Our security review needs the documentation.",
        "We need an integration with our data warehouse via your SDK. What are the API rate "
        "limits?",
        "Our engineers want to know whether SCIM provisioning and OAuth are supported.",
    ),
    "partnership": (
        "We are a consulting agency and would like to become a reseller partner in our region.",
        "Interested in a referral partnership: we implement CRMs for mid-market clients.",
        "Exploring a channel partnership and white label options for our customers.",
    ),
    "trial": (
        "Can we start a free trial? We'd like to try it with one team first.",
        "Is there a sandbox we can use for a two-week pilot before committing?",
        "We want to sign up for a trial and run a proof of concept this quarter.",
    ),
    "comparison": (
        "We currently use LeanData and are evaluating alternatives. How do you compare?",
        "Comparing you versus Chili Piper for inbound routing; what are the main differences?",
        "Thinking about switching from HubSpot's routing; looking for an alternative to it.",
    ),
    "general": (
        "Found you through a colleague's recommendation. Would like to learn more.",
        "Please get in touch, we're reviewing how we handle inbound leads this year.",
        "Downloaded the whitepaper; keen to hear more about what you do.",
    ),
}

SIZE_SENTENCES = (
    "We are a team of {size} people.",
    "Company size: {size} employees across three offices.",
    "We have {size} staff.",
)
