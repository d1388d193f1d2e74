#!/usr/bin/python
# -*- coding: utf-8 -*-
"""On-demand hourly prices of RHEL instance types from the AWS Price List API, and a run's cost ceiling.

Read-only. The pure functions (product_filters, hourly_usd, ceiling) hold the decisions and are
tested on a Price List response fixture; main() only calls pricing:GetProducts. A price that
cannot be had, or is not one clear number, is None ("price unknown"): it is never guessed.
"""

from __future__ import annotations

import json

DOCUMENTATION = r"""
module: lab_ec2_prices
short_description: Look up RHEL on-demand hourly prices and the cost ceiling of a malloc-lab run
description:
  - Calls the AWS Price List API (pricing:GetProducts) once per instance type, for the RHEL
    operating system (pay-as-you-go, as the Hourly2 images), shared tenancy, on demand.
  - The ceiling per host is the hourly price times I(hours); a host without a price makes the total
    unknown too.
options:
  instance_types:
    description: Instance types to price.
    type: list
    elements: str
    required: true
  location_region:
    description: The region the hosts run in (the Price List attribute regionCode).
    type: str
    required: true
  hours:
    description: Hours each host can bill at most (TTL plus boot allowance).
    type: float
    required: true
  pricing_region:
    description: Region of the Price List API endpoint (us-east-1, eu-central-1 or ap-south-1).
    type: str
    default: us-east-1
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.boto3
"""

RETURN = r"""
prices:
  description: Instance type -> on-demand USD per hour, or None when unknown.
  returned: success
  type: dict
ceilings:
  description: Instance type -> USD for I(hours), or None when the price is unknown.
  returned: success
  type: dict
total:
  description: Sum of the ceilings in USD, or None if any price is unknown.
  returned: success
  type: float
reasons:
  description: Instance type -> why its price is unknown.
  returned: success
  type: dict
"""


def product_filters(instance_type: str, region: str) -> list[dict]:
    """GetProducts filters for one shared-tenancy, on-demand, pay-as-you-go RHEL instance."""
    terms = {"instanceType": instance_type, "regionCode": region, "operatingSystem": "RHEL",
             "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used",
             "licenseModel": "No License required", "marketoption": "OnDemand"}
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in terms.items()]


def hourly_usd(price_list: list[str]) -> tuple[float | None, str]:
    """(USD per hour, "") from GetProducts' PriceList (JSON strings), or (None, why) if not one clear price."""
    found = set()
    for text in price_list:
        product = json.loads(text) if isinstance(text, str) else text
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            for dimension in term.get("priceDimensions", {}).values():
                if dimension.get("unit") not in ("Hrs", "Hours"):
                    continue
                usd = dimension.get("pricePerUnit", {}).get("USD")
                try:
                    found.add(float(usd))
                except (TypeError, ValueError):
                    continue
    found.discard(0.0)  # zero-priced dimensions are reservations' placeholders, not a rate
    if not found:
        return None, "the Price List has no on-demand hourly RHEL price for it"
    if len(found) > 1:
        return None, f"the Price List gives several hourly prices ({', '.join(f'{p:g}' for p in sorted(found))})"
    return found.pop(), ""


def brief(error: Exception) -> str:
    """One short line of an API error (a 500 page from a proxy or a stand-in API is HTML)."""
    code = getattr(error, "response", {}).get("Error", {}).get("Code") if hasattr(error, "response") else None
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return code or first.split(": <", 1)[0][:160]


def ceiling(prices: dict, hours: float) -> tuple[dict, float | None]:
    """Per type USD for hours (None where unknown), and the total (None if any is unknown)."""
    per = {t: (round(p * hours, 4) if p is not None else None) for t, p in prices.items()}
    total = None if any(v is None for v in per.values()) else round(sum(per.values()), 4)
    return per, total


def main():
    from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        pass  # AnsibleAWSModule reports a missing botocore

    module = AnsibleAWSModule(
        argument_spec={
            "instance_types": {"type": "list", "elements": "str", "required": True},
            "location_region": {"type": "str", "required": True},
            "hours": {"type": "float", "required": True},
            "pricing_region": {"type": "str", "default": "us-east-1"},
        },
        supports_check_mode=True,
    )
    params = module.params
    # Not the region of the hosts: the Price List API answers in three regions only.
    pricing = module.client("pricing", region=params["pricing_region"])
    prices, reasons = {}, {}
    for instance_type in params["instance_types"]:
        try:
            pages = pricing.get_paginator("get_products").paginate(
                ServiceCode="AmazonEC2", Filters=product_filters(instance_type, params["location_region"]))
            price_list = [p for page in pages for p in page.get("PriceList", [])]
        except (BotoCoreError, ClientError) as e:
            prices[instance_type], reasons[instance_type] = None, f"the Price List API did not answer: {brief(e)}"
            continue
        prices[instance_type], reasons[instance_type] = hourly_usd(price_list)
    ceilings, total = ceiling(prices, params["hours"])
    module.exit_json(changed=False, prices=prices, ceilings=ceilings, total=total,
                     reasons={t: r for t, r in reasons.items() if r})


if __name__ == "__main__":
    main()
